import logging
import shutil
import uuid
from pathlib import Path

import psycopg
import pytest
from psycopg import sql

from tracera_pipeline import config
from tracera_pipeline.storage.database import ensure_database
from tracera_pipeline.storage.flavor import Flavor, FlavorRequest
from tracera_pipeline.storage.migrations import _LOCK_KEY, MigrationError, discover, migrate
from tracera_pipeline_tests.conftest import SERVER_URL, _drop, _url

TABLES = {
    "items",
    "providers",
    "price_history",
    "price_1h",
    "price_24h",
    "price_7d",
    "item_volatility",
    "portfolios",
    "portfolio_holdings",
    "portfolio_snapshots",
    "rejected_price_points",
    "schema_migrations",
    "pipeline_state",
}


def _relations(conn: psycopg.Connection) -> set[str]:
    rows = conn.execute(
        "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public'"
        " UNION SELECT matviewname FROM pg_matviews WHERE schemaname = 'public'"
    ).fetchall()
    return {name for (name,) in rows}


def test_schema_has_every_table_and_second_migrate_is_a_no_op(conn, flavor) -> None:
    assert _relations(conn) >= TABLES
    report = migrate(conn, config.sql_dir(), FlavorRequest(flavor.value))
    assert report.applied == ()
    assert report.flavor is flavor
    recorded = conn.execute("SELECT DISTINCT flavor FROM schema_migrations").fetchall()
    assert recorded == [(flavor.value,)]


def test_an_up_to_date_database_does_not_wait_for_the_migration_lock(
    conn, database_url, flavor
) -> None:
    """Every run and step process starts by migrating: with nothing pending it only
    reads the ledger, even while a migrator holds the lock."""
    with psycopg.connect(database_url, autocommit=True) as migrator:
        migrator.execute("SELECT pg_advisory_lock(%s)", (_LOCK_KEY,))
        conn.execute("SET lock_timeout = '2s'")
        try:
            assert migrate(conn, config.sql_dir()).flavor is flavor
        finally:
            conn.execute("RESET lock_timeout")


def test_price_history_is_partitioned_the_flavour_way(conn, flavor) -> None:
    if flavor is Flavor.NATIVE:
        kind = conn.execute(
            "SELECT relkind FROM pg_class WHERE relname = 'price_history'"
        ).fetchone()
        assert kind == ("p",)  # declarative partitioned table
    else:
        hypertables = conn.execute(
            "SELECT hypertable_name FROM timescaledb_information.hypertables ORDER BY 1"
        ).fetchall()
        assert ("price_history",) in hypertables
        caggs = conn.execute(
            "SELECT view_name FROM timescaledb_information.continuous_aggregates ORDER BY 1"
        ).fetchall()
        assert caggs == [("price_1h",), ("price_24h",), ("price_7d",)]


def test_a_changed_applied_migration_is_refused(conn, flavor, tmp_path: Path) -> None:
    copy = tmp_path / "sql"
    shutil.copytree(config.sql_dir(), copy)
    target = copy / "001_catalogue.sql"
    target.write_text(target.read_text() + "\n-- edited after being applied\n")
    with pytest.raises(MigrationError, match="changed after it was applied"):
        migrate(conn, copy, FlavorRequest(flavor.value))


def test_new_migration_files_are_applied_once(conn, flavor, tmp_path: Path) -> None:
    copy = tmp_path / "sql"
    shutil.copytree(config.sql_dir(), copy)
    (copy / "900_extra.sql").write_text("CREATE TABLE extra_table (id int);")
    assert migrate(conn, copy, FlavorRequest(flavor.value)).applied == ("900_extra.sql",)
    assert migrate(conn, copy, FlavorRequest(flavor.value)).applied == ()


def test_switching_flavour_on_a_migrated_database_is_refused(conn, flavor) -> None:
    other = "native" if flavor is Flavor.TIMESCALEDB else "timescaledb"
    with pytest.raises(MigrationError, match="use a new database"):
        migrate(conn, config.sql_dir(), FlavorRequest(other))


def test_malformed_migration_layouts_are_rejected(tmp_path: Path) -> None:
    (tmp_path / "001_ok.sql").write_text("SELECT 1;")
    (tmp_path / "002_only_native.native.sql").write_text("SELECT 1;")
    with pytest.raises(MigrationError, match="one file per flavour"):
        discover(tmp_path)
    (tmp_path / "002_only_native.native.sql").unlink()
    (tmp_path / "3_bad-name.sql").write_text("SELECT 1;")
    with pytest.raises(MigrationError, match="not a migration file name"):
        discover(tmp_path)


def test_unusable_timescaledb_falls_back_to_native_with_a_reason(caplog) -> None:
    """A role that may not create the extension sees what a server without it sees."""
    suffix = uuid.uuid4().hex[:8]
    role, dbname = f"tracera_test_role_{suffix}", f"tracera_test_fallback_{suffix}"
    with psycopg.connect(SERVER_URL, autocommit=True) as admin:
        admin.execute(sql.SQL("CREATE ROLE {} LOGIN").format(sql.Identifier(role)))
        ensure_database(_url(dbname))
    try:
        with psycopg.connect(_url(dbname), autocommit=True) as admin:
            admin.execute(
                sql.SQL("GRANT CREATE ON SCHEMA public TO {}").format(sql.Identifier(role))
            )
        role_url = psycopg.conninfo.make_conninfo(_url(dbname), user=role)
        with psycopg.connect(role_url, autocommit=True) as conn, caplog.at_level(logging.WARNING):
            report = migrate(conn, config.sql_dir(), FlavorRequest.AUTO)
        assert report.flavor is Flavor.NATIVE
        assert "native PostgreSQL, because TimescaleDB is unusable here" in caplog.text
        with (
            pytest.raises(RuntimeError, match="TRACERA_STORAGE_FLAVOR=timescaledb"),
            psycopg.connect(role_url, autocommit=True) as conn,
        ):
            from tracera_pipeline.storage.flavor import detect_flavor

            detect_flavor(conn, FlavorRequest.TIMESCALEDB)
    finally:
        _drop(dbname)
        with psycopg.connect(SERVER_URL, autocommit=True) as admin:
            admin.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(role)))


def test_auto_picks_timescaledb_when_usable(timescaledb_status) -> None:
    dbname = f"tracera_test_auto_{uuid.uuid4().hex[:8]}"
    ensure_database(_url(dbname))
    try:
        with psycopg.connect(_url(dbname), autocommit=True) as conn:
            report = migrate(conn, config.sql_dir(), FlavorRequest.AUTO)
        expected = Flavor.TIMESCALEDB if timescaledb_status[0] else Flavor.NATIVE
        assert report.flavor is expected
    finally:
        _drop(dbname)
