"""Beyond one machine: the Kubernetes instance file and the executor switch load and
validate with Dagster's and dagster-k8s' own schemas (no cluster needed)."""

from __future__ import annotations

import importlib
import subprocess
import sys

import dagster as dg
import pytest
import yaml
from dagster._config import validate_config
from dagster._core.instance.config import dagster_instance_config
from dagster._core.run_coordinator import RunCoordinator
from dagster._core.storage.compute_log_manager import ComputeLogManager
from dagster._serdes import ConfigurableClassData
from dagster_k8s import K8sRunLauncher

from tracera_pipeline.config import REPO_ROOT
from tracera_pipeline.definitions import build_definitions
from tracera_pipeline.defs.executors import FORKSERVER_PRELOAD

K8S = REPO_ROOT / "deploy" / "k8s"


def _class_data(entry: dict) -> ConfigurableClassData:
    settings = yaml.dump(entry.get("config") or {})
    return ConfigurableClassData(entry["module"], entry["class"], settings)


def test_the_k8s_instance_file_passes_dagsters_and_dagster_k8s_validation() -> None:
    config, _ = dagster_instance_config(str(K8S))
    launcher = config["run_launcher"]
    assert getattr(importlib.import_module(launcher["module"]), launcher["class"]) is K8sRunLauncher
    checked = validate_config(K8sRunLauncher.config_type(), launcher["config"])
    assert checked.success, [error.message for error in checked.errors]
    # The schema is strict: a misspelt key would be refused, so the check above bites.
    misspelt = {**launcher["config"], "service_acount_name": "x"}
    assert not validate_config(K8sRunLauncher.config_type(), misspelt).success
    assert isinstance(
        _class_data(config["run_coordinator"]).rehydrate(RunCoordinator), RunCoordinator
    )
    logs = _class_data(config["compute_logs"]).rehydrate(ComputeLogManager)
    assert isinstance(logs, ComputeLogManager)
    # Run and step pods batch their asset events into the PostgreSQL event log.
    assert "DAGSTER_EVENT_BATCH_SIZE=100" in launcher["config"]["env_vars"]
    # The limits that keep provider rate limits across pods and nodes.
    assert config["concurrency"]["pools"]["default_limit"] == 1
    assert config["run_monitoring"]["enabled"] and config["run_retries"]["enabled"]


@pytest.mark.parametrize(
    ("choice", "providers", "ingestion", "other_runs"),
    [
        ("k8s_job", ["synthetic", "steam"], "k8s", "k8s"),
        ("in_process", ["synthetic", "steam"], "in_process", "in_process"),
        ("multiprocess", ["synthetic", "steam"], "multiprocess", "multiprocess"),
        ("multiprocess", ["synthetic"], "multiprocess", "multiprocess"),
        ("", ["synthetic", "steam"], "multiprocess", "in_process"),  # auto
        # auto, one provider: no step to run beside it, so no step process to start
        ("", ["synthetic"], "in_process", "in_process"),
    ],
)
def test_the_executor_is_chosen_by_tracera_executor_and_its_config_validates(
    choice: str, providers: list[str], ingestion: str, other_runs: str, monkeypatch
) -> None:
    monkeypatch.setenv("TRACERA_EXECUTOR", choice)
    defs = build_definitions(providers)
    for job, executor in (
        (defs.resolve_job_def("ingest_prices"), ingestion),
        (defs.resolve_implicit_global_asset_job_def(), other_runs),
    ):
        assert job.executor_def.name == executor
        execution = dg.validate_run_config(job, {})["execution"]
        if executor != "in_process":
            # every provider step at once, plus one to start the downstream steps
            assert execution[executor]["max_concurrent"] == max(2, len(providers) + 1)
        if executor == "multiprocess":
            # Step processes fork from a forkserver that loaded the code location.
            forkserver = execution[executor]["start_method"]["forkserver"]
            assert forkserver["preload_modules"][0] == "tracera_pipeline.definitions"


def test_every_module_the_forkserver_preloads_imports() -> None:
    # Python's forkserver skips a preload module that fails to import, silently.
    code = "import importlib, sys; [importlib.import_module(m) for m in sys.argv[1:]]"
    done = subprocess.run(
        [sys.executable, "-c", code, *FORKSERVER_PRELOAD], capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
