"""PostgreSQL binary COPY data to and from polars DataFrames, vectorised.

Every price_history column is fixed width, so a tuple is a packed numpy record
(field count, then length + big-endian value per field). Rows are grouped by
which nullable columns are NULL (a NULL field has length -1 and no data), each
group is one numpy record array, and ``tobytes`` yields the wire format: no
per-row Python, no text parsing on the server. ``decode_rows`` reads a
``COPY … TO STDOUT (FORMAT binary)`` of fixed-width, non-NULL columns the same way.
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


_NUMPY_TYPE = {
    "timestamptz": ">i8",
    "int8": ">i8",
    "int4": ">i4",
    "int2": ">i2",
    "float8": ">f8",
}
_SIZE = {"timestamptz": 8, "int8": 8, "int4": 4, "int2": 2, "float8": 8}

PRICE_HISTORY_COLUMNS = (
    Column("time", "timestamptz", nullable=False),
    Column("item_id", "int4", nullable=False),
    Column("provider_id", "int2", nullable=False),
    Column("price_cents", "int8", nullable=False),
    Column("volume", "int4", nullable=True),
    Column("listings", "int4", nullable=True),
)


def _record_dtype(
    columns: tuple[Column, ...], nulls: tuple[bool, ...], widths: dict[str, int] | None = None
) -> np.dtype:
    """``widths``: the byte length of each text column's values (one per group)."""
    fields: list[tuple[str, str]] = [("field_count", ">i2")]
    for column, is_null in zip(columns, nulls, strict=True):
        fields.append((f"{column.name}__len", ">i4"))
        if not is_null:
            kind = _NUMPY_TYPE.get(column.pg_type) or f"S{(widths or {})[column.name]}"
            fields.append((column.name, kind))
    return np.dtype(fields)  # packed: no alignment padding


def _values(frame: pl.DataFrame, column: Column) -> np.ndarray:
    series = frame.get_column(column.name)
    if column.pg_type == "timestamptz":
        micros = series.dt.cast_time_unit("us").dt.epoch("us")
        return micros.to_numpy() - _PG_EPOCH_US
    if column.pg_type == "text":
        return series.cast(pl.Binary).to_numpy()
    return series.to_numpy()


def _encode_group(
    frame: pl.DataFrame, columns: tuple[Column, ...], nulls: tuple[bool, ...]
) -> bytes:
    widths = {
        c.name: frame.get_column(c.name).str.len_bytes().max() or 0
        for c in columns
        if c.pg_type == "text"
    }
    records = np.empty(frame.height, dtype=_record_dtype(columns, nulls, widths))
    records["field_count"] = len(columns)
    for column, is_null in zip(columns, nulls, strict=True):
        size = widths.get(column.name) or _SIZE.get(column.pg_type, 0)
        records[f"{column.name}__len"] = -1 if is_null else size
        if not is_null:
            records[column.name] = _values(frame, column)
    return records.tobytes()


def encode_rows(frame: pl.DataFrame, columns: tuple[Column, ...] = PRICE_HISTORY_COLUMNS) -> bytes:
    """The tuples of ``frame`` in binary COPY format (no header or trailer).

    Text columns (never NULL) are fixed width within a group of rows: the frame is
    split by their values' byte lengths (one group for a constant such as a key)."""
    texts = [c.name for c in columns if c.pg_type == "text"]
    if texts and frame.select(pl.col(texts).str.len_bytes().n_unique().max()).item() > 1:
        lengths = [pl.col(name).str.len_bytes().cast(pl.String) for name in texts]
        keyed = frame.with_columns(pl.concat_str(lengths, separator=",").alias("__widths"))
        groups = keyed.partition_by("__widths", include_key=False)
        return b"".join(encode_rows(group, columns) for group in groups)
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


def decode_rows(data: bytes, columns: tuple[Column, ...]) -> pl.DataFrame:
    """The tuples of a whole binary COPY stream (header to trailer) whose columns are
    all fixed width and never NULL (``nullable`` must be False: a NULL would shift
    every later field, so it is refused, not misread)."""
    if any(c.nullable or c.pg_type == "timestamptz" for c in columns):
        raise ValueError("decode_rows reads non-NULL numeric columns only")
    if not data.startswith(HEADER[:11]) or not data.endswith(TRAILER):
        raise ValueError("not a binary COPY stream (no PGCOPY header or trailer)")
    (extension,) = struct.unpack_from(">i", data, 15)
    body = memoryview(data)[19 + extension : len(data) - len(TRAILER)]
    dtype = _record_dtype(columns, (False,) * len(columns))
    if len(body) % dtype.itemsize:
        raise ValueError("binary COPY tuples of another shape than the columns (a NULL?)")
    records = np.frombuffer(body, dtype=dtype)
    lengths_ok = (
        all((records[f"{c.name}__len"] == _SIZE[c.pg_type]).all() for c in columns)
        and (records["field_count"] == len(columns)).all()
    )
    if not lengths_ok:
        raise ValueError("binary COPY tuples of another shape than the columns (a NULL?)")
    return pl.DataFrame(
        {c.name: records[c.name].astype(_NUMPY_TYPE[c.pg_type].replace(">", "=")) for c in columns}
    )
