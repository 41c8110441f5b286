"""The Tracera Pipeline code location: ``dagster dev`` loads ``defs`` from here."""

from __future__ import annotations

import dagster as dg

from tracera_pipeline import config
from tracera_pipeline.defs.aggregates.assets import build_aggregate_assets
from tracera_pipeline.defs.analytics.assets import item_volatility, market_spreads
from tracera_pipeline.defs.cache.assets import (
    build_latest_prices_asset,
    build_volatility_rankings_asset,
)
from tracera_pipeline.defs.executors import ingestion_executor, run_executor
from tracera_pipeline.defs.ingestion.assets import (
    PROVIDER_RETRY_POLICY,
    build_provider_asset,
    provider_asset_key,
)
from tracera_pipeline.defs.ingestion.schedules import build_ingest_job, build_ingest_schedule
from tracera_pipeline.defs.portfolio.assets import build_portfolio_snapshots_asset
from tracera_pipeline.defs.resources import checked_resources, default_resources
from tracera_pipeline.defs.retention.jobs import raw_retention_job
from tracera_pipeline.defs.retention.sensors import raw_retention_sensor

AUTOMATION_INTERVAL_SECONDS = 4


def build_assets(
    providers: list[str], retry_policy: dg.RetryPolicy | None = PROVIDER_RETRY_POLICY
) -> list[dg.AssetsDefinition]:
    """Every asset of the graph for these providers."""
    raw = [build_provider_asset(name, retry_policy) for name in providers]
    raw_keys = [provider_asset_key(name) for name in providers]
    return [
        *raw,
        *build_aggregate_assets(raw_keys),
        item_volatility,
        market_spreads,
        build_latest_prices_asset(raw_keys, providers),
        build_volatility_rankings_asset(providers),
        build_portfolio_snapshots_asset(raw_keys, providers),
    ]


def build_definitions(
    providers: list[str],
    resources: dict[str, dg.ConfigurableResource] | None = None,
    retry_policy: dg.RetryPolicy | None = PROVIDER_RETRY_POLICY,
) -> dg.Definitions:
    assets = build_assets(providers, retry_policy)
    executor = config.executor_name()
    return dg.Definitions(
        assets=assets,
        jobs=[build_ingest_job(ingestion_executor(executor, len(providers))), raw_retention_job],
        schedules=[build_ingest_schedule(providers)],
        sensors=[
            raw_retention_sensor,
            # Declared here so downstream automation runs without a click in the UI.
            # At every pass of the daemon's 5 s loop (its floor): fresh prices reach
            # Redis sooner than at 30 s, for ~2 s of daemon CPU a minute. The interval
            # is 4 s because the daemon skips a pass that comes back a few ms short of
            # the interval since the last tick: with 5 s, half the gaps were 10 s.
            dg.AutomationConditionSensorDefinition(
                "downstream_automation",
                target=dg.AssetSelection.all(),
                default_status=dg.DefaultSensorStatus.RUNNING,
                minimum_interval_seconds=AUTOMATION_INTERVAL_SECONDS,
            ),
        ],
        resources=resources or default_resources(),
        executor=run_executor(executor, len(providers)),
    )


# Every setting is checked as the code loads, so `dg check defs` (and the UI's code
# location) names each unusable one in a sentence; the resources themselves keep
# EnvVars, resolved by Dagster at run time, and check again at first use.
checked_resources()
defs = build_definitions(config.enabled_providers())
