"""``analytics/item_volatility`` and ``analytics/market_spreads``."""

import ctypes
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor

import dagster as dg

from tracera_pipeline.analytics.spreads import refresh_spreads, top_spreads
from tracera_pipeline.analytics.volatility import (
    WINDOWS,
    VolatilityWindow,
    compute_volatility,
    top_volatile,
)
from tracera_pipeline.defs.aggregates.assets import aggregate_asset_key
from tracera_pipeline.defs.partitions import (
    BACKFILL_POLICY,
    DOWNSTREAM_AUTOMATION,
    DOWNSTREAM_RETRY_POLICY,
    FRESHNESS,
    HOURLY,
    RANKINGS_PATH_PRIORITY,
    partition_windows,
    row_metadata,
)
from tracera_pipeline.defs.pricing import PricingResource
from tracera_pipeline.defs.resources import PostgresResource, RedisResource

ITEM_VOLATILITY = dg.AssetKey(["analytics", "item_volatility"])
MARKET_SPREADS = dg.AssetKey(["analytics", "market_spreads"])
TOP_SPREADS = 50  # kept in Redis spreads:top


def _release_freed_memory() -> None:
    """Hand the heap memory the volatility threads freed back to the OS. glibc keeps
    a heap (arena) per thread at its high-water mark: a 7-day backfill's peak RSS was
    556 MiB with them, 386 with two arenas, and grew with the range (714 MiB at 30
    days). Elsewhere than glibc there is nothing to call."""
    trim = getattr(ctypes.CDLL(None), "malloc_trim", None)
    if trim is not None:
        trim(0)


def _table(records: list[dict], columns: Sequence[tuple[str, str]]) -> dg.MetadataValue:
    """A table preview (not markdown: skin names contain "|")."""
    return dg.MetadataValue.table(
        [dg.TableRecord(record) for record in records],
        schema=dg.TableSchema(columns=[dg.TableColumn(name, kind) for name, kind in columns]),
    )


@dg.asset(
    key=ITEM_VOLATILITY,
    group_name="analytics",
    description="Per item and market, over sliding windows of 1h, 24h and 7d ending at each"
    " partition end: stddev, % change against the previous window, Bollinger bands (SMA ± 2σ),"
    " coefficient of variation and least-squares trend, from the 1h aggregates (whole days"
    " from the 24h ones).",
    # 24h too: whole days inside a window are read from their 24h buckets.
    deps=[aggregate_asset_key("1h"), aggregate_asset_key("24h")],
    op_tags=RANKINGS_PATH_PRIORITY,
    partitions_def=HOURLY,
    automation_condition=DOWNSTREAM_AUTOMATION,
    retry_policy=DOWNSTREAM_RETRY_POLICY,
    backfill_policy=BACKFILL_POLICY,
    freshness_policy=FRESHNESS,
    kinds={"postgres"},
)
def item_volatility(
    context: dg.AssetExecutionContext, postgres: PostgresResource
) -> dg.MaterializeResult:
    as_of = [window.end for window in partition_windows(context)]

    # The windows are independent statements: on their own connections PostgreSQL
    # runs them on separate cores, one process each. Parallel workers on top only
    # crowded the cores they already used: on 2 cores, a mid-day as-of hour of 5,000
    # items × 4 markets took 2.5-3.0 s with them and 1.8-2.1 s without (native;
    # TimescaleDB ~1.0 s either way, its plans stay serial).
    workers = max(1, min(len(WINDOWS), postgres.pool_max_size - 1))

    def compute(window: VolatilityWindow) -> int:
        with postgres.connection() as conn:
            return compute_volatility(
                conn, window, as_of, parallel_workers=0 if workers > 1 else None
            )

    postgres.flavor  # noqa: B018 (opens the pool before the threads share it)
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="volatility") as pool:
        computed = {name: pool.submit(compute, window) for name, window in WINDOWS.items()}
        rows = {name: future.result() for name, future in computed.items()}
    _release_freed_memory()
    with postgres.connection() as conn:
        top = top_volatile(conn, "24h", as_of[-1], limit=10)
    context.log.info(f"item_volatility: {rows} rows for {len(as_of)} as-of time(s)")
    return dg.MaterializeResult(
        metadata={
            **row_metadata(context, sum(rows.values())),
            "rows_by_window": dg.MetadataValue.json(rows),
            "as_of_last": as_of[-1].isoformat(),
            "top_volatile_24h": _table(
                [
                    {
                        "market_hash_name": r.market_hash_name,
                        "market": r.market,
                        "cv": round(r.coefficient_of_variation, 5),
                        "mean": round(r.mean_cents / 100, 2),
                    }
                    for r in top
                ],
                [
                    ("market_hash_name", "string"),
                    ("market", "string"),
                    ("cv", "float"),
                    ("mean", "float"),
                ],
            ),
        }
    )


@dg.asset(
    key=MARKET_SPREADS,
    group_name="analytics",
    description="Per item and hour: each market's price, the cheapest and dearest market, and"
    " the spread in % gross and net of the selling market's fee (TRACERA_MARKET_FEES). The"
    " newest hour's top spreads go to Redis spreads:top.",
    deps=[aggregate_asset_key("1h")],
    partitions_def=HOURLY,
    automation_condition=DOWNSTREAM_AUTOMATION,
    retry_policy=DOWNSTREAM_RETRY_POLICY,
    backfill_policy=BACKFILL_POLICY,
    freshness_policy=FRESHNESS,
    kinds={"postgres", "redis"},
)
def market_spreads(
    context: dg.AssetExecutionContext,
    postgres: PostgresResource,
    redis: RedisResource,
    pricing: PricingResource,
) -> dg.MaterializeResult:
    windows = partition_windows(context)
    lo, hi = windows[0].start, windows[-1].end
    with postgres.connection() as conn:
        written = refresh_spreads(conn, lo, hi, pricing.fees())
        newest = top_spreads(conn, windows[-1].start, TOP_SPREADS)
    cache = redis.cache()
    swapped = cache.replace_spreads(
        {s.item_id: s.net_spread_pct for s in newest},
        {s.item_id: s.details() for s in newest},
        windows[-1].end,
    )
    if swapped:
        cache.publish("spreads", {"as_of": windows[-1].end.isoformat(), "items": len(newest)})
    context.log.info(f"market_spreads: {written} rows over {len(windows)} hour(s)")
    return dg.MaterializeResult(
        metadata={
            **row_metadata(context, written),
            "redis_top_spreads": len(newest),
            # The preview is of the run's newest hour only (a ranged run copies this
            # metadata to every partition it covers).
            "top_spreads_hour": windows[-1].start.isoformat(),
            "redis_swapped": swapped,
            "top_spreads": _table(
                [
                    {
                        "market_hash_name": s.market_hash_name,
                        "buy": s.buy,
                        "sell": s.sell,
                        "spread_pct": round(s.spread_pct, 2),
                        "net_spread_pct": round(s.net_spread_pct, 2),
                    }
                    for s in newest[:10]
                ],
                [
                    ("market_hash_name", "string"),
                    ("buy", "string"),
                    ("sell", "string"),
                    ("spread_pct", "float"),
                    ("net_spread_pct", "float"),
                ],
            ),
        }
    )
