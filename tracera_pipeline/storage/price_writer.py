"""Write one provider's prices for one or more partition windows: polars → binary COPY.

Two idempotent modes, each one transaction under per-(provider, window)
advisory locks, so concurrent runs of the same window serialise and end with the
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


def window_lock_key(provider_id: int, window_start: datetime) -> tuple[int, int]:
    """The advisory lock (two-key form) that serialises writers of one provider's window."""
    key = (provider_id << 24) ^ int(window_start.timestamp() // 60)
    return _WINDOW_LOCK_NAMESPACE, key & 0x7FFF_FFFF


def _lock_windows(conn: psycopg.Connection, provider_id: int, starts: list[datetime]) -> None:
    """Every window's lock in one round trip (a day's run has 24), in the order given."""
    keys = [window_lock_key(provider_id, start)[1] for start in starts]
    conn.execute(
        "SELECT pg_advisory_xact_lock(%s, key)"
        " FROM unnest(%s::integer[]) WITH ORDINALITY AS wanted(key, position)"
        " ORDER BY position",
        (_WINDOW_LOCK_NAMESPACE, keys),
    )


def _copy(
    conn: psycopg.Connection, statement: sql.Composed, frame: pl.DataFrame, chunk_rows: int
) -> None:
    with conn.cursor() as cur:
        with cur.copy(statement) as copy:
            for payload in iter_copy_payload(frame, chunk_rows):
                copy.write(payload)
        # Whatever the chunking did, the window's rows were deleted for these: roll
        # the transaction back rather than commit fewer.
        if cur.rowcount != frame.height:
            raise RuntimeError(f"COPY wrote {cur.rowcount} of {frame.height} rows; nothing kept")


@dataclass(frozen=True)
class Window:
    start: datetime
    end: datetime


def _spans(windows: list[Window]) -> list[Window]:
    """Consecutive windows merged, so a ranged replace deletes with one statement."""
    spans: list[Window] = []
    for window in sorted(windows, key=lambda w: w.start):
        if spans and spans[-1].end == window.start:
            spans[-1] = Window(spans[-1].start, window.end)
        else:
            spans.append(window)
    return spans


def write_price_windows(
    conn: psycopg.Connection,
    frame: pl.DataFrame,
    windows: list[Window],
    *,
    flavor: Flavor,
    provider_id: int,
    mode: WriteMode = WriteMode.REPLACE,
    chunk_rows: int = 100_000,
) -> WriteResult:
    """Write ``frame`` (price_history columns, item ids resolved), whose rows all lie
    in ``windows`` (each window holding at least one row), in ONE transaction.

    A ranged run (a backfill writes 24 hours at once) thus costs one DELETE per
    contiguous span and one COPY — not a scan of the table per hour — and commits
    all its hours or none. Each window's lock is still taken (in time order, so
    writers cannot deadlock), so it serialises with a single-hour run of any of them.
    """
    started = time.perf_counter()
    if frame.is_empty() or not windows:
        # Nothing fetched is no reason to delete what an earlier run stored.
        return WriteResult(0, 0, time.perf_counter() - started)
    if chunk_rows < 1:
        # Refused before anything: a replace deletes the window, then COPYs it back.
        raise ValueError(
            f"TRACERA_COPY_CHUNK_ROWS={chunk_rows} must be at least 1; set it to e.g. 100000"
        )
    frame = frame.with_columns(pl.lit(provider_id, dtype=pl.Int16).alias("provider_id"))
    spans = _spans(windows)
    if flavor is Flavor.NATIVE:
        ensure_partitions(conn, spans[0].start, spans[-1].end)
    replaced = 0
    starts = sorted(window.start for window in windows)
    with conn.transaction():
        # In time order, so that writers cannot deadlock.
        _lock_windows(conn, provider_id, starts)
        # Retention waits; if it passed the earliest hour, the write is refused.
        guard_window(conn, starts[0])
        if mode is WriteMode.REPLACE:
            for span in spans:
                replaced += conn.execute(
                    "DELETE FROM price_history WHERE provider_id = %s AND time >= %s AND time < %s",
                    (provider_id, span.start, span.end),
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
    """Write ``frame`` for one window (see ``write_price_windows``)."""
    return write_price_windows(
        conn,
        frame,
        [Window(window_start, window_end)],
        flavor=flavor,
        provider_id=provider_id,
        mode=mode,
        chunk_rows=chunk_rows,
    )
