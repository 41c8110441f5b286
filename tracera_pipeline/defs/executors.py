"""How a run's steps execute, chosen by ``TRACERA_EXECUTOR`` when the code loads.

* ``multiprocess`` (default): one process per step on the run worker's machine
  (``forkserver``: a step process starts in milliseconds, imports done once).
* ``in_process``: every step in the run worker itself (debugging, tiny machines).
* ``k8s_job``: every step in its own Kubernetes Job (dagster-k8s), so one run's
  provider steps spread over the cluster; pair it with ``K8sRunLauncher``
  (``deploy/k8s/dagster.yaml``), from which it takes image, namespace and env.
"""

from __future__ import annotations

import dagster as dg

from tracera_pipeline.settings import SettingError


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
    return dg.multiprocess_executor.configured(
        {"max_concurrent": max_concurrent, "start_method": {"forkserver": {}}}
    )
