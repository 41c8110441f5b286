"""``analytics/item_volatility``: per-item metrics for every window, as of partition ends."""

import dagster as dg

from tracera_pipeline.analytics.volatility import WINDOWS, compute_volatility, top_volatile
from tracera_pipeline.defs.aggregates.assets import aggregate_asset_key
from tracera_pipeline.defs.partitions import (
    BACKFILL_POLICY,
    DOWNSTREAM_AUTOMATION,
    HOURLY,
    partition_windows,
)
from tracera_pipeline.defs.resources import PostgresResource

ITEM_VOLATILITY = dg.AssetKey(["analytics", "item_volatility"])


@dg.asset(
    key=ITEM_VOLATILITY,
    group_name="analytics",
    description="Stddev, % change, Bollinger bands, coefficient of variation and trend slope"
    " per item and window (1h, 24h, 7d), as of each partition end.",
    deps=[aggregate_asset_key(level) for level in ("1h", "24h", "7d")],
    partitions_def=HOURLY,
    automation_condition=DOWNSTREAM_AUTOMATION,
    backfill_policy=BACKFILL_POLICY,
    kinds={"postgres"},
)
def item_volatility(
    context: dg.AssetExecutionContext, postgres: PostgresResource
) -> dg.MaterializeResult:
    as_of = [window.end for window in partition_windows(context)]
    rows: dict[str, int] = {}
    with postgres.connection() as conn:
        for window in WINDOWS.values():
            rows[window.name] = compute_volatility(conn, window, as_of)
        top = top_volatile(conn, "1h", as_of[-1], limit=10)
    context.log.info(f"item_volatility: {rows} rows for {len(as_of)} as-of time(s)")
    return dg.MaterializeResult(
        metadata={
            "dagster/row_count": sum(rows.values()),
            "rows_by_window": dg.MetadataValue.json(rows),
            "as_of_last": as_of[-1].isoformat(),
            "top_volatile_1h": dg.MetadataValue.table(
                [
                    dg.TableRecord({"item_id": i, "market_hash_name": n, "cv": round(cv, 5)})
                    for i, n, cv, _ in top
                ],
                schema=dg.TableSchema(
                    columns=[
                        dg.TableColumn("item_id", "int"),
                        dg.TableColumn("market_hash_name", "string"),
                        dg.TableColumn("cv", "float"),
                    ]
                ),
            ),
        }
    )
