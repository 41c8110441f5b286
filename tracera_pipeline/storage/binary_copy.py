"""Encode a polars DataFrame as PostgreSQL binary COPY data, vectorised.

Every price_history column is fixed width, so a tuple is a packed numpy record
(field count, then length + big-endian value per field). Rows are grouped by
which nullable columns are NULL (a NULL field has length -1 and no data), each
group is one numpy record array, and ``tobytes`` yields the wire format: no
per-row Python, no text parsing on the server.
"""

from __future__ import annotations

import itertools
import struct
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import polars as pl

HEADER = b"PGCOPY\n\xff\r\n\x00" + struct.pack(">ii", 0, 0)
TRAILER = struct.pack(">h", -1)
# PostgreSQL timestamps count microseconds from 2000-01-01 UTC.
_PG_EPOCH_US = 946_684_800_000_000


@dataclass(frozen=True)
class Column:
    name: str
    pg_type: str  # "timestamptz", "int2", "int4" or "int8"
    nullable: bool


_NUMPY_TYPE = {"timestamptz": ">i8", "int8": ">i8", "int4": ">i4", "int2": ">i2"}
_SIZE = {"timestamptz": 8, "int8": 8, "int4": 4, "int2": 2}

PRICE_HISTORY_COLUMNS = (
    Column("time", "timestamptz", nullable=False),
    Column("item_id", "int4", nullable=False),
    Column("provider_id", "int2", nullable=False),
    Column("price_cents", "int8", nullable=False),
    Column("volume", "int4", nullable=True),
    Column("listings", "int4", nullable=True),
)


def _record_dtype(columns: tuple[Column, ...], nulls: tuple[bool, ...]) -> np.dtype:
    fields: list[tuple[str, str]] = [("field_count", ">i2")]
    for column, is_null in zip(columns, nulls, strict=True):
        fields.append((f"{column.name}__len", ">i4"))
        if not is_null:
            fields.append((column.name, _NUMPY_TYPE[column.pg_type]))
    return np.dtype(fields)  # packed: no alignment padding


def _values(frame: pl.DataFrame, column: Column) -> np.ndarray:
    series = frame.get_column(column.name)
    if column.pg_type == "timestamptz":
        micros = series.dt.cast_time_unit("us").dt.epoch("us")
        return micros.to_numpy() - _PG_EPOCH_US
    return series.to_numpy()


def _encode_group(
    frame: pl.DataFrame, columns: tuple[Column, ...], nulls: tuple[bool, ...]
) -> bytes:
    records = np.empty(frame.height, dtype=_record_dtype(columns, nulls))
    records["field_count"] = len(columns)
    for column, is_null in zip(columns, nulls, strict=True):
        records[f"{column.name}__len"] = -1 if is_null else _SIZE[column.pg_type]
        if not is_null:
            records[column.name] = _values(frame, column)
    return records.tobytes()


def encode_rows(frame: pl.DataFrame, columns: tuple[Column, ...] = PRICE_HISTORY_COLUMNS) -> bytes:
    """The tuples of ``frame`` in binary COPY format (no header or trailer)."""
    nullable = [c for c in columns if c.nullable]
    any_null = pl.any_horizontal(pl.col(c.name).is_null() for c in nullable).any()
    if not nullable or not frame.select(any_null).item():
        return _encode_group(frame, columns, (False,) * len(columns))
    # Rare path: split rows by their NULL pattern; row order does not matter to COPY.
    masks = [pl.col(c.name).is_null() if c.nullable else pl.lit(False) for c in columns]
    chunks = []
    for pattern in itertools.product((False, True), repeat=len(nullable)):
        it = iter(pattern)
        nulls = tuple(next(it) if c.nullable else False for c in columns)
        condition = pl.all_horizontal(m if n else ~m for m, n in zip(masks, nulls, strict=True))
        group = frame.filter(condition)
        if group.height:
            chunks.append(_encode_group(group, columns, nulls))
    return b"".join(chunks)


def iter_copy_payload(
    frame: pl.DataFrame, chunk_rows: int, columns: tuple[Column, ...] = PRICE_HISTORY_COLUMNS
) -> Iterator[bytes]:
    """A whole binary COPY stream in chunks of ``chunk_rows`` tuples."""
    yield HEADER
    for offset in range(0, frame.height, chunk_rows):
        yield encode_rows(frame.slice(offset, chunk_rows), columns)
    yield TRAILER
