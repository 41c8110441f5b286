"""Turn the database's latest prices into cache entries: per market and by reference."""

from __future__ import annotations

import polars as pl

from tracera_pipeline.analytics.reference import ReferencePolicy, reference_prices
from tracera_pipeline.cache.redis_cache import LatestPrice


def market_entries(latest: pl.DataFrame, currency: str) -> list[LatestPrice]:
    """One entry per (item, market) from ``latest_market_prices`` rows."""
    return [
        LatestPrice(
            item_id=row["item_id"],
            market_hash_name=row["market_hash_name"],
            market=row["market"],
            time=row["time"],
            price_cents=row["price_cents"],
            volume=row["volume"],
            listings=row["listings"],
            currency=currency,
        )
        for row in latest.iter_rows(named=True)
    ]


def reference_entries(
    latest: pl.DataFrame, policy: ReferencePolicy, currency: str
) -> list[LatestPrice]:
    """One entry per item: its reference price, with every market's latest price beside it."""
    by_item: dict[int, dict[str, int]] = {}
    for item_id, market, cents in latest.select("item_id", "market", "price_cents").iter_rows():
        by_item.setdefault(item_id, {})[market] = cents
    return [
        LatestPrice(
            item_id=row["item_id"],
            market_hash_name=row["market_hash_name"],
            market=row["market"],
            time=row["time"],
            price_cents=row["price_cents"],
            currency=currency,
            rule=policy.rule.value,
            markets={m: by_item[row["item_id"]][m] for m in row["markets"]},
        )
        for row in reference_prices(latest, policy).iter_rows(named=True)
    ]
