"""Which buckets a volatility computation reads, and where it reads its running sums.

For a window W and as-of times T, the window's sums at T are C(T − 1h) −
C(T − 1h − W) and the previous window's C(T − 1h − W) − C(T − 1h − 2W), with C(p)
the running sums of a series' hours up to and including p. Only those "points"
matter, so the hours are summed per segment (the hours after one point up to the
next), and a UTC day lying whole inside a segment is read as its 24h bucket.
"""

from __future__ import annotations

import bisect
import itertools
from dataclasses import dataclass
from datetime import datetime, timedelta

from tracera_pipeline.storage.aggregates import bucket_ceil

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

    @property
    def segments(self) -> int:
        """Segments per series at most: one per point with a bucket read before it."""
        ends = {self.point_of(hour) for hour in self.hours}
        return len(ends | {self.point_of(day + DAY - HOUR) for day in self.days})

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
