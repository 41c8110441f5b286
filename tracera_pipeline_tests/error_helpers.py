"""Helpers for the error tests: run one asset in process, read a step's failure."""

from __future__ import annotations

import dagster as dg
import pytest

from tracera_pipeline.cli import main
from tracera_pipeline.definitions import build_assets
from tracera_pipeline.defs.pricing import PricingResource
from tracera_pipeline.defs.resources import MarketDataResource, PostgresResource, RedisResource
from tracera_pipeline.storage.flavor import Flavor
from tracera_pipeline_tests.conftest import REDIS_URL
from tracera_pipeline_tests.helpers import T0, key

STEP_RETRY = dg.RetryPolicy(max_retries=2, delay=0.1)
# For failures that come before any flavour-specific work: one flavour is enough.
native_only = pytest.mark.parametrize("flavor", [Flavor.NATIVE], indirect=True)


def service_resources(database_url: str | dg.EnvVar, redis_url: str = REDIS_URL) -> dict:
    return {
        "postgres": PostgresResource(database_url=database_url, connect_timeout_seconds=2),
        "redis": RedisResource(redis_url=redis_url, key_prefix="tracera_test:errors:"),
        "market": MarketDataResource(synthetic_items=5),
        "pricing": PricingResource(),
    }


def run_asset(
    asset: str,
    resources: dict,
    retry_policy: dg.RetryPolicy | None = STEP_RETRY,
    instance: dg.DagsterInstance | None = None,
) -> dg.ExecuteInProcessResult:
    (chosen,) = [a for a in build_assets(["synthetic"], retry_policy) if asset in a.key.path]
    return dg.materialize(
        [chosen],
        resources=resources,
        instance=instance or dg.DagsterInstance.ephemeral(),
        partition_key=key(T0),
        raise_on_error=False,
    )


def step_failure(result: dg.ExecuteInProcessResult) -> tuple[str, int]:
    """The failed step's messages (after retries Dagster says so and names ours as the
    cause), and how many times the step was tried again."""
    assert not result.success
    failure = next(e for e in result.all_events if e.event_type_value == "STEP_FAILURE")
    retries = [e.event_type_value for e in result.all_events].count("STEP_RESTARTED")
    return error_messages(failure), retries


def error_messages(event: dg.DagsterEvent) -> str:
    """An error event's message with its causes (a retry names ours as the cause)."""
    error, messages = event.event_specific_data.error, []
    while error is not None:
        messages.append(error.message)
        error = error.cause
    return " | ".join(messages)


def cli_error(args: list[str], capsys) -> str:
    assert main(args) == 1
    captured = capsys.readouterr()
    err = captured.err.strip()
    assert "\n" not in err and "Traceback" not in err, err
    return err
