"""Redis: ``cache/latest_prices`` and ``cache/volatility_rankings``."""

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

import dagster as dg
import polars as pl

from tracera_pipeline.analytics.reference import latest_market_prices, reference_scores
from tracera_pipeline.analytics.volatility import WINDOWS, top_volatile
from tracera_pipeline.cache.latest import market_entries, reference_entries
from tracera_pipeline.defs.analytics.assets import ITEM_VOLATILITY
from tracera_pipeline.defs.partitions import (
    BACKFILL_POLICY,
    DOWNSTREAM_AUTOMATION,
    DOWNSTREAM_RETRY_POLICY,
    FRESHNESS,
    HOURLY,
    LATEST_PRICES_PRIORITY,
    RANKINGS_PATH_PRIORITY,
    partition_windows,
    row_metadata,
)
from tracera_pipeline.defs.pricing import PricingResource
from tracera_pipeline.defs.resources import PostgresResource, RedisResource
from tracera_pipeline.storage.items import provider_names

CACHE_GROUP = "cache"


def build_latest_prices_asset(
    raw_keys: Sequence[dg.AssetKey], markets: Sequence[str]
) -> dg.AssetsDefinition:
    @dg.asset(
        key=dg.AssetKey(["cache", "latest_prices"]),
        group_name=CACHE_GROUP,
        description="price:latest:<item_id> (the reference price: which market, every market's"
        " price, the currency) and price:market:<market>:<item_id> in Redis (JSON, TTL), and a"
        " message on 'prices'. Older partitions never overwrite newer cached prices.",
        deps=list(raw_keys),
        op_tags=LATEST_PRICES_PRIORITY,
        partitions_def=HOURLY,
        automation_condition=DOWNSTREAM_AUTOMATION,
        retry_policy=DOWNSTREAM_RETRY_POLICY,
        backfill_policy=BACKFILL_POLICY,
        freshness_policy=FRESHNESS,
        kinds={"redis"},
    )
    def latest_prices(
        context: dg.AssetExecutionContext,
        postgres: PostgresResource,
        redis: RedisResource,
        pricing: PricingResource,
    ) -> dg.MaterializeResult:
        # Only the run's newest window matters: earlier ones are superseded by it.
        until = min(partition_windows(context)[-1].end, datetime.now(UTC))
        policy, currency = pricing.policy(markets), pricing.currency_code()
        # A price older than the key TTL would expire from Redis at once: don't read it.
        lookback = timedelta(seconds=redis.latest_price_ttl_seconds)
        with postgres.connection() as conn:
            latest = latest_market_prices(conn, until, lookback, markets)
        fresh = latest.filter(pl.col("time") >= until - policy.max_age)
        cache = redis.cache()
        per_market = cache.set_market_prices(market_entries(latest, currency))
        references = reference_entries(fresh, policy, currency)
        written = cache.set_latest_prices(references)
        cache.publish(
            "prices", {"as_of": until.isoformat(), "items": len(references), "updated": written}
        )
        context.log.info(
            f"latest prices: {written} of {len(references)} reference keys and {per_market} of"
            f" {latest.height} market keys updated (as of {until}, rule {policy.describe()})"
        )
        by_market = dict(latest.group_by("market").len().sort("market").iter_rows())
        return dg.MaterializeResult(
            metadata={
                **row_metadata(context, written),
                "reference_rule": policy.describe(),
                "currency": currency,
                "keys_updated": written,
                "keys_kept_newer": len(references) - written,
                "market_keys_updated": per_market,
                "items_by_market": dg.MetadataValue.json(by_market),
                "as_of": until.isoformat(),
            }
        )

    return latest_prices


def build_volatility_rankings_asset(markets: Sequence[str]) -> dg.AssetsDefinition:
    @dg.asset(
        key=dg.AssetKey(["cache", "volatility_rankings"]),
        group_name=CACHE_GROUP,
        description="rankings:volatile:<window> (by the reference rule) and"
        " rankings:volatile:<window>:<market> sorted sets (score = coefficient of variation),"
        " swapped in atomically and kept without expiry, and a message on 'volatility'.",
        deps=[ITEM_VOLATILITY],
        op_tags=RANKINGS_PATH_PRIORITY,
        partitions_def=HOURLY,
        automation_condition=DOWNSTREAM_AUTOMATION,
        retry_policy=DOWNSTREAM_RETRY_POLICY,
        backfill_policy=BACKFILL_POLICY,
        freshness_policy=FRESHNESS,
        kinds={"redis"},
    )
    def volatility_rankings(
        context: dg.AssetExecutionContext,
        postgres: PostgresResource,
        redis: RedisResource,
        pricing: PricingResource,
    ) -> dg.MaterializeResult:
        as_of = partition_windows(context)[-1].end
        policy = pricing.policy(markets)
        cache = redis.cache()
        sizes: dict[str, int] = {}
        # Rankings Redis holds as of a later hour (a backfill of older partitions):
        # left as they are, and said so.
        kept_newer: list[str] = []
        with postgres.connection() as conn:
            for window in WINDOWS:
                ranked = top_volatile(conn, window, as_of)
                for market in markets:
                    scores = {
                        r.item_id: r.coefficient_of_variation for r in ranked if r.market == market
                    }
                    if not cache.replace_ranking(window, scores, as_of, market=market):
                        kept_newer.append(f"{window}:{market}")
                    sizes[f"{window}:{market}"] = len(scores)
                reference = reference_scores(
                    [(r.item_id, r.market, r.coefficient_of_variation) for r in ranked], policy
                )
                if not cache.replace_ranking(window, reference, as_of):
                    kept_newer.append(window)
                else:
                    top = sorted(reference.items(), key=lambda kv: (-kv[1], kv[0]))[:5]
                    cache.publish(
                        "volatility",
                        {
                            "window": window,
                            "as_of": as_of.isoformat(),
                            "rule": policy.describe(),
                            "top": [{"item_id": i, "cv": cv} for i, cv in top],
                        },
                    )
                sizes[window] = len(reference)
            # Markets the database knows but this deployment no longer ingests.
            retired = [name for name in provider_names(conn) if name not in markets]
        dropped = cache.drop_market_rankings(WINDOWS, retired, as_of)
        kept = f"; Redis holds newer ones for {', '.join(kept_newer)}" if kept_newer else ""
        gone = f"; {dropped} older ranking(s) of markets not ingested removed" if dropped else ""
        context.log.info(f"rankings as of {as_of}: sizes {sizes}{kept}{gone}")
        return dg.MaterializeResult(
            metadata={
                **row_metadata(context, sum(sizes.values())),
                "ranking_sizes": dg.MetadataValue.json(sizes),
                "rankings_replaced": len(sizes) - len(kept_newer),
                "rankings_kept_newer": dg.MetadataValue.json(kept_newer),
                "rankings_of_other_markets_removed": dropped,
                "reference_rule": policy.describe(),
                "as_of": as_of.isoformat(),
            }
        )

    return volatility_rankings
