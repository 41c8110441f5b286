"""Sliding-window volatility per item and market, as of given times (partition ends).

For a window W (1h, 24h, 7d) and an as-of time T, every metric is computed over
the samples in ``[T − W, T)`` — a trailing window that slides with T, not a
calendar bucket — so all three windows have values as soon as they hold two
samples. The metrics come from the 1h aggregates (count and sums combine
exactly); see ``sql/volatility.sql`` for the formulas.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import psycopg

from tracera_pipeline.storage.aggregates import BUCKET_ORIGIN
from tracera_pipeline.storage.queries import compose

HOUR = timedelta(hours=1)


@dataclass(frozen=True)
class VolatilityWindow:
    name: str
    width: timedelta


WINDOWS = {
    "1h": VolatilityWindow("1h", timedelta(hours=1)),
    "24h": VolatilityWindow("24h", timedelta(hours=24)),
    "7d": VolatilityWindow("7d", timedelta(days=7)),
}


@dataclass(frozen=True)
class RankedItem:
    item_id: int
    market_hash_name: str
    market: str
    coefficient_of_variation: float
    stddev_cents: float
    mean_cents: float


def compute_volatility(
    conn: psycopg.Connection, window: VolatilityWindow, as_of: list[datetime]
) -> int:
    """Replace the metrics of ``window`` at each ``as_of`` (hour boundaries); rows written."""
    if not as_of:
        return 0
    lo = min(as_of) - 2 * window.width
    # Where the running sums are read: the ends of each window and of the one before.
    points = sorted({moment - HOUR - k * window.width for moment in as_of for k in range(3)})
    with conn.transaction():
        # One pass of hash aggregates and sorts: JIT compilation (~0.3-1 s) would
        # cost more than it saves.
        conn.execute("SET LOCAL jit = off")
        conn.execute(
            "DELETE FROM item_volatility WHERE window_name = %s AND as_of = ANY(%s)",
            (window.name, as_of),
        )
        cursor = conn.execute(
            compose(__file__, "volatility.sql"),
            {
                "window": window.name,
                "as_of": as_of,
                "points": points,
                # The current window and the previous one, of every as-of.
                "lo": lo,
                "t_ref": int((lo - BUCKET_ORIGIN).total_seconds()),
                "hi": max(as_of),
                "width": window.width,
            },
        )
        return cursor.rowcount


def top_volatile(
    conn: psycopg.Connection,
    window: str,
    as_of: datetime,
    *,
    market: str | None = None,
    limit: int | None = None,
) -> list[RankedItem]:
    """Items ranked by coefficient of variation, most volatile first; one market or all."""
    rows = conn.execute(
        "SELECT v.item_id, i.market_hash_name, p.name, v.coefficient_of_variation,"
        " v.stddev_cents, v.mean_cents"
        " FROM item_volatility v JOIN items i USING (item_id) JOIN providers p USING (provider_id)"
        " WHERE v.window_name = %s AND v.as_of = %s AND v.coefficient_of_variation IS NOT NULL"
        " AND (%s::text IS NULL OR p.name = %s)"
        " ORDER BY v.coefficient_of_variation DESC, v.item_id, p.name LIMIT %s",
        (window, as_of, market, market, limit),
    ).fetchall()
    return [RankedItem(*row) for row in rows]
