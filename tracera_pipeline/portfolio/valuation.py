"""Point-in-time portfolio valuation at partition ends, under the reference rule."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import polars as pl
import psycopg
from psycopg import sql

from tracera_pipeline.analytics.reference import (
    ReferencePolicy,
    latest_market_prices,
    reference_prices,
)
from tracera_pipeline.storage.queries import compose, load_sql


@dataclass(frozen=True)
class SnapshotResult:
    portfolios: int
    items_priced: int
    # holdings' items priced by each market (or "median")
    priced_by: dict[str, int] = field(default_factory=dict)


def _snapshot_statement(markets: list[str]) -> sql.Composed:
    """``sql/snapshot.sql`` with a holdings count per market among ``markets`` (the
    markets that priced something at the snapshot's time)."""
    columns = [sql.Identifier(f"priced_{n}") for n in range(len(markets))]
    counts = sql.SQL("").join(
        sql.SQL(", count(*) FILTER (WHERE r.market = {}) AS {}").format(sql.Literal(m), c)
        for m, c in zip(markets, columns, strict=True)
    )
    pairs = sql.SQL(", ").join(
        sql.SQL("{}::text, nullif(m.{}, 0)").format(sql.Literal(m), c)
        for m, c in zip(markets, columns, strict=True)
    )
    text = load_sql(str(Path(__file__).parent), "snapshot.sql")
    return sql.SQL(text).format(priced_counts=counts, priced_by=pairs)


def _array_literal(texts: pl.Expr) -> pl.Expr:
    """A list of texts as a PostgreSQL array literal, each element quoted."""
    quoted = texts.list.eval('"' + pl.element().str.replace_all(r'(["\\])', r"\$1") + '"')
    return "{" + quoted.list.join(",") + "}"


def _reference_csv(refs: pl.DataFrame, at: datetime) -> bytes:
    """``reference_prices`` rows at ``at`` as CSV, in copy_reference_prices.sql's order."""
    rows = refs.select(
        pl.lit(at).alias("time"),
        "item_id",
        "price_cents",
        "market",
        _array_literal(pl.col("markets")).alias("markets"),
        pl.col("time").alias("observed_at"),
    )
    return rows.write_csv(include_header=False).encode()


def write_reference_prices(conn: psycopg.Connection, at: datetime, refs: pl.DataFrame) -> None:
    """Replace the reference prices recorded at ``at`` with ``refs`` (``reference_prices``
    rows), in the caller's transaction."""
    conn.execute("DELETE FROM reference_prices WHERE time = %s", (at,))
    statement = compose(__file__, "copy_reference_prices.sql")
    with conn.cursor() as cur, cur.copy(statement) as copy:
        copy.write(_reference_csv(refs, at))


def held_items(conn: psycopg.Connection) -> list[int]:
    return [row[0] for row in conn.execute("SELECT DISTINCT item_id FROM portfolio_holdings")]


def snapshot_portfolios(
    conn: psycopg.Connection,
    at: datetime,
    policy: ReferencePolicy,
    items: list[int] | None = None,
) -> SnapshotResult:
    """Value every portfolio at ``at`` from the held items' reference prices then.

    Each held item's reference price (and the market that gave it) is stored in
    ``reference_prices``; snapshots are upserted, so re-running is idempotent.
    ``items``: the held items, when the caller values several times in a row.
    """
    held = held_items(conn) if items is None else items
    latest = latest_market_prices(conn, at, policy.max_age, policy.markets, held)
    refs = reference_prices(latest, policy)
    with conn.transaction():
        write_reference_prices(conn, at, refs)
        markets = sorted(set(refs.get_column("market").to_list()))
        portfolios = conn.execute(
            _snapshot_statement(markets), {"at": at, "rule": policy.describe()}
        ).rowcount
    priced_by = refs.group_by("market").len().sort("market").iter_rows()
    return SnapshotResult(portfolios, refs.height, dict(priced_by))
