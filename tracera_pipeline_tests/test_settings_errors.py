"""Every setting a user can get wrong fails with one sentence naming it: in the CLI,
when the code location loads, and at first use in a run (at once, never retried)."""

from __future__ import annotations

import logging
import subprocess
import sys
from datetime import UTC, datetime, timedelta

import dagster as dg
import pytest

from tracera_pipeline import config
from tracera_pipeline.cli import main
from tracera_pipeline.definitions import build_assets
from tracera_pipeline.defs.pricing import PricingResource
from tracera_pipeline.defs.resources import (
    MarketDataResource,
    PostgresResource,
    checked_resources,
)
from tracera_pipeline.defs.retention.sensors import raw_retention_sensor
from tracera_pipeline.settings import SettingError
from tracera_pipeline.storage.flavor import Flavor
from tracera_pipeline.storage.price_writer import write_price_window
from tracera_pipeline_tests.helpers import T0, key, load_synthetic, raw_rows

DEFINITIONS = "tracera_pipeline.definitions"
CLOSED_PORT_URL = "postgresql://postgres@127.0.0.1:9/tracera_never"
STEP_RETRY = dg.RetryPolicy(max_retries=2, delay=0.2)
# Settings fail before any flavour-specific work: one flavour is enough.
native_only = pytest.mark.parametrize("flavor", [Flavor.NATIVE], indirect=True)

BAD_SETTINGS = [
    ("TRACERA_COPY_CHUNK_ROWS", "-1", "TRACERA_COPY_CHUNK_ROWS=-1 must be at least 1"),
    ("TRACERA_COPY_CHUNK_ROWS", "0", "TRACERA_COPY_CHUNK_ROWS=0 must be at least 1"),
    ("TRACERA_COPY_CHUNK_ROWS", "10k", "TRACERA_COPY_CHUNK_ROWS='10k' is not a whole number"),
    ("TRACERA_RAW_RETENTION_DAYS", "-1", "TRACERA_RAW_RETENTION_DAYS=-1 must be at least 1"),
    ("TRACERA_RAW_RETENTION_DAYS", "0", "TRACERA_RAW_RETENTION_DAYS=0 must be at least 1"),
    ("TRACERA_DB_POOL_MAX_SIZE", "0", "TRACERA_DB_POOL_MAX_SIZE=0 must be at least 1"),
    ("TRACERA_LATEST_PRICE_TTL_SECONDS", "-5", "TRACERA_LATEST_PRICE_TTL_SECONDS=-5 must be"),
    ("TRACERA_SYNTHETIC_ITEMS", "0", "TRACERA_SYNTHETIC_ITEMS=0 must be between 1 and 5793"),
    ("TRACERA_SYNTHETIC_ITEMS", "6000", "TRACERA_SYNTHETIC_ITEMS=6000 must be between 1 and"),
    ("TRACERA_SYNTHETIC_INTERVAL_SECONDS", "0", "TRACERA_SYNTHETIC_INTERVAL_SECONDS=0 must be"),
    ("TRACERA_SYNTHETIC_INTERVAL_SECONDS", "7200", "every hourly partition needs a sample"),
    ("TRACERA_STORAGE_FLAVOR", "tsdb", "TRACERA_STORAGE_FLAVOR='tsdb' is not one of auto"),
    ("TRACERA_DB_CONNECT_TIMEOUT_SECONDS", "0", "TRACERA_DB_CONNECT_TIMEOUT_SECONDS=0 must be"),
    ("TRACERA_DB_STATEMENT_TIMEOUT_SECONDS", "-1", "(0 disables it)"),
    ("TRACERA_REFERENCE_MAX_AGE_SECONDS", "0", "TRACERA_REFERENCE_MAX_AGE_SECONDS=0 must be"),
    ("TRACERA_REFERENCE_RULE", "mean", "TRACERA_REFERENCE_RULE='mean' is not a rule"),
    ("TRACERA_REFERENCE_MARKETS", "steam,stem", "TRACERA_REFERENCE_MARKETS names unknown"),
    ("TRACERA_MARKET_FEES", "steam=1.5", "TRACERA_MARKET_FEES: fee '1.5' for steam"),
    ("TRACERA_CURRENCY", "dollars", "TRACERA_CURRENCY='dollars' is not an ISO 4217"),
    ("TRACERA_PROVIDER_RATE_LIMITS", "steam=fast", "set TRACERA_PROVIDER_RATE_LIMITS like"),
    ("TRACERA_REDIS_URL", "http://127.0.0.1:6379", "TRACERA_REDIS_URL is not a Redis URL"),
    ("TRACERA_DATABASE_URL", "postgresql://u:p4@ss@h/db", "'@' in its password"),
]


