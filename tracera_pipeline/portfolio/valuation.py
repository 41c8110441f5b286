"""Point-in-time portfolio valuation at partition ends, under the reference rule."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

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
        conn.execute("DELETE FROM reference_prices WHERE time = %s", (at,))
        conn.execute(
            compose(__file__, "insert_reference_prices.sql"),
            {
                "at": at,
                "items": refs.get_column("item_id").to_list(),
                "prices": refs.get_column("price_cents").to_list(),
                "markets": refs.get_column("market").to_list(),
                "considered": [",".join(m) for m in refs.get_column("markets").to_list()],
                "observed": refs.get_column("time").to_list(),
            },
        )
        markets = sorted(set(refs.get_column("market").to_list()))
        portfolios = conn.execute(
            _snapshot_statement(markets), {"at": at, "rule": policy.describe()}
        ).rowcount
    priced_by = refs.group_by("market").len().sort("market").iter_rows()
    return SnapshotResult(portfolios, refs.height, dict(priced_by))
