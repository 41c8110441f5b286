"""Raw-data retention: drop whole days/chunks older than the cutoff, but only
where the 1h aggregate already holds every raw row (coarser levels roll up from
1h, so they never need raw data again).

Only the oldest contiguous run of droppable days goes, and the end of it is kept
as a watermark: aggregate refreshes never rebuild buckets before it.
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


def raw_watermark(conn: psycopg.Connection) -> datetime | None:
    row = conn.execute(
        "SELECT value FROM pipeline_state WHERE key = %s", (WATERMARK_KEY,)
    ).fetchone()
    return datetime.fromisoformat(row[0]) if row else None


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
    rows = conn.execute(
        compose(__file__, "unaggregated_hours.sql"), {"origin": _ORIGIN, "lo": start, "hi": end}
    ).fetchall()
    return [bucket for (bucket,) in rows]


def plan_retention(conn: psycopg.Connection, flavor: Flavor, cutoff: datetime) -> RetentionPlan:
    plan = RetentionPlan(cutoff=cutoff)
    for segment in _segments_before(conn, flavor, cutoff):
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


def apply_retention(
    conn: psycopg.Connection, flavor: Flavor, plan: RetentionPlan
) -> list[RawSegment]:
    """Drop the plan's segments, oldest first, and advance the watermark."""
    if not plan.droppable:
        return []
    new_watermark = plan.droppable[-1].end
    with conn.transaction():
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
    return list(plan.droppable)
