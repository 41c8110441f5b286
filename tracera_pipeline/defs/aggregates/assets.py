"""``aggregates/price_1h|24h|7d``: refresh exactly the buckets a run's window touches."""

from collections.abc import Sequence

import dagster as dg

from tracera_pipeline.defs.partitions import (
    BACKFILL_POLICY,
    DOWNSTREAM_AUTOMATION,
    DOWNSTREAM_RETRY_POLICY,
    FRESHNESS,
    HOURLY,
    RANKINGS_PATH_PRIORITY,
    row_metadata,
)
from tracera_pipeline.defs.resources import PostgresResource
from tracera_pipeline.storage.aggregates import LEVELS, AggregateLevel, refresh_level
from tracera_pipeline.storage.retention import unaggregated_hours

AGGREGATES_GROUP = "aggregates"


def aggregate_asset_key(level: str) -> dg.AssetKey:
    return dg.AssetKey(["aggregates", LEVELS[level].table])


def _build(level: AggregateLevel, deps: Sequence[dg.AssetKey]) -> dg.AssetsDefinition:
    key = aggregate_asset_key(level.name)
    checks = (
        [
            dg.AssetCheckSpec(
                "matches_raw_rows",
                asset=key,
                description="1h samples equal the raw rows of every hour refreshed",
            )
        ]
        if level.source == "price_history"
        else []
    )

    @dg.asset(
        key=key,
        group_name=AGGREGATES_GROUP,
        description=f"{level.name} buckets (avg, min, max, stddev, volume, samples) from"
        f" {level.source}.",
        deps=list(deps),
        partitions_def=HOURLY,
        automation_condition=DOWNSTREAM_AUTOMATION,
        retry_policy=DOWNSTREAM_RETRY_POLICY,
        backfill_policy=BACKFILL_POLICY,
        freshness_policy=FRESHNESS,
        kinds={"postgres"},
        check_specs=checks,
        # 1h and 24h lead to the volatility rankings; 7d waits.
        op_tags=RANKINGS_PATH_PRIORITY if level.name != "7d" else None,
        metadata={"dagster/table_name": f"public.{level.table}"},
    )
    def _aggregate(
        context: dg.AssetExecutionContext, postgres: PostgresResource
    ) -> dg.MaterializeResult:
        window = context.partition_time_window
        with postgres.connection() as conn:
            result = refresh_level(conn, postgres.flavor, level, window.start, window.end)
            missing = unaggregated_hours(conn, window.start, window.end) if checks else []
        if result.clamped_by_retention:
            context.log.warning(
                f"{level.table}: buckets before the retention watermark kept as they are"
                " (their raw rows were dropped)"
            )
        context.log.info(
            f"{level.table}: refreshed [{result.bucket_start}, {result.bucket_end})"
            f" → {result.rows} rows in {result.seconds:.2f}s"
        )
        check_results = (
            [
                dg.AssetCheckResult(
                    check_name="matches_raw_rows",
                    passed=not missing,
                    metadata={"unaggregated_hours": [m.isoformat() for m in missing[:20]]},
                )
            ]
            if checks
            else []
        )
        return dg.MaterializeResult(
            metadata={
                **row_metadata(context, result.rows),
                "bucket_start": result.bucket_start.isoformat(),
                "bucket_end": result.bucket_end.isoformat(),
                "refresh_seconds": round(result.seconds, 3),
                "clamped_by_retention": result.clamped_by_retention,
                "storage_flavor": postgres.flavor.value,
            },
            check_results=check_results,
        )

    return _aggregate


def build_aggregate_assets(raw_keys: Sequence[dg.AssetKey]) -> list[dg.AssetsDefinition]:
    """price_1h from every provider's raw prices; 24h from 1h; 7d from 24h."""
    return [
        _build(LEVELS["1h"], raw_keys),
        _build(LEVELS["24h"], [aggregate_asset_key("1h")]),
        _build(LEVELS["7d"], [aggregate_asset_key("24h")]),
    ]
