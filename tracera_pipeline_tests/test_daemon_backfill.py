"""Backfills propagate through the real daemon: a backfill of only the provider
assets, launched through the webserver's GraphQL API (by `tracera-pipeline
backfill`), ends with every downstream partition of exactly that range
materialized by the downstream automation — no further click. Once with runs in
SQLite (``dagster dev``), once in PostgreSQL with the deployments' batched asset
events.

Deselect with ``-m "not deployment"`` (about a minute and a half on two cores).
"""

from __future__ import annotations

import itertools
import json
import os
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import dagster as dg
import psycopg
import pytest
from dagster._core.scheduler.instigation import InstigatorType
from psycopg import sql

from tracera_pipeline.config import REPO_ROOT
from tracera_pipeline_tests.conftest import REDIS_URL, RUN_ID, SERVER_URL, _drop, _url
from tracera_pipeline_tests.dagster_processes import BIN, http_ok, processes, wait_for
from tracera_pipeline_tests.helpers import open_and_closed_hour
from tracera_pipeline_tests.throwaway_postgres import free_port

pytestmark = pytest.mark.deployment

FIRST, LAST = "2026-01-01-00:00", "2026-01-01-02:00"
RANGE = ["2026-01-01-00:00", "2026-01-01-01:00", "2026-01-01-02:00"]
MARKETS = ["synthetic", "synthetic_buff"]
DOWNSTREAM = [
    ["aggregates", "price_1h"],
    ["aggregates", "price_24h"],
    ["aggregates", "price_7d"],
    ["analytics", "item_volatility"],
    ["analytics", "market_spreads"],
    ["cache", "latest_prices"],
    ["cache", "volatility_rankings"],
    ["portfolio", "portfolio_snapshots"],
]


