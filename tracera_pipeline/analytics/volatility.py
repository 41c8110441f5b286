"""Per-item volatility for each window, as of given times (partition ends)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import psycopg

from tracera_pipeline.storage.aggregates import LEVELS
from tracera_pipeline.storage.queries import compose


@dataclass(frozen=True)
class VolatilityWindow:
    name: str
    source: str
    width: timedelta
    lookback_buckets: int

    @property
    def lookback(self) -> timedelta:
        return self.width * self.lookback_buckets


# A day of hours, a month of days, a quarter of weeks.
WINDOWS = {
    "1h": VolatilityWindow("1h", LEVELS["1h"].table, LEVELS["1h"].width, 24),
    "24h": VolatilityWindow("24h", LEVELS["24h"].table, LEVELS["24h"].width, 30),
    "7d": VolatilityWindow("7d", LEVELS["7d"].table, LEVELS["7d"].width, 12),
}


def compute_volatility(
    conn: psycopg.Connection, window: VolatilityWindow, as_of: list[datetime]
) -> int:
    """Upsert metrics for every item with complete buckets before each ``as_of``; rows written."""
    with conn.transaction():
        cursor = conn.execute(
            compose(__file__, "volatility.sql", source=window.source),
            {
                "window": window.name,
                "as_of": as_of,
                "width": window.width,
                "lookback": window.lookback,
            },
        )
        return cursor.rowcount


def top_volatile(
    conn: psycopg.Connection, window: str, as_of: datetime, limit: int | None = None
) -> list[tuple[int, str, float, float]]:
    """(item_id, name, coefficient of variation, stddev) ranked, most volatile first."""
    return conn.execute(
        "SELECT v.item_id, i.market_hash_name, v.coefficient_of_variation, v.stddev_cents"
        " FROM item_volatility v JOIN items i USING (item_id)"
        " WHERE v.window_name = %s AND v.as_of = %s AND v.coefficient_of_variation IS NOT NULL"
        " ORDER BY v.coefficient_of_variation DESC, v.item_id LIMIT %s",
        (window, as_of, limit),
    ).fetchall()
