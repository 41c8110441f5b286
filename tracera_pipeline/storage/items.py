"""The ``items`` catalogue: names seen from providers become items.

``item_id`` is an ``integer`` identity. Every ``INSERT`` that reaches the conflict
check draws a value, inserted or not, so inserting a provider's whole catalogue
with ``ON CONFLICT DO NOTHING`` on every run burnt one id per known name (at
~39k names every 15 minutes the type would run out in about 1.5 years). Only
names not in the catalogue are inserted now: a known name costs no id, and only
names that two writers add at the very same moment can burn one.
"""

from __future__ import annotations

import numpy as np
import polars as pl
import psycopg

_SCHEMA = {"market_hash_name": pl.String, "item_id": pl.Int32}

# Inserts only the names missing from the catalogue, in sorted order so that
# concurrent writers lock index entries in the same order and cannot deadlock, and
# returns every name's id, the known ones beside those it added (``%s``: the names,
# distinct and sorted): one round trip.
_RESOLVE = """
WITH wanted AS (SELECT unnest(%s::text[]) AS name),
added AS (
    INSERT INTO items (market_hash_name)
    SELECT wanted.name
    FROM wanted
    WHERE NOT EXISTS (SELECT 1 FROM items WHERE items.market_hash_name = wanted.name)
    ORDER BY wanted.name
    ON CONFLICT (market_hash_name) DO NOTHING
    RETURNING market_hash_name, item_id
)
SELECT items.market_hash_name, items.item_id, false AS added
FROM items JOIN wanted ON items.market_hash_name = wanted.name
UNION ALL
SELECT market_hash_name, item_id, true FROM added
"""


def _resolve(conn: psycopg.Connection, wanted: list[str]) -> list[tuple[str, int, bool]]:
    with conn.transaction():
        return conn.execute(_RESOLVE, (wanted,)).fetchall()


def existing_item_ids(conn: psycopg.Connection, names: list[str]) -> pl.DataFrame:
    """``market_hash_name → item_id`` for those of ``names`` already in the catalogue."""
    rows = conn.execute(
        "SELECT market_hash_name, item_id FROM items WHERE market_hash_name = ANY(%s)",
        (sorted(set(names)),),
    ).fetchall()
    return pl.DataFrame(rows, schema=_SCHEMA, orient="row")


def add_missing_items(conn: psycopg.Connection, names: list[str]) -> int:
    """Insert the names not yet in the catalogue; how many this call added."""
    return sum(added for _, _, added in _resolve(conn, sorted(set(names))))


def resolve_item_ids(conn: psycopg.Connection, names: list[str]) -> pl.DataFrame:
    """``market_hash_name → item_id`` for ``names``, adding unknown names to the catalogue.

    One round trip: the names known at the statement's start plus those it added.
    """
    wanted = sorted(set(names))
    rows = [(name, item_id) for name, item_id, _ in _resolve(conn, wanted)]
    if len(rows) < len(wanted):
        # Another writer added some of these after this statement's snapshot was
        # taken (its insert skipped them): a new statement sees them.
        found = {name for name, _ in rows}
        missing = [name for name in wanted if name not in found]
        rows.extend(existing_item_ids(conn, missing).iter_rows())
    return pl.DataFrame(rows, schema=_SCHEMA, orient="row")


def attach_item_ids(
    conn: psycopg.Connection, frame: pl.DataFrame, name_blocks: pl.Series | None = None
) -> pl.DataFrame:
    """``frame`` plus the ``item_id`` of each row's ``market_hash_name`` (new names
    join the catalogue). ``name_blocks``, where each name's rows begin when every
    name's rows are contiguous, lets the ids be resolved per block and repeated
    instead of joined row by row (a day of 1,000 items is 288,000 rows)."""
    names = frame.get_column("market_hash_name")
    if name_blocks is None:
        ids = resolve_item_ids(conn, names.unique().to_list())
        return frame.join(ids, on="market_hash_name", how="inner")
    block_names = names.gather(name_blocks).to_list()
    lookup = dict(resolve_item_ids(conn, block_names).iter_rows())
    per_block = np.fromiter((lookup[name] for name in block_names), np.int32, len(block_names))
    lengths = np.diff(name_blocks.to_numpy(), append=frame.height)
    return frame.with_columns(pl.Series("item_id", np.repeat(per_block, lengths), pl.Int32))


def provider_names(conn: psycopg.Connection) -> list[str]:
    """Every market the database knows, enabled here or not."""
    return [name for (name,) in conn.execute("SELECT name FROM providers ORDER BY name")]


def provider_id(conn: psycopg.Connection, name: str) -> int:
    row = conn.execute("SELECT provider_id FROM providers WHERE name = %s", (name,)).fetchone()
    if row is None:
        raise ValueError(f"unknown provider {name!r}: not in the providers table")
    return int(row[0])
