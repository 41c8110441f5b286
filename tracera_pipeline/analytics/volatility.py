"""Sliding-window volatility per item and market, as of given times (partition ends).

For a window W (1h, 24h, 7d) and an as-of time T, every metric is computed over
the samples in ``[T − W, T)`` — a trailing window that slides with T, not a
calendar bucket — so all three windows have values as soon as they hold two
samples. The metrics come from the 1h aggregates (count and sums combine
exactly); see ``sql/volatility.sql`` for the formulas.
"""

from __future__ import annotations

import bisect
import itertools
from dataclasses import dataclass
from datetime import datetime, timedelta

import psycopg

from tracera_pipeline.storage.aggregates import BUCKET_ORIGIN, bucket_ceil
from tracera_pipeline.storage.queries import compose

HOUR = timedelta(hours=1)
DAY = timedelta(days=1)


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


@dataclass(frozen=True)
class ScanPlan:
    """What one computation reads: ``points`` (where running sums are read), the
    price_1h hour spans ``[start, end)`` and the whole days taken from price_24h."""

    points: list[datetime]
    hour_spans: list[tuple[datetime, datetime]]
    days: list[datetime]

    @property
    def hours(self) -> list[datetime]:
        """Every hour of the spans (the buckets read from price_1h)."""
        hours = []
        for start, end in self.hour_spans:
            hour = start
            while hour < end:
                hours.append(hour)
                hour += HOUR
        return hours

    def point_of(self, last_hour: datetime) -> datetime:
        """The point ending the segment that holds ``last_hour``: the first at or after it."""
        return self.points[bisect.bisect_left(self.points, last_hour)]


def plan_scan(window: VolatilityWindow, as_of: list[datetime]) -> ScanPlan:
    """Hours from ``min(as_of) - 2W`` up to ``max(as_of)``, in segments ending at the
    points; a UTC day lying whole inside one segment is read as its one 24h bucket
    (24 rows fewer per series: the 7d window of a single as-of reads ~100 rows per
    series instead of 336). Its sums equal the hours' exactly (price_24h adds them)."""
    points = sorted({moment - HOUR - k * window.width for moment in as_of for k in range(3)})
    lo, hi = min(as_of) - 2 * window.width, max(as_of)
    days: list[datetime] = []
    for previous, point in itertools.pairwise(points):
        first = max(previous + HOUR, lo)  # the segment's hours: [first, point + 1h)
        day = bucket_ceil(first, DAY)
        while day + DAY <= point + HOUR:
            days.append(day)
            day += DAY
    spans: list[tuple[datetime, datetime]] = []
    start = lo
    for day in days:
        if start < day:
            spans.append((start, day))
        start = day + DAY
    if start < hi:
        spans.append((start, hi))
    return ScanPlan(points, spans, days)


def compute_volatility(
    conn: psycopg.Connection, window: VolatilityWindow, as_of: list[datetime]
) -> int:
    """Replace the metrics of ``window`` at each ``as_of`` (hour boundaries); rows written.

    Reads price_1h and, for whole days, price_24h: refresh both first."""
    if not as_of:
        return 0
    plan = plan_scan(window, as_of)
    hours = plan.hours
    lo = min(as_of) - 2 * window.width
    with conn.transaction():
        # One pass of hash aggregates and sorts: JIT compilation (~0.3-1 s) would
        # cost more than it saves. The aggregate keeps numeric sums per series and
        # point (~1 kB each): with the default 4 MB it spilled to disk from ~4,000
        # series on.
        conn.execute("SET LOCAL jit = off")
        conn.execute("SET LOCAL work_mem = '256MB'")
        conn.execute(
            "DELETE FROM item_volatility WHERE window_name = %s AND as_of = ANY(%s)",
            (window.name, as_of),
        )
        cursor = conn.execute(
            compose(__file__, "volatility.sql"),
            {
                "window": window.name,
                "as_of": as_of,
                "hours": hours,
                "hour_points": [plan.point_of(hour) for hour in hours],
                "days": plan.days,
                "day_points": [plan.point_of(day + DAY - HOUR) for day in plan.days],
                "t_ref": int((lo - BUCKET_ORIGIN).total_seconds()),
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
