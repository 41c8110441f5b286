"""Retention of ``item_volatility``: keep N days of its per-hour as-of rows.

Every hourly partition adds one row per item, market and window (200 items × 3
markets × 3 windows is 43,200 rows a day; a 39k-item catalogue on 5 markets, 14
million), and nothing needed them after the rankings were built. Older rows can be
recomputed at any time by materializing ``analytics/item_volatility`` for those
partitions: the metrics come from ``price_1h``, which is kept indefinitely.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

import psycopg

from tracera_pipeline.analytics.volatility import WINDOWS
from tracera_pipeline.storage.native_partitions import day_floor

log = logging.getLogger(__name__)

SETTING = "TRACERA_VOLATILITY_RETENTION_DAYS"
_BATCH = timedelta(days=1)  # one transaction per day of as-of times: bounded locks and WAL


@dataclass(frozen=True)
class VolatilityPruning:
    cutoff: datetime
    rows_deleted: int
    oldest_kept: datetime | None


def volatility_cutoff(now: datetime, retention_days: int) -> datetime:
    """As-of times before this (a UTC midnight) are past retention."""
    if retention_days < 1:
        raise ValueError(
            f"{SETTING}={retention_days} would delete the volatility the rankings are built"
            f" from; set {SETTING} to a whole number of days of at least 1"
        )
    return day_floor(now - timedelta(days=retention_days))


def oldest_as_of(conn: psycopg.Connection) -> datetime | None:
    """The oldest as-of time stored; one primary-key lookup per window name."""
    row = conn.execute(
        "SELECT min(oldest) FROM unnest(%s::text[]) AS w(name),"
        " LATERAL (SELECT min(as_of) AS oldest FROM item_volatility"
        "          WHERE window_name = w.name) AS per_window",
        (list(WINDOWS),),
    ).fetchone()
    return row[0]


def volatility_expired(conn: psycopg.Connection, cutoff: datetime) -> bool:
    oldest = oldest_as_of(conn)
    return oldest is not None and oldest < cutoff


def prune_volatility(conn: psycopg.Connection, cutoff: datetime) -> VolatilityPruning:
    """Delete rows with ``as_of`` before ``cutoff``, a day per transaction, oldest first."""
    deleted = 0
    # From the oldest day stored each time, so gaps of years cost nothing.
    while (oldest := oldest_as_of(conn)) is not None and oldest < cutoff:
        lo = day_floor(oldest)
        with conn.transaction():
            # window_name leads the primary key: naming all three lets the range use it.
            deleted += conn.execute(
                "DELETE FROM item_volatility"
                " WHERE window_name = ANY(%s) AND as_of >= %s AND as_of < %s",
                (list(WINDOWS), lo, min(lo + _BATCH, cutoff)),
            ).rowcount
    if deleted:
        log.info("volatility retention deleted %d row(s) with as_of before %s", deleted, cutoff)
    return VolatilityPruning(cutoff, deleted, oldest_as_of(conn))
