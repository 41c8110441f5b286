"""Cross-market spreads: each market's hourly price of an item side by side.

For every item priced on two or more markets in an hour (the 1h average of each):

* the cheapest and the dearest market, and ``spread_pct`` = (dearest − cheapest)
  / cheapest × 100, gross;
* ``best_net_market``: among the *other* markets, the one where selling returns
  the most after its seller fee, ``best_net_cents`` = price × (1 − fee), and
  ``net_spread_pct`` = (best_net_cents − cheapest) / cheapest × 100 — what buying
  on the cheapest market and selling there would earn (negative: no arbitrage).

Computed by one SQL statement per run (``sql/refresh_spreads.sql``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import psycopg

from tracera_pipeline.storage.queries import load_sql

_HERE = str(Path(__file__).parent)


@dataclass(frozen=True)
class Spread:
    item_id: int
    market_hash_name: str
    bucket: datetime
    prices: dict[str, float]
    buy: str
    sell: str
    spread_pct: float
    net_spread_pct: float

    def details(self) -> dict[str, object]:
        """What a reader of ``spreads:top`` needs about one item."""
        return {
            "market_hash_name": self.market_hash_name,
            "bucket": self.bucket.isoformat(),
            "prices": {market: float(cents) for market, cents in self.prices.items()},
            "buy": self.buy,
            "sell": self.sell,
            "spread_pct": self.spread_pct,
            "net_spread_pct": self.net_spread_pct,
        }


def refresh_spreads(
    conn: psycopg.Connection, lo: datetime, hi: datetime, fees: Mapping[str, float]
) -> int:
    """Replace the spreads of the hours in ``[lo, hi)``; rows written."""
    with conn.transaction():
        conn.execute("DELETE FROM market_spreads WHERE bucket >= %s AND bucket < %s", (lo, hi))
        return conn.execute(
            load_sql(_HERE, "refresh_spreads.sql"),
            {"lo": lo, "hi": hi, "fee_markets": list(fees), "fees": list(fees.values())},
        ).rowcount


def top_spreads(conn: psycopg.Connection, bucket: datetime, limit: int) -> list[Spread]:
    rows = conn.execute(load_sql(_HERE, "top_spreads.sql"), {"bucket": bucket, "limit": limit})
    return [Spread(*row) for row in rows.fetchall()]
