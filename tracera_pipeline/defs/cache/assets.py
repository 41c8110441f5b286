"""Redis: ``cache/latest_prices`` and ``cache/volatility_rankings``."""

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

import dagster as dg

from tracera_pipeline.analytics.volatility import WINDOWS, top_volatile
from tracera_pipeline.cache.latest import latest_prices_before
from tracera_pipeline.defs.analytics.assets import ITEM_VOLATILITY
from tracera_pipeline.defs.partitions import (
    BACKFILL_POLICY,
    DOWNSTREAM_AUTOMATION,
    HOURLY,
    partition_windows,
)
from tracera_pipeline.defs.resources import PostgresResource, RedisResource

CACHE_GROUP = "cache"


def build_latest_prices_asset(raw_keys: Sequence[dg.AssetKey]) -> dg.AssetsDefinition:
    @dg.asset(
        key=dg.AssetKey(["cache", "latest_prices"]),
        group_name=CACHE_GROUP,
        description="price:latest:<item_id> in Redis (JSON, TTL) and a message on 'prices'."
        " Older partitions never overwrite newer cached prices.",
        deps=list(raw_keys),
        partitions_def=HOURLY,
        automation_condition=DOWNSTREAM_AUTOMATION,
        backfill_policy=BACKFILL_POLICY,
        kinds={"redis"},
    )
    def latest_prices(
        context: dg.AssetExecutionContext, postgres: PostgresResource, redis: RedisResource
    ) -> dg.MaterializeResult:
        # Only the run's newest window matters: earlier ones are superseded by it.
        until = min(partition_windows(context)[-1].end, datetime.now(UTC))
        with postgres.connection() as conn:
            prices = latest_prices_before(
                conn, until, timedelta(seconds=redis.latest_price_ttl_seconds)
            )
        cache = redis.cache()
        written = cache.set_latest_prices(prices)
        cache.publish(
            "prices", {"as_of": until.isoformat(), "items": len(prices), "updated": written}
        )
        context.log.info(f"latest prices: {written} of {len(prices)} keys updated (as of {until})")
        return dg.MaterializeResult(
            metadata={
                "dagster/row_count": len(prices),
                "keys_updated": written,
                "keys_kept_newer": len(prices) - written,
                "as_of": until.isoformat(),
            }
        )

    return latest_prices


@dg.asset(
    key=dg.AssetKey(["cache", "volatility_rankings"]),
    group_name=CACHE_GROUP,
    description="rankings:volatile:<window> sorted sets (score = coefficient of variation),"
    " swapped in atomically, and a message on 'volatility'.",
    deps=[ITEM_VOLATILITY],
    partitions_def=HOURLY,
    automation_condition=DOWNSTREAM_AUTOMATION,
    backfill_policy=BACKFILL_POLICY,
    kinds={"redis"},
)
def volatility_rankings(
    context: dg.AssetExecutionContext, postgres: PostgresResource, redis: RedisResource
) -> dg.MaterializeResult:
    as_of = partition_windows(context)[-1].end
    cache = redis.cache()
    sizes, swapped = {}, {}
    with postgres.connection() as conn:
        for window in WINDOWS:
            ranked = top_volatile(conn, window, as_of)
            sizes[window] = len(ranked)
            swapped[window] = cache.replace_ranking(
                window, {item_id: cv for item_id, _, cv, _ in ranked}, as_of
            )
            if swapped[window]:
                cache.publish(
                    "volatility",
                    {
                        "window": window,
                        "as_of": as_of.isoformat(),
                        "top": [
                            {"item_id": i, "market_hash_name": n, "cv": cv}
                            for i, n, cv, _ in ranked[:5]
                        ],
                    },
                )
    context.log.info(f"rankings as of {as_of}: sizes {sizes}, swapped {swapped}")
    return dg.MaterializeResult(
        metadata={
            "dagster/row_count": sum(sizes.values()),
            "ranking_sizes": dg.MetadataValue.json(sizes),
            "swapped": dg.MetadataValue.json(swapped),
            "as_of": as_of.isoformat(),
        }
    )