@pytest.mark.parametrize(("variable", "value", "expected"), BAD_SETTINGS)
def test_the_cli_names_each_bad_setting_in_one_line(
    variable: str, value: str, expected: str, monkeypatch, capsys
) -> None:
    monkeypatch.setenv("TRACERA_DATABASE_URL", CLOSED_PORT_URL)
    monkeypatch.setenv(variable, value)
    assert main(["migrate"]) == 1
    captured = capsys.readouterr()
    err = captured.err.strip()
    assert expected in err and "\n" not in err and "Traceback" not in err
    assert not captured.out  # nothing was done


def test_every_bad_setting_is_named_at_once(monkeypatch) -> None:
    monkeypatch.setenv("TRACERA_COPY_CHUNK_ROWS", "-1")
    monkeypatch.setenv("TRACERA_RAW_RETENTION_DAYS", "0")
    monkeypatch.setenv("TRACERA_MARKET_FEES", "nowhere=0.1")
    with pytest.raises(SettingError) as raised:
        checked_resources()
    for variable in (
        "TRACERA_COPY_CHUNK_ROWS",
        "TRACERA_RAW_RETENTION_DAYS",
        "TRACERA_MARKET_FEES",
    ):
        assert variable in str(raised.value)


@pytest.mark.parametrize(
    ("variable", "value", "read", "expected"),
    [
        ("TRACERA_PARTITION_START", "yesterday", config.partition_start, "YYYY-MM-DD-HH:00"),
        ("TRACERA_PARTITION_START", "2026-01-01-00:30", config.partition_start, "start of an"),
        ("TRACERA_PARTITION_START", "2999-01-01-00:00", config.partition_start, "in the future"),
        ("TRACERA_INGEST_CRON", "every 15 minutes", config.ingest_cron, "5 fields"),
        ("TRACERA_EXECUTOR", "celery", config.executor_name, "multiprocess, in_process"),
        ("TRACERA_PROVIDERS", "synthetic,stem", config.enabled_providers, "'stem'"),
    ],
)
def test_settings_that_shape_the_graph_are_refused_when_read(
    variable, value, read, expected, monkeypatch
) -> None:
    monkeypatch.setenv(variable, value)
    with pytest.raises(SettingError, match=variable) as raised:
        read()
    assert expected in str(raised.value)


def test_an_empty_provider_list_means_the_default_with_a_warning(monkeypatch, caplog) -> None:
    monkeypatch.setenv("TRACERA_PROVIDERS", " , ")
    with caplog.at_level(logging.WARNING, logger="tracera_pipeline.config"):
        assert config.enabled_providers() == ["synthetic"]
    assert "TRACERA_PROVIDERS is set but names no provider" in caplog.text


def test_an_unknown_provider_fails_definitions_validation_naming_the_known_ones() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "dagster", "definitions", "validate", "-m", DEFINITIONS],
        capture_output=True,
        text=True,
        timeout=120,
        env={**_clean_env(), "TRACERA_PROVIDERS": "synthetic,stem"},
    )
    output = result.stdout + result.stderr
    assert result.returncode != 0
    assert "TRACERA_PROVIDERS names unknown provider(s) 'stem'; use a comma list of:" in output
    assert "synthetic, synthetic_steam, synthetic_buff, steam, skinport, csfloat" in output


def _clean_env() -> dict[str, str]:
    import os

    return {k: v for k, v in os.environ.items() if not k.startswith("TRACERA_")}


# -- first use in a run: at once, without retries ---------------------------------


def _failure(result: dg.ExecuteInProcessResult) -> str:
    events = [e.event_type_value for e in result.all_events]
    assert "STEP_RESTARTED" not in events and "STEP_UP_FOR_RETRY" not in events
    failure = next(e for e in result.all_events if e.event_type_value == "STEP_FAILURE")
    return failure.event_specific_data.error.message


def _raw_synthetic(resources: dict, **overrides) -> dg.ExecuteInProcessResult:
    (raw,) = [a for a in build_assets(["synthetic"], STEP_RETRY) if "raw" in a.key.path]
    return dg.materialize(
        [raw],
        resources={**resources, **overrides},
        instance=dg.DagsterInstance.ephemeral(),
        partition_key=key(T0),
        raise_on_error=False,
    )


