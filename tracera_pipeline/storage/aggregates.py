"""Refresh the 1h/24h/7d aggregates for exactly the buckets a window touches."""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import psycopg
from psycopg import sql

from tracera_pipeline.storage.flavor import Flavor
from tracera_pipeline.storage.queries import compose
from tracera_pipeline.storage.retention import raw_watermark

# TimescaleDB's time_bucket aligns buckets to Monday 2000-01-03; date_bin does
# the same with this origin, so 7-day buckets agree between flavours.
BUCKET_ORIGIN = datetime(2000, 1, 3, tzinfo=UTC)


@dataclass(frozen=True)
class AggregateLevel:
    name: str
    table: str
    width: timedelta
    source: str  # the finer level it is built from


LEVELS = {
    "1h": AggregateLevel("1h", "price_1h", timedelta(hours=1), "price_history"),
    "24h": AggregateLevel("24h", "price_24h", timedelta(hours=24), "price_1h"),
    "7d": AggregateLevel("7d", "price_7d", timedelta(days=7), "price_24h"),
}


@dataclass(frozen=True)
class RefreshResult:
    level: str
    bucket_start: datetime
    bucket_end: datetime
    rows: int
    seconds: float
    clamped_by_retention: bool


def bucket_floor(moment: datetime, width: timedelta) -> datetime:
    return BUCKET_ORIGIN + ((moment - BUCKET_ORIGIN) // width) * width


def bucket_ceil(moment: datetime, width: timedelta) -> datetime:
    floor = bucket_floor(moment, width)
    return floor if floor == moment else floor + width


def _lock(conn: psycopg.Connection, table: str) -> None:
    conn.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", (f"refresh:{table}",))


def _refresh_native(
    conn: psycopg.Connection, level: AggregateLevel, lo: datetime, hi: datetime
) -> None:
    statement = (
        compose(__file__, "refresh_1h_from_raw.sql", target=level.table)
        if level.source == "price_history"
        else compose(__file__, "refresh_rollup.sql", target=level.table, source=level.source)
    )
    with conn.transaction():
        _lock(conn, level.table)
        # A day of raw rows groups into ~72,000 buckets per 3,000 series, with numeric
        # sums: with the default 4 MB the hash aggregate spilled 40 MB to disk in 9
        # batches (its time 0.8 -> 0.4 s). JIT compiles for longer than it saves here.
        conn.execute("SET LOCAL work_mem = '256MB'")
        conn.execute("SET LOCAL jit = off")
        conn.execute(
            sql.SQL("DELETE FROM {} WHERE bucket >= %s AND bucket < %s").format(
                sql.Identifier(level.table)
            ),
            (lo, hi),
        )
        conn.execute(statement, {"width": level.width, "origin": BUCKET_ORIGIN, "lo": lo, "hi": hi})


def _refresh_timescaledb(
    conn: psycopg.Connection, level: AggregateLevel, lo: datetime, hi: datetime
) -> None:
    # refresh_continuous_aggregate refuses to run inside a transaction block.
    if not conn.autocommit:
        raise RuntimeError("refresh_continuous_aggregate needs an autocommit connection")
    conn.execute("CALL refresh_continuous_aggregate(%s, %s, %s)", (level.table, lo, hi))


def refresh_level(
    conn: psycopg.Connection, flavor: Flavor, level: AggregateLevel, start: datetime, end: datetime
) -> RefreshResult:
    """Recompute every bucket of ``level`` that overlaps ``[start, end)``."""
    started = time.perf_counter()
    lo, hi = bucket_floor(start, level.width), bucket_ceil(end, level.width)
    clamped = False
    if level.source == "price_history":
        # Never rebuild buckets whose raw rows retention already dropped: that
        # would erase them. Coarser levels roll up from 1h, which is kept.
        watermark = raw_watermark(conn)
        if watermark and lo < watermark:
            lo, clamped = min(bucket_ceil(watermark, level.width), hi), True
    if lo < hi:
        if flavor is Flavor.TIMESCALEDB:
            _refresh_timescaledb(conn, level, lo, hi)
        else:
            _refresh_native(conn, level, lo, hi)
    rows = conn.execute(
        sql.SQL("SELECT count(*) FROM {} WHERE bucket >= %s AND bucket < %s").format(
            sql.Identifier(level.table)
        ),
        (bucket_floor(start, level.width), hi),
    ).fetchone()[0]
    return RefreshResult(level.name, lo, hi, rows, time.perf_counter() - started, clamped)
