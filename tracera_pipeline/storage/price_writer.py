"""Write one partition window of one provider's prices: polars → binary COPY.

Two idempotent modes, each one transaction under a per-(provider, window)
advisory lock, so concurrent runs of the same window serialise and end with the
rows of one run:

* ``replace`` — delete the provider's rows in the window, then COPY straight into
  ``price_history``. For sources that return the whole window (synthetic,
  history APIs): the fastest path.
* ``merge`` — COPY into a temporary table, then upsert. For live snapshots: rows
  collected earlier in an open window survive a later re-run of that window.
"""

from __future__ import annotations

import enum
import time
from dataclasses import dataclass
from datetime import datetime

import polars as pl
import psycopg
from psycopg import sql

from tracera_pipeline.storage.binary_copy import PRICE_HISTORY_COLUMNS, iter_copy_payload
from tracera_pipeline.storage.flavor import Flavor
from tracera_pipeline.storage.native_partitions import ensure_partitions
from tracera_pipeline.storage.retention import guard_window

_COLUMNS = sql.SQL(", ").join(sql.Identifier(c.name) for c in PRICE_HISTORY_COLUMNS)
_COPY = "COPY {table} ({columns}) FROM STDIN (FORMAT binary)"
_COPY_TARGET = sql.SQL(_COPY).format(table=sql.Identifier("price_history"), columns=_COLUMNS)
_COPY_STAGING = sql.SQL(_COPY).format(table=sql.Identifier("price_staging"), columns=_COLUMNS)
_UPSERT_FROM_STAGING = sql.SQL(
    "INSERT INTO price_history ({columns})"
    " SELECT {columns} FROM price_staging ORDER BY item_id, provider_id, time"
    " ON CONFLICT (item_id, provider_id, time) DO UPDATE SET"
    " price_cents = EXCLUDED.price_cents, volume = EXCLUDED.volume, listings = EXCLUDED.listings"
).format(columns=_COLUMNS)
_WINDOW_LOCK_NAMESPACE = 0x5452  # "TR": first key of the two-key advisory lock


class WriteMode(enum.StrEnum):
    REPLACE = "replace"
    MERGE = "merge"


@dataclass(frozen=True)
class WriteResult:
    rows_written: int
    rows_replaced: int
    seconds: float


def _window_lock(conn: psycopg.Connection, provider_id: int, window_start: datetime) -> None:
    key = (provider_id << 24) ^ int(window_start.timestamp() // 60)
    conn.execute(
        "SELECT pg_advisory_xact_lock(%s, %s)", (_WINDOW_LOCK_NAMESPACE, key & 0x7FFF_FFFF)
    )


def _copy(
    conn: psycopg.Connection, statement: sql.Composed, frame: pl.DataFrame, chunk_rows: int
) -> None:
    with conn.cursor() as cur, cur.copy(statement) as copy:
        for payload in iter_copy_payload(frame, chunk_rows):
            copy.write(payload)


def write_price_window(
    conn: psycopg.Connection,
    frame: pl.DataFrame,
    *,
    flavor: Flavor,
    provider_id: int,
    window_start: datetime,
    window_end: datetime,
    mode: WriteMode = WriteMode.REPLACE,
    chunk_rows: int = 100_000,
) -> WriteResult:
    """Write ``frame`` (price_history columns, item ids resolved) for one window."""
    started = time.perf_counter()
    if frame.is_empty():
        # Nothing fetched is no reason to delete what an earlier run stored.
        return WriteResult(0, 0, time.perf_counter() - started)
    frame = frame.with_columns(pl.lit(provider_id, dtype=pl.Int16).alias("provider_id"))
    if flavor is Flavor.NATIVE:
        ensure_partitions(conn, window_start, window_end)
    replaced = 0
    with conn.transaction():
        _window_lock(conn, provider_id, window_start)
        guard_window(conn, window_start)  # retention waits; hours it passed are refused
        if mode is WriteMode.REPLACE:
            replaced = conn.execute(
                "DELETE FROM price_history WHERE provider_id = %s AND time >= %s AND time < %s",
                (provider_id, window_start, window_end),
            ).rowcount
            _copy(conn, _COPY_TARGET, frame, chunk_rows)
        else:
            conn.execute(
                "CREATE TEMPORARY TABLE price_staging"
                " (LIKE price_history INCLUDING DEFAULTS) ON COMMIT DROP"
            )
            _copy(conn, _COPY_STAGING, frame, chunk_rows)
            conn.execute(_UPSERT_FROM_STAGING)
    return WriteResult(frame.height, replaced, time.perf_counter() - started)
