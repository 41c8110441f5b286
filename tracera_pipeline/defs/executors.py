"""How a run's steps execute, chosen by ``TRACERA_EXECUTOR`` when the code loads.

* ``auto`` (default): the ingestion job's provider steps each in their own process
  (they wait on provider APIs, so in parallel) when two or more providers are
  enabled; one provider's step, with nothing to run beside it, in the run worker
  (a step process only added its start, 2-2.7 s a tick). Every other run — the
  downstream automation, backfills, materializations from the UI — in the run worker.
  Those steps are short SQL statements run by PostgreSQL: Dagster's start of a step
  process (1.5-2 s on two cores: the job and its execution plan rebuilt, the
  instance opened) cost more than the steps and delayed fresh prices by ~2 s per
  step along the chain price_1h → item_volatility → volatility_rankings.
* ``multiprocess``: one process per step for every run (``forkserver``).
* ``in_process``: every step in the run worker itself, for every run.
* ``k8s_job``: every step in its own Kubernetes Job (dagster-k8s), so one run's
  provider steps spread over the cluster; pair it with ``K8sRunLauncher``
  (``deploy/k8s/dagster.yaml``), from which it takes image, namespace and env.
"""

from __future__ import annotations

import dagster as dg

from tracera_pipeline.settings import SettingError

# What a run's forkserver imports once, so that its step processes, forked from it,
# start with the code location loaded instead of each importing it again (four at
# once on two cores: 1.1-2.1 s per step). Named here because Dagster 1.13 reads a
# forkserver config without preload_modules as an empty list and then preloads
# only its own executor, not the job's module as documented.
# dagster._utils.test is what Dagster imports in every step process to load the
# job. Python's forkserver skips a module that fails to import: a test checks that
# each one imports.
FORKSERVER_PRELOAD = ("tracera_pipeline.definitions", "dagster._utils.test")


def ingestion_executor(name: str, providers: int) -> dg.ExecutorDefinition:
    """The ingestion job's executor."""
    if name == "auto":
        name = "multiprocess" if providers > 1 else "in_process"
    return build_executor(name, providers)


def run_executor(name: str, providers: int) -> dg.ExecutorDefinition:
    """Every other run's executor (the code location's default)."""
    return build_executor("in_process" if name == "auto" else name, providers)


def build_executor(name: str, providers: int) -> dg.ExecutorDefinition:
    # Every provider step at once, plus one for the downstream steps to start.
    max_concurrent = max(2, providers + 1)
    if name == "in_process":
        return dg.in_process_executor
    if name == "k8s_job":
        try:
            from dagster_k8s import k8s_job_executor
        except ImportError:
            raise SettingError(
                "TRACERA_EXECUTOR=k8s_job needs dagster-k8s; install it with"
                " pip install 'tracera-pipeline[k8s]' or choose multiprocess."
            ) from None
        return k8s_job_executor.configured({"max_concurrent": max_concurrent}, name="k8s")
    forkserver = {"preload_modules": list(FORKSERVER_PRELOAD)}
    return dg.multiprocess_executor.configured(
        {"max_concurrent": max_concurrent, "start_method": {"forkserver": forkserver}}
    )
