"""`tracera-pipeline backfill`: range checks, the in-process path, a missing webserver."""

import pytest

from tracera_pipeline.backfill import BackfillError, partition_keys
from tracera_pipeline.cli import main
from tracera_pipeline_tests.conftest import REDIS_URL
from tracera_pipeline_tests.throwaway_postgres import free_port


def test_a_range_is_checked_in_one_sentence() -> None:
    assert partition_keys("2026-03-02-22:00", "2026-03-03-01:00") == [
        "2026-03-02-22:00", "2026-03-02-23:00", "2026-03-03-00:00", "2026-03-03-01:00",
    ]  # fmt: skip
    with pytest.raises(BackfillError, match="--from '2025-01-01-00:00' is not an hourly"):
        partition_keys("2025-01-01-00:00", "2026-03-03-01:00")
    with pytest.raises(BackfillError, match=r"is after --to .*; swap them"):
        partition_keys("2026-03-03-01:00", "2026-03-02-22:00")


def test_in_process_runs_the_whole_graph_over_the_range(
    conn, database_url, flavor, monkeypatch, redis_prefix, capsys
) -> None:
    for name, value in {
        "TRACERA_DATABASE_URL": database_url,
        "TRACERA_STORAGE_FLAVOR": flavor.value,
        "TRACERA_REDIS_URL": REDIS_URL,
        "TRACERA_REDIS_PREFIX": redis_prefix,
        "TRACERA_SYNTHETIC_ITEMS": "3",
    }.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("DAGSTER_HOME", raising=False)
    assert main(["backfill", "--from", "2026-03-02-00:00", "--to", "2026-03-02-02:00",
                 "--in-process"]) == 0  # fmt: skip
    assert "1/1 runs, 0 failed" in capsys.readouterr().out
    assert conn.execute("SELECT count(*) FROM price_history").fetchone()[0] == 3 * 12 * 3
    assert conn.execute("SELECT count(DISTINCT bucket) FROM market_spreads").fetchone()[0] == 0
    assert conn.execute("SELECT count(DISTINCT bucket) FROM price_1h").fetchone()[0] == 3


def test_no_webserver_names_the_fixes(capsys) -> None:
    url = f"http://127.0.0.1:{free_port()}"
    code = main(["backfill", "--from", "2026-03-02-00:00", "--to", "2026-03-02-01:00",
                 "--webserver", url])  # fmt: skip
    assert code == 1
    assert f"no Dagster webserver answers at {url}; start one with" in capsys.readouterr().err
