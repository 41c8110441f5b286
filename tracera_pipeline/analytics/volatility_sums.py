"""One block of items' volatility: PostgreSQL sums the segments
(``sql/volatility_*.sql``), numpy takes the running sums at the points and
the metrics, and the rows go back by binary COPY.

The same in one SQL statement (window sums over a sort of every segment and
probe, then an INSERT … SELECT) took 1.7-2.7× as long for a day's run of 24 as-of
hours and 1.4× for a single as-of hour: the time now goes to PostgreSQL reading
and converting the buckets, not to sorts, hash tables of numeric sums per bucket
and an INSERT row by row.
"""

from __future__ import annotations

import collections
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import numpy as np
import polars as pl
import psycopg
from psycopg import sql

from tracera_pipeline.analytics.volatility_plan import DAY, HOUR, ScanPlan, VolatilityWindow
from tracera_pipeline.storage.aggregates import BUCKET_ORIGIN
from tracera_pipeline.storage.binary_copy import (
    HEADER,
    TRAILER,
    Column,
    decode_rows,
    iter_copy_payload,
)
from tracera_pipeline.storage.queries import load_sql

SUMS = ("n", "sx", "sxx", "st", "stt", "stx")
_SEGMENT_COLUMNS = (
    Column("point", "int4", nullable=False),
    Column("item_id", "int4", nullable=False),
    Column("provider_id", "int4", nullable=False),
    *(Column(name, "float8", nullable=False) for name in SUMS),
)
# item_volatility's columns as written, the window's name first.
_STORED_COLUMNS = (
    Column("window_name", "text", nullable=False),
    Column("as_of", "timestamptz", nullable=False),
    Column("item_id", "int4", nullable=False),
    Column("provider_id", "int2", nullable=False),
    Column("samples", "int8", nullable=False),
    Column("mean_cents", "float8", nullable=False),
    Column("stddev_cents", "float8", nullable=False),
    Column("previous_mean_cents", "float8", nullable=True),
    Column("pct_change", "float8", nullable=True),
    Column("bollinger_upper_cents", "float8", nullable=False),
    Column("bollinger_lower_cents", "float8", nullable=False),
    Column("coefficient_of_variation", "float8", nullable=True),
    Column("trend_cents_per_hour", "float8", nullable=True),
)
_COPY_STORED = sql.SQL("COPY item_volatility ({}) FROM STDIN (FORMAT binary)").format(
    sql.SQL(", ").join(sql.Identifier(c.name) for c in _STORED_COLUMNS)
)


@dataclass(frozen=True)
class SegmentQuery:
    """One COPY of segment sums: its SQL file, and its parameters but the item range."""

    statement: str
    params: dict[str, object]


def segment_queries(
    window: VolatilityWindow, as_of: list[datetime], plan: ScanPlan
) -> list[SegmentQuery]:
    """The hours and whole days read, each with the point (index into
    ``plan.points``) whose segment holds it: segments of one bucket in one query,
    wider ones in another; each split again by whether any window of ``as_of``
    needs the segment's every sum, or only a previous window reads it."""
    index = {point: n for n, point in enumerate(plan.points)}
    hours = [(hour, index[plan.point_of(hour)]) for hour in plan.hours]
    days = [(day, index[plan.point_of(day + DAY - HOUR)]) for day in plan.days]
    buckets = collections.Counter(point for _, point in hours + days)  # per segment
    t_ref = int((min(as_of) - 2 * window.width - BUCKET_ORIGIN).total_seconds())
    # A segment ending at or before the earliest window's start is read only as part
    # of previous windows, whose % change needs the count and the price sum alone:
    # the other sums (the costliest, 30-digit time² sums) are left 0 there. Running
    # sums from that 0 still give every window's exact sums: a window's are the
    # difference of two running sums that both hold the same previous segments.
    first_start = plan.points.index(min(as_of) - HOUR - window.width)

    def kind(point: int) -> tuple[bool, bool]:
        """(a segment of one bucket, a segment some window reads whole)"""
        return buckets[point] == 1, point > first_start

    queries = []
    for statement, single in (
        ("volatility_single_buckets.sql", True),
        ("volatility_wide_segments.sql", False),
    ):
        for full_sums in (True, False):
            chosen_hours = [(h, p) for h, p in hours if kind(p) == (single, full_sums)]
            chosen_days = [(d, p) for d, p in days if kind(p) == (single, full_sums)]
            if chosen_hours or chosen_days:
                params: dict[str, object] = {
                    "hours": [h for h, _ in chosen_hours],
                    "hour_points": [p for _, p in chosen_hours],
                    "days": [d for d, _ in chosen_days],
                    "day_points": [p for _, p in chosen_days],
                    "t_ref": t_ref,
                    "full_sums": full_sums,
                }
                queries.append(SegmentQuery(statement, params))
    return queries


def _composed(statement: str) -> sql.Composed:
    here = str(Path(__file__).parent)
    buckets = sql.SQL(load_sql(here, "volatility_buckets.sql"))
    return sql.SQL(load_sql(here, statement)).format(buckets=buckets)


