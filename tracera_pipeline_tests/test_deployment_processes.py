"""The compose stack's processes, run here: a backfill through the webserver completes.

The user-code gRPC server, ``dagster-webserver`` and ``dagster-daemon`` start as
docker-compose.yml starts them, with docker/dagster.yaml as the instance file
(unchanged: its PostgreSQL host, port and credentials come from the environment,
pointed at the local server and a fresh database) and docker/workspace.yaml with the
host and port this test picked. A two-partition backfill of the synthetic provider
is launched through GraphQL and must finish with its rows in the pipeline database.

Deselect with ``-m "not deployment"`` (about half a minute on two cores).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
import yaml
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict

from tracera_pipeline.config import REPO_ROOT
from tracera_pipeline_tests.conftest import REDIS_URL, RUN_ID, SERVER_URL, _drop, _url
from tracera_pipeline_tests.dagster_processes import (
    BIN,
    Processes,
    graphql,
    http_ok,
    processes,
    wait_for,
)
from tracera_pipeline_tests.throwaway_postgres import free_port

pytestmark = pytest.mark.deployment

PARTITIONS = ["2026-01-01-00:00", "2026-01-01-01:00"]
ITEMS, SAMPLES_PER_HOUR = 5, 12  # TRACERA_SYNTHETIC_ITEMS, 3600 / 300 s
ASSET = ["raw", "prices", "synthetic"]

LAUNCH = """
mutation Launch($params: LaunchBackfillParams!) {
  launchPartitionBackfill(backfillParams: $params) {
    __typename
    ... on LaunchBackfillSuccess { backfillId }
    ... on PythonError { message stack }
  }
}"""
BACKFILL = """
query Backfill($id: String!) {
  partitionBackfillOrError(backfillId: $id) {
    __typename
    ... on PartitionBackfill { status error { message } }
  }
  runsOrError(filter: {tags: [{key: "dagster/backfill", value: $id}]}) {
    ... on Runs { results { runId status } }
  }
}"""
LOCATION = """
{ workspaceOrError { ... on Workspace { locationEntries {
    name loadStatus locationOrLoadError { __typename ... on PythonError { message } }
} } } }"""
RUNNING = {"REQUESTED", "CANCELING", "FAILING"}


@pytest.fixture
def databases() -> Iterator[tuple[str, str]]:
    """Fresh, empty databases for Dagster's storage and for the pipeline (which
    migrates it on first use), dropped afterwards. Created here, not by the stack's
    sensors, so no CREATE DATABASE can still be under way when the test drops them."""
    dagster_db = f"tracera_test_{RUN_ID}_dagster_{uuid.uuid4().hex[:6]}"
    pipeline_db = f"tracera_test_{RUN_ID}_deploy_{uuid.uuid4().hex[:6]}"
    try:
        with psycopg.connect(SERVER_URL, autocommit=True) as conn:
            for name in (dagster_db, pipeline_db):
                conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        yield dagster_db, pipeline_db
    finally:
        _drop(dagster_db)
        _drop(pipeline_db)


def _instance_home(root: Path, grpc_port: int) -> Path:
    """docker/dagster.yaml as is; docker/workspace.yaml aimed at this test's gRPC port."""
    home = root / "dagster_home"
    home.mkdir()
    shutil.copy(REPO_ROOT / "docker" / "dagster.yaml", home / "dagster.yaml")
    workspace = yaml.safe_load((REPO_ROOT / "docker" / "workspace.yaml").read_text())
    workspace["load_from"][0]["grpc_server"].update(host="127.0.0.1", port=grpc_port)
    (home / "workspace.yaml").write_text(yaml.safe_dump(workspace))
    return home


def _environment(
    root: Path, home: Path, dagster_db: str, pipeline_db: str, prefix: str
) -> dict[str, str]:
    server = conninfo_to_dict(SERVER_URL)
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("TRACERA_", "DAGSTER_"))
    }
    env.update(
        DAGSTER_HOME=str(home),
        DAGSTER_PG_HOST=str(server.get("host", "127.0.0.1")),
        DAGSTER_PG_PORT=str(server.get("port", "5432")),
        DAGSTER_PG_USER=str(server.get("user", "postgres")),
        DAGSTER_PG_PASSWORD=str(server.get("password", "")),
        DAGSTER_PG_DB=dagster_db,
        DAGSTER_COMPUTE_LOGS_DIR=str(root / "compute_logs"),
        TRACERA_DATABASE_URL=_url(pipeline_db),
        TRACERA_REDIS_URL=REDIS_URL,
        TRACERA_REDIS_PREFIX=prefix,
        TRACERA_PROVIDERS="synthetic",
        TRACERA_SYNTHETIC_ITEMS=str(ITEMS),
        # No scheduled ingestion competing for the provider's pool meanwhile.
        TRACERA_INGEST_CRON="0 0 1 1 *",
        PYTHONUNBUFFERED="1",
    )
    return env


