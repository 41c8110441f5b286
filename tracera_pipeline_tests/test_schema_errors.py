"""The schema a run finds: edited after it was applied, migrated by a newer release,
another flavour than requested. None of it heals by retrying: one sentence, at once,
in the CLI and in a downstream step despite its RetryPolicy."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tracera_pipeline import config
from tracera_pipeline.defs.resources import PostgresResource
from tracera_pipeline_tests.error_helpers import (
    cli_error,
    native_only,
    run_asset,
    service_resources,
    step_failure,
)


def _edited_sql_dir(tmp_path: Path) -> Path:
    copy = tmp_path / "sql"
    shutil.copytree(config.sql_dir(), copy)
    first = sorted(copy.glob("001_*.sql"))[0]
    first.write_text(first.read_text() + "\n-- edited after it was applied\n")
    return copy


@native_only
@pytest.mark.parametrize("problem", ["edited", "newer", "flavour"])
def test_schema_problems_fail_at_once_with_the_fix(
    problem, database_url, conn, tmp_path, monkeypatch, capsys
) -> None:
    flavor = "native"
    if problem == "edited":
        monkeypatch.setenv("TRACERA_SQL_DIR", str(_edited_sql_dir(tmp_path)))
        expected = "001_catalogue.sql changed after it was applied; add a new numbered migration"
    elif problem == "newer":
        conn.execute(
            "INSERT INTO schema_migrations (version, name, flavor, checksum)"
            " VALUES (999, 'future', 'native', 'x')"
        )
        expected = "this database has migration(s) 999 that this code does not have"
    else:
        flavor = "timescaledb"
        expected = "database was migrated as native, but timescaledb was requested"
    monkeypatch.setenv("TRACERA_DATABASE_URL", database_url)
    monkeypatch.setenv("TRACERA_STORAGE_FLAVOR", flavor)
    assert expected in cli_error(["migrate"], capsys)

    resources = service_resources(database_url)
    resources["postgres"] = PostgresResource(database_url=database_url, storage_flavor=flavor)
    # A downstream asset, with its real RetryPolicy: none of this may be retried.
    result = run_asset("price_1h", resources)
    message, retries = step_failure(result)
    assert expected in message and retries == 0
