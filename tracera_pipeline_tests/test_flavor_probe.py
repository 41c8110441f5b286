"""TimescaleDB installed but not preloaded: the probe's connection dies, nothing else does.

Reproduced for real on a throwaway cluster (initdb, free port, empty
``shared_preload_libraries``) where the timescaledb extension files are installed.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterator

import psycopg
import pytest

from tracera_pipeline import config
from tracera_pipeline.cli import main
from tracera_pipeline.storage.database import ensure_database
from tracera_pipeline.storage.flavor import Flavor, FlavorError, FlavorRequest
from tracera_pipeline.storage.migrations import migrate
from tracera_pipeline_tests import throwaway_postgres
from tracera_pipeline_tests.conftest import SERVER_URL


@pytest.fixture(scope="session")
def unpreloaded_cluster() -> Iterator[throwaway_postgres.Cluster]:
    try:
        cluster = throwaway_postgres.start(throwaway_postgres.find_bindir(SERVER_URL))
    except throwaway_postgres.Unavailable as exc:
        pytest.skip(f"no throwaway PostgreSQL cluster: {exc}")
    try:
        with psycopg.connect(cluster.url()) as conn:
            available = conn.execute(
                "SELECT 1 FROM pg_available_extensions WHERE name = 'timescaledb'"
            ).fetchone()
        if not available:
            pytest.skip("the timescaledb extension files are not installed for this PostgreSQL")
        yield cluster
    finally:
        throwaway_postgres.stop(cluster)


@pytest.fixture
def fresh_url(unpreloaded_cluster: throwaway_postgres.Cluster) -> str:
    url = unpreloaded_cluster.url(f"tracera_probe_{uuid.uuid4().hex[:8]}")
    ensure_database(url)
    return url  # the whole cluster is thrown away at the end of the session


def test_the_cluster_reproduces_a_connection_killed_by_create_extension(fresh_url) -> None:
    with psycopg.connect(fresh_url, autocommit=True) as conn:
        with pytest.raises(psycopg.Error, match="must be preloaded"):
            conn.execute("CREATE EXTENSION IF NOT EXISTS timescaledb")
        assert conn.closed  # what broke every caller that kept using it


def test_auto_falls_back_to_native_in_one_line_and_keeps_the_connection(fresh_url, caplog) -> None:
    with psycopg.connect(fresh_url, autocommit=True) as conn:
        with caplog.at_level(logging.INFO, logger="tracera_pipeline.storage"):
            report = migrate(conn, config.sql_dir(), FlavorRequest.AUTO)
        assert report.flavor is Flavor.NATIVE
        assert conn.execute("SELECT count(*) FROM schema_migrations").fetchone()[0] > 0
        assert migrate(conn, config.sql_dir(), FlavorRequest.AUTO).applied == ()
    warnings = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(warnings) == 1, warnings
    (line,) = warnings
    assert "\n" not in line
    assert 'extension "timescaledb" must be preloaded' in line
    assert "shared_preload_libraries" in line and "timescaledb-tune" in line


def test_requiring_timescaledb_fails_with_one_sentence_naming_the_fix(fresh_url) -> None:
    with psycopg.connect(fresh_url, autocommit=True) as conn:
        with pytest.raises(FlavorError) as raised:
            migrate(conn, config.sql_dir(), FlavorRequest.TIMESCALEDB)
        assert conn.execute("SELECT count(*) FROM schema_migrations").fetchone() == (0,)
    message = str(raised.value)
    assert message.startswith("TRACERA_STORAGE_FLAVOR=timescaledb, but TimescaleDB cannot")
    assert "\n" not in message
    assert "add 'timescaledb' to shared_preload_libraries" in message


def test_cli_migrate_reports_the_fix_without_a_traceback(fresh_url, monkeypatch, capsys) -> None:
    monkeypatch.setenv("TRACERA_DATABASE_URL", fresh_url)
    monkeypatch.setenv("TRACERA_STORAGE_FLAVOR", "timescaledb")
    assert main(["migrate"]) == 1
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "Traceback" not in err
    assert "shared_preload_libraries" in err
    monkeypatch.setenv("TRACERA_STORAGE_FLAVOR", "auto")
    assert main(["migrate"]) == 0
    assert "flavour native" in capsys.readouterr().out


def test_a_run_requiring_timescaledb_fails_at_once_with_the_fix(fresh_url) -> None:
    from datetime import UTC, datetime

    import dagster as dg

    from tracera_pipeline.definitions import build_assets
    from tracera_pipeline.defs.resources import PostgresResource

    (price_1h,) = [a for a in build_assets(["synthetic"]) if "price_1h" in a.key.path]
    result = dg.materialize(
        [price_1h],  # a downstream asset, with its RetryPolicy for transient errors
        resources={
            "postgres": PostgresResource(database_url=fresh_url, storage_flavor="timescaledb")
        },
        instance=dg.DagsterInstance.ephemeral(),
        partition_key=datetime.now(UTC).strftime("%Y-%m-%d-%H:00"),
        raise_on_error=False,
    )
    events = [e.event_type_value for e in result.all_events]
    assert "STEP_FAILURE" in events and "STEP_UP_FOR_RETRY" not in events
    failure = next(e for e in result.all_events if e.event_type_value == "STEP_FAILURE")
    assert (
        "add 'timescaledb' to shared_preload_libraries" in failure.event_specific_data.error.message
    )
