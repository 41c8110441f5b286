"""The ``items`` catalogue: names seen from providers become items."""

from __future__ import annotations

import polars as pl
import psycopg


def resolve_item_ids(conn: psycopg.Connection, names: list[str]) -> pl.DataFrame:
    """``market_hash_name → item_id`` for ``names``, inserting unknown names.

    Names are inserted in sorted order so concurrent writers lock rows in the same
    order and cannot deadlock.
    """
    unique = sorted(set(names))
    with conn.transaction():
        conn.execute(
            "INSERT INTO items (market_hash_name)"
            " SELECT unnest(%s::text[]) ON CONFLICT (market_hash_name) DO NOTHING",
            (unique,),
        )
    rows = conn.execute(
        "SELECT market_hash_name, item_id FROM items WHERE market_hash_name = ANY(%s)",
        (unique,),
    ).fetchall()
    return pl.DataFrame(
        rows, schema={"market_hash_name": pl.String, "item_id": pl.Int32}, orient="row"
    )


def provider_id(conn: psycopg.Connection, name: str) -> int:
    row = conn.execute("SELECT provider_id FROM providers WHERE name = %s", (name,)).fetchone()
    if row is None:
        raise ValueError(f"unknown provider {name!r}: not in the providers table")
    return int(row[0])
