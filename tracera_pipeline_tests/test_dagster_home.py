"""Whatever DAGSTER_HOME is chosen, the project's pool and run limits apply."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import uuid
from pathlib import Path

import dagster as dg
import pytest
import yaml

from tracera_pipeline.config import REPO_ROOT
from tracera_pipeline.dagster_home import (
    DEFAULT_HOME,
    choose_home,
    dagster_dev_command,
    prepare_home,
)
from tracera_pipeline.storage.database import ensure_database
from tracera_pipeline_tests.conftest import REDIS_URL, RUN_ID, _drop, _url
from tracera_pipeline_tests.dagster_processes import graphql, http_ok, processes, wait_for
from tracera_pipeline_tests.throwaway_postgres import free_port

INSTANCE = "{ instance { poolConfig { defaultPoolLimit } runQueueConfig { maxConcurrentRuns } } }"


def _limits(home: Path) -> tuple[int | None, int | None]:
    with dg.DagsterInstance.from_config(str(home)) as instance:
        config = instance.get_concurrency_config()
        return (
            config.pool_config.default_pool_limit,
            config.run_queue_config.max_concurrent_runs if config.run_queue_config else None,
        )


def test_backfill_runs_leave_run_slots_for_ingestion() -> None:
    """Both instance files cap backfill runs below the run limit, free the pool slots of
    crashed runs and retry them (Dagster's own validation: test_deployment_files)."""
    for source in (REPO_ROOT / "dagster.yaml", REPO_ROOT / "docker" / "dagster.yaml"):
        settings = yaml.safe_load(source.read_text())
        runs = settings["concurrency"]["runs"]
        (limit,) = [t for t in runs["tag_concurrency_limits"] if t["key"] == "dagster/backfill"]
        assert 0 < limit["limit"] < runs["max_concurrent_runs"], source
        assert settings["run_retries"]["enabled"] and settings["run_monitoring"]["enabled"]
        assert settings["run_monitoring"]["free_slots_after_run_end_seconds"] > 0


def test_the_home_defaults_to_the_project_and_follows_dagster_home(tmp_path) -> None:
    assert choose_home({}) == DEFAULT_HOME == REPO_ROOT / ".dagster_home"
    assert choose_home({"DAGSTER_HOME": str(tmp_path / "mine")}) == tmp_path / "mine"


def test_an_empty_home_gets_the_projects_limits(tmp_path) -> None:
    (tmp_path / "bare").mkdir()
    assert _limits(tmp_path / "bare") == (None, 10)  # what a plain DAGSTER_HOME gives
    home = prepare_home(tmp_path / "new" / "home")
    assert home.copied and home.warnings == []
    assert (home.path / "dagster.yaml").read_text() == (REPO_ROOT / "dagster.yaml").read_text()
    assert _limits(home.path) == (1, 4)
    again = prepare_home(home.path)
    assert not again.copied and again.warnings == []


def test_an_existing_file_without_limits_is_kept_and_warned_about(tmp_path) -> None:
    own = tmp_path / "dagster.yaml"
    own.write_text("telemetry:\n  enabled: false\n")
    home = prepare_home(tmp_path)
    assert own.read_text() == "telemetry:\n  enabled: false\n"
    assert len(home.warnings) == 2
    pool, runs = home.warnings
    assert "concurrency.pools.default_limit" in pool and "concurrency.runs" in runs
    assert all("copy the `concurrency:` block" in warning for warning in home.warnings)
    own.write_text("run_coordinator:\n  config:\n    max_concurrent_runs: 2\n")
    (only,) = prepare_home(tmp_path).warnings
    assert "pool limit" in only


def test_dev_passes_its_arguments_to_dagster_dev_on_the_project_workspace() -> None:
    command = dagster_dev_command(["-p", "3101"])
    assert Path(command[0]).name == "dagster" and command[1] == "dev"
    assert command[2:] == ["-w", str(REPO_ROOT / "workspace.yaml"), "-p", "3101"]
    assert dagster_dev_command(["-m", "x"])[2:] == ["-m", "x"]


CTRL_C_IGNORED = (
    "import signal, sys; signal.signal(signal.SIGINT, signal.SIG_IGN);"
    " from tracera_pipeline.cli import main; raise SystemExit(main(sys.argv[1:]))"
)


@pytest.mark.deployment
def test_tracera_pipeline_dev_serves_a_ui_with_the_limits(tmp_path, redis_prefix) -> None:
    """The real command, on a DAGSTER_HOME of the user's choosing: the UI's instance
    reports the project's limits."""
    home, port = tmp_path / "chosen_home", free_port()
    database = f"tracera_test_{RUN_ID}_dev_{uuid.uuid4().hex[:6]}"
    env = {key: value for key, value in os.environ.items() if not key.startswith("TRACERA_")}
    env.update(
        DAGSTER_HOME=str(home),
        # The daemon evaluates sensors: keep them on throwaway data.
        TRACERA_DATABASE_URL=_url(database),
        TRACERA_REDIS_URL=REDIS_URL,
        TRACERA_REDIS_PREFIX=redis_prefix,
    )
    # Created up front: sensors would otherwise create it, possibly while being stopped.
    ensure_database(_url(database))
    try:
        with processes(tmp_path, env) as procs:
            # As `tracera-pipeline dev &` in a script starts it: with Ctrl-C ignored.
            dev = procs.start("dev", "python", "-c", CTRL_C_IGNORED, "dev", "-p", str(port))
            base_url = f"http://127.0.0.1:{port}"
            wait_for("dagster dev", lambda: http_ok(f"{base_url}/server_info"), procs, 90)
            instance = graphql(base_url, INSTANCE)["instance"]
            # A SIGTERM to the command alone (a service manager's stop) stops everything
            # it started: it used to leave dagster dev and its webserver serving, and
            # with Ctrl-C ignored, every process it started ignored SIGTERM too.
            dev.send_signal(signal.SIGTERM)
            assert dev.wait(timeout=60) == 0, procs.log("dev")
            assert not http_ok(f"{base_url}/server_info")
        assert "copied there" in procs.log("dev")
        assert instance["poolConfig"]["defaultPoolLimit"] == 1
        assert instance["runQueueConfig"]["maxConcurrentRuns"] == 4
    finally:
        _drop(database)


def test_cli_dev_reports_a_missing_dagster(tmp_path) -> None:
    """Without `dagster` next to the interpreter or on PATH: one sentence naming the fix."""
    env = {**os.environ, "PATH": str(tmp_path), "DAGSTER_HOME": str(tmp_path / "h")}
    done = subprocess.run(
        [sys.executable, "-c", "import sys; sys.executable = '/nonexistent/python';"
         "from tracera_pipeline.cli import main; raise SystemExit(main(['dev']))"],
        capture_output=True, text=True, env=env, timeout=60,
    )  # fmt: skip
    assert done.returncode == 1
    assert "run `pip install -e .` first" in done.stderr and "Traceback" not in done.stderr
