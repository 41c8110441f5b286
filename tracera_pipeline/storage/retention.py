"""Raw-data retention: drop whole days/chunks older than the cutoff, but only
where the 1h aggregate already holds every raw row (coarser levels roll up from
1h, so they never need raw data again).

Only the oldest contiguous run of droppable days goes, and the end of it is kept
as a watermark: aggregate refreshes never rebuild buckets before it. So raw rows
written before the watermark could never be aggregated: writers refuse such
windows (``guard_window``), and retention serialises with writers through one
advisory lock (shared for writers, exclusive for retention), planning again
under it, so a write that lands while retention plans is never dropped unseen.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import psycopg

from tracera_pipeline.storage import native_partitions
from tracera_pipeline.storage.flavor import Flavor
from tracera_pipeline.storage.queries import compose

log = logging.getLogger(__name__)

WATERMARK_KEY = "raw_retained_from"
_ORIGIN = datetime(2000, 1, 3, tzinfo=UTC)
# Shared by every price write, exclusive for retention (one bigint advisory key).
_RETENTION_LOCK = 0x7472_6163_6572_6133  # "tracera3"


class BeforeWatermarkError(RuntimeError):
    """A write into raw hours retention has already passed; the message names the fix."""


@dataclass(frozen=True)
class RawSegment:
    """A day partition (native) or chunk (TimescaleDB) of price_history."""

    name: str
    start: datetime
    end: datetime


@dataclass
class RetentionPlan:
    cutoff: datetime
    droppable: list[RawSegment] = field(default_factory=list)
    # The first segment that must stay, and why (later ones wait behind it).
    blocked: tuple[RawSegment, str] | None = None
    # Droppable segments lying wholly before the watermark, with their row counts:
    # raw rows that landed after retention had passed their day (a backfill made
    # before such writes were refused). No refresh may ever aggregate them, and
    # keeping them would stop retention there for good, so they go, loudly.
    orphaned: dict[str, int] = field(default_factory=dict)


def raw_watermark(conn: psycopg.Connection) -> datetime | None:
    row = conn.execute(
        "SELECT value FROM pipeline_state WHERE key = %s", (WATERMARK_KEY,)
    ).fetchone()
    return datetime.fromisoformat(row[0]) if row else None


def before_watermark_message(first_partition: datetime, watermark: datetime) -> str:
    return (
        f"partition {first_partition:%Y-%m-%d-%H:%M} lies before the raw-retention watermark"
        f" {watermark:%Y-%m-%d %H:%M} UTC, where raw rows can never be aggregated again, so"
        f" backfill from {watermark:%Y-%m-%d-%H:%M} on (or raise TRACERA_RAW_RETENTION_DAYS"
        " before retention reaches the days you want to re-ingest)"
    )


def refuse_before_watermark(conn: psycopg.Connection, window_start: datetime) -> None:
    """Raise ``BeforeWatermarkError`` if raw rows from ``window_start`` on could not be kept."""
    watermark = raw_watermark(conn)
    if watermark is not None and window_start < watermark:
        raise BeforeWatermarkError(before_watermark_message(window_start, watermark))


def guard_window(conn: psycopg.Connection, window_start: datetime) -> None:
    """Inside a write transaction: hold retention off until it commits, and refuse a
    window retention has already passed (it may have moved since the step began)."""
    conn.execute("SELECT pg_advisory_xact_lock_shared(%s)", (_RETENTION_LOCK,))
    refuse_before_watermark(conn, window_start)


def retention_cutoff(now: datetime, retention_days: int) -> datetime:
    """Raw data before this (a UTC midnight) is past retention."""
    return native_partitions.day_floor(now - timedelta(days=retention_days))


def _segments_before(
    conn: psycopg.Connection, flavor: Flavor, cutoff: datetime
) -> list[RawSegment]:
    if flavor is Flavor.NATIVE:
        return [
            RawSegment(name, day, day + timedelta(days=1))
            for name, day in native_partitions.partitions_before(conn, cutoff)
        ]
    rows = conn.execute(
        "SELECT chunk_schema || '.' || chunk_name, range_start, range_end"
        " FROM timescaledb_information.chunks"
        " WHERE hypertable_name = 'price_history' AND range_end <= %s ORDER BY range_start",
        (cutoff,),
    ).fetchall()
    return [RawSegment(name, start, end) for name, start, end in rows]


def unaggregated_hours(conn: psycopg.Connection, start: datetime, end: datetime) -> list[datetime]:
    """Hours in ``[start, end)`` whose raw rows differ from what ``price_1h`` holds."""
    rows = conn.execute(
        compose(__file__, "unaggregated_hours.sql"), {"origin": _ORIGIN, "lo": start, "hi": end}
    ).fetchall()
    return [bucket for (bucket,) in rows]


def _raw_rows(conn: psycopg.Connection, segment: RawSegment) -> int:
    return conn.execute(
        "SELECT count(*) FROM price_history WHERE time >= %s AND time < %s",
        (segment.start, segment.end),
    ).fetchone()[0]


def plan_retention(conn: psycopg.Connection, flavor: Flavor, cutoff: datetime) -> RetentionPlan:
    plan = RetentionPlan(cutoff=cutoff)
    watermark = raw_watermark(conn)
    for segment in _segments_before(conn, flavor, cutoff):
        if watermark is not None and segment.end <= watermark:
            plan.orphaned[segment.name] = _raw_rows(conn, segment)
            plan.droppable.append(segment)
            continue
        missing = unaggregated_hours(conn, segment.start, segment.end)
        if missing:
            reason = (
                f"{len(missing)} hour(s) not aggregated yet, first {missing[0].isoformat()}; "
                "materialize aggregates/price_1h for them first"
            )
            plan.blocked = (segment, reason)
            break
        plan.droppable.append(segment)
    return plan


def apply_retention(conn: psycopg.Connection, flavor: Flavor, cutoff: datetime) -> RetentionPlan:
    """Plan again under the retention lock, drop what that plan allows (oldest first)
    and advance the watermark; returns the plan applied."""
    with conn.transaction():
        # Waits for writes in flight and holds new ones off: what is planned now
        # is exactly what is dropped.
        conn.execute("SELECT pg_advisory_xact_lock(%s)", (_RETENTION_LOCK,))
        plan = plan_retention(conn, flavor, cutoff)
        if not plan.droppable:
            return plan
        old_watermark = raw_watermark(conn)
        new_watermark = max(plan.droppable[-1].end, old_watermark or plan.droppable[-1].end)
        # Watermark first (same transaction): a concurrent refresh either sees
        # the rows or the watermark, never neither.
        conn.execute(
            "INSERT INTO pipeline_state (key, value) VALUES (%s, %s)"
            " ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value, updated_at = now()",
            (WATERMARK_KEY, new_watermark.isoformat()),
        )
        if flavor is Flavor.NATIVE:
            for segment in plan.droppable:
                native_partitions.drop_partition(conn, segment.name)
        else:
            conn.execute("SELECT drop_chunks('price_history', older_than => %s)", (new_watermark,))
    for segment in plan.droppable:
        log.info("retention dropped %s [%s, %s)", segment.name, segment.start, segment.end)
    return plan