@native_only
def test_a_chunk_size_below_one_fails_the_step_at_once_and_keeps_the_rows(
    resources, database_url, conn, flavor
) -> None:
    load_synthetic(conn, flavor, T0, T0 + timedelta(hours=1), items=5)
    before = conn.execute("SELECT count(*) FROM price_history").fetchone()[0]
    postgres = PostgresResource(
        database_url=database_url, storage_flavor=flavor.value, copy_chunk_rows=-1
    )
    result = _raw_synthetic(resources, postgres=postgres)
    assert not result.success
    assert "TRACERA_COPY_CHUNK_ROWS=-1 must be at least 1" in _failure(result)
    assert conn.execute("SELECT count(*) FROM price_history").fetchone()[0] == before > 0


@native_only
def test_too_many_synthetic_items_fail_the_step_at_once(resources) -> None:
    result = _raw_synthetic(resources, market=MarketDataResource(synthetic_items=99_999))
    assert not result.success
    assert "TRACERA_SYNTHETIC_ITEMS=99999 must be between 1 and 5793" in _failure(result)


@native_only
@pytest.mark.parametrize(
    ("asset", "pricing", "expected"),
    [
        ("market_spreads", {"market_fees": "steam=2"}, "TRACERA_MARKET_FEES: fee '2' for steam"),
        ("portfolio_snapshots", {"reference_rule": "mean"}, "TRACERA_REFERENCE_RULE='mean'"),
        ("latest_prices", {"reference_markets": "stem"}, "TRACERA_REFERENCE_MARKETS names"),
        ("latest_prices", {"reference_max_age_seconds": 0}, "TRACERA_REFERENCE_MAX_AGE_SECONDS"),
    ],
)
def test_a_bad_pricing_setting_fails_the_downstream_step_at_once(
    resources, asset, pricing, expected
) -> None:
    chosen = next(a for a in build_assets(["synthetic"]) if asset in a.key.path)
    result = dg.materialize(
        [chosen],  # with the downstream RetryPolicy, which must not apply
        resources={**resources, "pricing": PricingResource(**pricing)},
        instance=dg.DagsterInstance.ephemeral(),
        partition_key=key(T0),
        raise_on_error=False,
    )
    assert not result.success
    assert expected in _failure(result)


@native_only
def test_a_bad_retention_setting_stops_the_sensor_before_any_plan(resources) -> None:
    postgres = PostgresResource(
        database_url=resources["postgres"].database_url, raw_retention_days=-1
    )
    with (
        dg.build_sensor_context(resources={"postgres": postgres}) as context,
        pytest.raises(dg.Failure, match="TRACERA_RAW_RETENTION_DAYS=-1 must be at least 1"),
    ):
        raw_retention_sensor(context)


@native_only
@pytest.mark.parametrize("chunk_rows", [0, -1])
def test_the_writer_refuses_a_chunk_size_below_one_before_deleting(
    conn, flavor, chunk_rows
) -> None:
    load_synthetic(conn, flavor, T0, T0 + timedelta(hours=1), items=3)
    stored = raw_rows(conn)
    with pytest.raises(ValueError, match=f"TRACERA_COPY_CHUNK_ROWS={chunk_rows}"):
        write_price_window(
            conn,
            stored.drop("provider_id"),
            flavor=flavor,
            provider_id=1,
            window_start=T0,
            window_end=T0 + timedelta(hours=1),
            chunk_rows=chunk_rows,
        )
    assert raw_rows(conn).equals(stored)


# -- a provider enabled without its key -------------------------------------------


def test_the_cli_names_a_missing_api_key_before_starting(monkeypatch, capsys) -> None:
    monkeypatch.setenv("TRACERA_DATABASE_URL", CLOSED_PORT_URL)
    monkeypatch.setenv("TRACERA_PROVIDERS", "synthetic,csfloat")
    monkeypatch.delenv("TRACERA_CSFLOAT_API_KEY", raising=False)
    assert main(["demo", "--hours", "1"]) == 1
    err = capsys.readouterr().err.strip()
    assert err == (
        "tracera-pipeline demo: csfloat is enabled but TRACERA_CSFLOAT_API_KEY is not set;"
        " set it, or remove csfloat from TRACERA_PROVIDERS."
    )


@native_only
def test_a_missing_api_key_fails_only_that_step_at_once(resources) -> None:
    (raw,) = [a for a in build_assets(["csfloat"], STEP_RETRY) if "raw" in a.key.path]
    result = dg.materialize(
        [raw],
        resources={**resources, "market": MarketDataResource()},
        instance=dg.DagsterInstance.ephemeral(),
        partition_key=key(datetime.now(UTC)),  # live-only: asked for the open hour
        raise_on_error=False,
    )
    assert "no API key: set TRACERA_CSFLOAT_API_KEY" in _failure(result)