def read_segments(
    conn: psycopg.Connection, queries: list[SegmentQuery], items: range
) -> pl.DataFrame:
    """Per series of ``items`` and point, the sums of the segment ending there, times
    re-based to t − r (r = min(as_of) − 2W, the start of the scanned range)."""
    frames = []
    bounds = {"items_from": items.start, "items_to": items.stop}
    for query in queries:
        data = bytearray()  # one buffer: a list of the rows' messages would double the peak
        with (
            conn.cursor() as cur,
            cur.copy(_composed(query.statement), {**query.params, **bounds}) as copy,
        ):
            for block in copy:
                data += block
        frames.append(decode_rows(data, _SEGMENT_COLUMNS))
    return pl.concat(frames) if frames else decode_rows(HEADER + TRAILER, _SEGMENT_COLUMNS)


def window_metrics(
    segments: pl.DataFrame, window: VolatilityWindow, as_of: list[datetime], plan: ScanPlan
) -> pl.DataFrame:
    """The metrics of every series with two samples or more in the window at each
    ``as_of``, from the running sums C at the points (see volatility_plan):
      mean μ = Σx/N            σ = √(Σ(x−μ)²/N) = √(NΣx² − (Σx)²)/N   (population)
      Bollinger = μ ± 2σ       CoV = σ/μ
      percent change = (μ − μ_prev)/μ_prev × 100, μ_prev over [T − 2W, T − W)
      trend = least-squares slope of price on time, (NΣtx − ΣtΣx)/(NΣt² − (Σt)²) per hour
    """
    moments = sorted(set(as_of))
    # Each series' segment sums on a grid of its points (a segment per point at
    # most), so the running sums are a cumulative sum along each series' own row:
    # exact per series, where one running sum over every series would lose digits.
    item = segments.get_column("item_id").to_numpy()
    provider = segments.get_column("provider_id").to_numpy()
    keys, series = np.unique(item.astype(np.int64) << 16 | provider, return_inverse=True)
    grid = np.zeros((len(SUMS), len(keys), len(plan.points)))
    grid[:, series, segments.get_column("point").to_numpy()] = segments.select(SUMS).to_numpy().T
    running = np.cumsum(grid, axis=2, out=grid)

    def at(kind: int) -> np.ndarray:
        """C(T − 1h − kind·W) per sum, series and as-of."""
        return running[:, :, [plan.points.index(t - HOUR - kind * window.width) for t in moments]]

    now, start, previous = at(0), at(1), at(2)
    n, sx, sxx, st, stt, stx = (now[k] - start[k] for k in range(len(SUMS)))
    n_prev, sx_prev = start[0] - previous[0], start[1] - previous[1]
    n, sx, sxx, st, stt, stx, n_prev, sx_prev = (
        a.ravel() for a in (n, sx, sxx, st, stt, stx, n_prev, sx_prev)
    )  # series-major, as-of minor
    keep = n >= 2
    with np.errstate(divide="ignore", invalid="ignore"):
        mean = sx / n
        sigma = np.sqrt(np.maximum(n * sxx - sx * sx, 0)) / n
        mean_prev = np.where(n_prev > 0, sx_prev / n_prev, np.nan)
        spread = n * stt - st * st
        slope = np.where(spread > 0, (n * stx - st * sx) / spread * 3600, np.nan)
        pct = np.where(mean_prev > 0, (mean - mean_prev) / mean_prev * 100, np.nan)
        cov = np.where(mean > 0, sigma / mean, np.nan)
    per_series = np.repeat(keys, len(moments))[keep]
    per_moment = np.tile(np.arange(len(moments)), len(keys))[keep]
    metrics = pl.DataFrame(
        {
            "as_of": pl.Series(moments, dtype=pl.Datetime("us", "UTC")).gather(per_moment),
            "item_id": (per_series >> 16).astype(np.int32),
            "provider_id": (per_series & 0xFFFF).astype(np.int16),
            "samples": n[keep].astype(np.int64),
            "mean_cents": mean[keep],
            "stddev_cents": sigma[keep],
            "previous_mean_cents": mean_prev[keep],
            "pct_change": pct[keep],
            "bollinger_upper_cents": (mean + 2 * sigma)[keep],
            "bollinger_lower_cents": (mean - 2 * sigma)[keep],
            "coefficient_of_variation": cov[keep],
            "trend_cents_per_hour": slope[keep],
        }
    )
    nullable = [c.name for c in _STORED_COLUMNS if c.nullable]
    return metrics.with_columns(pl.col(nullable).fill_nan(None), window_name=pl.lit(window.name))


def write_metrics(conn: psycopg.Connection, metrics: pl.DataFrame) -> None:
    with conn.cursor() as cur, cur.copy(_COPY_STORED) as copy:
        for payload in iter_copy_payload(metrics, 100_000, _STORED_COLUMNS):
            copy.write(payload)
