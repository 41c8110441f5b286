"""Daily range partitions of ``price_history`` on plain PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import psycopg
from psycopg import sql

_LOCK_KEY = 0x7472_6163_6572_6132  # serialises partition DDL across writers


def partition_name(day: datetime) -> str:
    return f"price_history_p{day:%Y%m%d}"


def day_floor(moment: datetime) -> datetime:
    moment = moment.astimezone(UTC)
    return moment.replace(hour=0, minute=0, second=0, microsecond=0)


def days_between(start: datetime, end: datetime) -> list[datetime]:
    """UTC days overlapping ``[start, end)``."""
    day, days = day_floor(start), []
    while day < end:
        days.append(day)
        day += timedelta(days=1)
    return days


def existing_partitions(conn: psycopg.Connection) -> set[str]:
    rows = conn.execute(
        "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid"
        " WHERE i.inhparent = 'price_history'::regclass"
    ).fetchall()
    return {name for (name,) in rows}


def ensure_partitions(conn: psycopg.Connection, start: datetime, end: datetime) -> list[str]:
    """Create the missing day partitions for ``[start, end)``; returns those created."""
    wanted = {partition_name(day): day for day in days_between(start, end)}
    if not wanted.keys() - existing_partitions(conn):
        return []
    created = []
    with conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(%s)", (_LOCK_KEY,))
        missing = wanted.keys() - existing_partitions(conn)
        for name in sorted(missing):
            day = wanted[name]
            conn.execute(
                sql.SQL(
                    "CREATE TABLE {} PARTITION OF price_history FOR VALUES FROM ({}) TO ({})"
                ).format(
                    sql.Identifier(name),
                    sql.Literal(day),
                    sql.Literal(day + timedelta(days=1)),
                )
            )
            created.append(name)
    return created


def partitions_before(conn: psycopg.Connection, cutoff: datetime) -> list[tuple[str, datetime]]:
    """Day partitions lying wholly before ``cutoff``, oldest first."""
    result = []
    for name in existing_partitions(conn):
        day = datetime.strptime(name.removeprefix("price_history_p"), "%Y%m%d").replace(tzinfo=UTC)
        if day + timedelta(days=1) <= cutoff:
            result.append((name, day))
    return sorted(result, key=lambda pair: pair[1])


def drop_partition(conn: psycopg.Connection, name: str) -> None:
    conn.execute(sql.SQL("DROP TABLE {}").format(sql.Identifier(name)))