def _location_loaded(base_url: str) -> bool | None:
    entries = graphql(base_url, LOCATION)["workspaceOrError"]["locationEntries"]
    (entry,) = entries
    if entry["loadStatus"] != "LOADED":
        return None
    assert entry["locationOrLoadError"]["__typename"] == "RepositoryLocation", entry
    return True


def _start_stack(procs: Processes, home: Path, grpc_port: int, web_port: int) -> str:
    procs.start(
        "user-code", "dagster", "api", "grpc", "-m", "tracera_pipeline.definitions",
        "-h", "127.0.0.1", "-p", str(grpc_port),
    )  # fmt: skip
    wait_for(
        "the code server",
        lambda: True if "Started Dagster code server" in procs.log("user-code") else None,
        procs, timeout=60,
    )  # fmt: skip
    health = subprocess.run(  # the compose healthcheck's command
        [str(BIN / "dagster"), "api", "grpc-health-check", "-h", "127.0.0.1", "-p", str(grpc_port)],
        capture_output=True, text=True, timeout=60, env=procs.env, cwd=procs.workdir,
    )  # fmt: skip
    assert health.returncode == 0, health.stdout + health.stderr
    workspace = str(home / "workspace.yaml")
    procs.start(
        "webserver", "dagster-webserver", "-h", "127.0.0.1", "-p", str(web_port), "-w", workspace
    )
    base_url = f"http://127.0.0.1:{web_port}"
    wait_for("the webserver", lambda: http_ok(f"{base_url}/server_info"), procs, timeout=60)
    wait_for("the code location", lambda: _location_loaded(base_url), procs, timeout=30)
    return base_url


def test_compose_processes_run_a_partition_backfill(databases, redis_prefix, tmp_path) -> None:
    dagster_db, pipeline_db = databases
    grpc_port, web_port = free_port(), free_port()
    home = _instance_home(tmp_path, grpc_port)
    env = _environment(tmp_path, home, dagster_db, pipeline_db, redis_prefix)
    started = time.monotonic()
    with processes(tmp_path, env) as procs:
        base_url = _start_stack(procs, home, grpc_port, web_port)
        launched = graphql(
            base_url,
            LAUNCH,
            {"params": {"partitionNames": PARTITIONS, "assetSelection": [{"path": ASSET}]}},
        )["launchPartitionBackfill"]
        assert launched["__typename"] == "LaunchBackfillSuccess", launched
        backfill_id = launched["backfillId"]
        # The daemon submits the backfill's runs and marks it complete.
        procs.start("daemon", "dagster-daemon", "run", "-w", str(home / "workspace.yaml"))

        def finished() -> dict | None:
            data = graphql(base_url, BACKFILL, {"id": backfill_id})
            status = data["partitionBackfillOrError"]["status"]
            return None if status in RUNNING else data

        data = wait_for("the backfill", finished, procs, timeout=150, interval=2)
        backfill = data["partitionBackfillOrError"]
        assert backfill["status"] in ("COMPLETED_SUCCESS", "COMPLETED"), (backfill, procs.logs())
        runs = data["runsOrError"]["results"]
        assert runs and {run["status"] for run in runs} == {"SUCCESS"}, runs
    elapsed = time.monotonic() - started
    with psycopg.connect(_url(pipeline_db)) as conn:
        rows = conn.execute(
            "SELECT count(*) FROM price_history"
            " WHERE time >= '2026-01-01 00:00+00' AND time < '2026-01-01 02:00+00'"
        ).fetchone()[0]
    assert rows == ITEMS * SAMPLES_PER_HOUR * len(PARTITIONS)
    # Step logs landed where the webserver reads them (the shared volume in compose).
    logs = list((tmp_path / "compute_logs").rglob("*"))
    assert any(runs[0]["runId"] in str(path) for path in logs), logs[:10]
    assert elapsed < 170, f"the stack took {elapsed:.0f} s"