@pytest.fixture
def pipeline_db() -> Iterator[str]:
    name = f"tracera_test_{RUN_ID}_daemon_{uuid.uuid4().hex[:6]}"
    with psycopg.connect(SERVER_URL, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        yield name
    finally:
        _drop(name)


@pytest.fixture(params=["sqlite", "postgres"])
def run_storage(request: pytest.FixtureRequest) -> Iterator[dict[str, str]]:
    """Where the instance records runs, and the environment that goes with it:
    ``dagster dev``'s SQLite, or the deployments' PostgreSQL with their batching of
    asset events (docker-compose.yml, deploy/k8s)."""
    if request.param == "sqlite":
        yield {}
        return
    server = psycopg.conninfo.conninfo_to_dict(SERVER_URL)
    host = str(server.get("host") or "127.0.0.1")
    if host.startswith("/"):
        pytest.skip(f"the test server listens on a socket ({host}); dagster-postgres needs TCP")
    name = f"tracera_test_{RUN_ID}_dagster_{uuid.uuid4().hex[:6]}"
    with psycopg.connect(SERVER_URL, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    postgres_db = {
        "hostname": host,
        "port": int(server.get("port") or 5432),
        "username": str(server.get("user") or "postgres"),
        "password": str(server.get("password") or ""),
        "db_name": name,
        "scheme": "postgresql+psycopg2",  # as docker/dagster.yaml names it
    }
    try:
        yield {"storage": json.dumps({"postgres": {"postgres_db": postgres_db}})}
    finally:
        _drop(name)


def _materialized(key: list[str]) -> set[str]:
    """Read from the temporary instance (DAGSTER_HOME, set by the test)."""
    with dg.DagsterInstance.get() as instance:
        return instance.get_materialized_partitions(dg.AssetKey(key))


def _automation_tick_gaps() -> list[float]:
    """Seconds between the downstream automation's ticks, from the instance."""
    with dg.DagsterInstance.get() as instance:
        for state in instance.all_instigator_state(instigator_type=InstigatorType.SENSOR):
            if state.instigator_name == "downstream_automation":
                ticks = instance.get_ticks(state.instigator_origin_id, state.selector_id)
                times = sorted(tick.timestamp for tick in ticks)
                return [b - a for a, b in itertools.pairwise(times)]
    return []


def _daemon_env(
    home: Path, pipeline_db: str, redis_prefix: str, run_storage: dict[str, str]
) -> dict[str, str]:
    """A temporary instance with the project's settings in ``home`` (DAGSTER_HOME,
    set for this process too), and the environment of the daemon's processes."""
    home.mkdir()
    instance_file = (REPO_ROOT / "dagster.yaml").read_text()
    if "storage" in run_storage:  # JSON is YAML: one more top-level key
        instance_file += f"\nstorage: {run_storage['storage']}\n"
    (home / "dagster.yaml").write_text(instance_file)
    # Create the instance's SQLite storage here: a webserver and a daemon starting
    # together on an empty home race to create it ("table alembic_version already
    # exists", the daemon exits).
    with dg.DagsterInstance.get():
        pass
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TRACERA_", "DAGSTER_"))}
    env.update(
        DAGSTER_HOME=str(home),
        TRACERA_DATABASE_URL=_url(pipeline_db),
        TRACERA_REDIS_URL=REDIS_URL,
        TRACERA_REDIS_PREFIX=redis_prefix,
        TRACERA_PROVIDERS=",".join(MARKETS),
        TRACERA_SYNTHETIC_ITEMS="5",
        # Steps in the run process: what is tested here is the daemon's orchestration
        # (the multiprocess executor runs in test_deployment_processes), and a step
        # subprocess per asset would triple the test's time on two cores.
        TRACERA_EXECUTOR="in_process",
        # No scheduled ingestion meanwhile: a run at :00/:15/:30/:45 would materialize
        # the current hours beside the backfill's (a test crossing a tick failed so).
        TRACERA_INGEST_CRON="0 0 1 1 *",
        PYTHONUNBUFFERED="1",
    )
    if "storage" in run_storage:
        env["DAGSTER_EVENT_BATCH_SIZE"] = "100"  # as the deployments set it
    return env


def test_a_raw_backfill_through_the_daemon_reaches_every_downstream_asset(
    pipeline_db, run_storage, redis_prefix, tmp_path, monkeypatch
) -> None:
    home = tmp_path / "dagster_home"
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    env = _daemon_env(home, pipeline_db, redis_prefix, run_storage)
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    location = ("-m", "tracera_pipeline.definitions")
    with processes(tmp_path, env) as procs:
        procs.start("webserver", "dagster-webserver", "-h", "127.0.0.1", "-p", str(port), *location)
        wait_for("the webserver", lambda: http_ok(f"{url}/server_info"), procs, timeout=90)
        procs.start("daemon", "dagster-daemon", "run", *location)
        # The CLI path: launchPartitionBackfill on the provider assets only, then watch.
        cli = subprocess.run(
            [str(BIN / "tracera-pipeline"), "backfill", "--from", FIRST, "--to", LAST,
             "--webserver", url],
            capture_output=True, text=True, timeout=240, env=env, cwd=tmp_path,
        )  # fmt: skip
        assert cli.returncode == 0, cli.stdout + cli.stderr + procs.logs()
        assert "6/6 asset partitions materialized" in cli.stdout  # 3 hours x 2 markets
        for market in MARKETS:
            assert _materialized(["raw", "prices", market]) == set(RANGE)
        with dg.DagsterInstance.get() as instance:
            storage = type(instance.event_log_storage).__name__
        assert storage == ("PostgresEventLogStorage" if run_storage else "SqliteEventLogStorage")

        def downstream_done() -> bool | None:
            missing = [k for k in DOWNSTREAM if _materialized(k) != set(RANGE)]
            return None if missing else True

        # The automation sensor requests exactly that range downstream.
        wait_for("the downstream partitions", downstream_done, procs, timeout=180, interval=3)
        # It ticks at each pass of the daemon's 5 s loop, not at every other one (an
        # interval of 5 s itself skipped the passes that came back a few ms early).
        gaps = _automation_tick_gaps()
        assert len(gaps) >= 6, gaps
        assert sum(gap >= 9 for gap in gaps) < len(gaps) / 4, [round(g, 1) for g in gaps]
    with psycopg.connect(_url(pipeline_db)) as conn:
        hours = conn.execute(
            "SELECT count(DISTINCT bucket), count(DISTINCT provider_id) FROM price_1h"
        ).fetchone()
        spreads = conn.execute("SELECT count(DISTINCT bucket) FROM market_spreads").fetchone()
        snapshots = conn.execute("SELECT count(DISTINCT time) FROM portfolio_snapshots").fetchone()
    assert hours == (3, 2) and spreads == (3,)
    assert snapshots == (3,) or snapshots == (0,)  # no portfolio loaded: none to value


def test_at_an_hours_first_tick_the_open_hour_goes_alone_through_the_daemon(
    pipeline_db, redis_prefix, tmp_path, monkeypatch
) -> None:
    """The closed hour's re-fetch and the open hour's land together (here: one ranged
    ingestion run of both). The automation requests the open hour at once as a plain
    run and the closed hour at its next evaluation, also a plain run: requested
    together they were one backfill, which the backfill daemon picks up only every
    30 s (fresh prices took 35-45 s at each hour's first tick)."""
    home = tmp_path / "dagster_home"
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    env = _daemon_env(home, pipeline_db, redis_prefix, {})
    open_hour, closed_hour = open_and_closed_hour(needed_seconds=45)
    tags = {
        "dagster/asset_partition_range_start": closed_hour,
        "dagster/asset_partition_range_end": open_hour,
    }
    with processes(tmp_path, env) as procs:
        procs.start("daemon", "dagster-daemon", "run", "-m", "tracera_pipeline.definitions")
        launch = subprocess.run(
            [str(BIN / "dagster"), "job", "launch", "-m", "tracera_pipeline.definitions",
             "-j", "ingest_prices", "--tags", json.dumps(tags)],
            capture_output=True, text=True, timeout=120, env=env, cwd=tmp_path,
        )  # fmt: skip
        assert launch.returncode == 0, launch.stdout + launch.stderr

        def downstream_done() -> bool | None:
            both = {open_hour, closed_hour}
            missing = [k for k in DOWNSTREAM if not both <= _materialized(k)]
            return None if missing else True

        wait_for("both hours downstream", downstream_done, procs, timeout=180, interval=2)
        with dg.DagsterInstance.get() as instance:
            assert instance.get_backfills() == []
            keys = {dg.AssetKey(k) for k in DOWNSTREAM}
            downstream = [
                record.dagster_run
                for record in instance.get_run_records(ascending=True)
                if keys & (record.dagster_run.asset_selection or set())
            ]
    # The open hour first, each hour in a plain run of its own.
    assert [run.tags.get("dagster/partition") for run in downstream] == [open_hour, closed_hour]
