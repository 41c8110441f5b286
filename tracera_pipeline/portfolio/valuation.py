"""Point-in-time portfolio valuation at partition ends."""

from __future__ import annotations

from datetime import datetime, timedelta

import psycopg

from tracera_pipeline.storage.queries import compose

# A price older than this before the valuation time no longer counts.
PRICE_LOOKBACK = timedelta(days=7)


def held_items(conn: psycopg.Connection) -> list[int]:
    return [row[0] for row in conn.execute("SELECT DISTINCT item_id FROM portfolio_holdings")]


def latest_prices(conn: psycopg.Connection, items: list[int], at: datetime) -> dict[int, int]:
    rows = conn.execute(
        compose(__file__, "latest_prices_for_items.sql"),
        {"items": items, "at": at, "since": at - PRICE_LOOKBACK},
    ).fetchall()
    return dict(rows)


def snapshot_portfolios(conn: psycopg.Connection, at: datetime) -> int:
    """Upsert one snapshot per portfolio valued at ``at``; returns portfolios valued."""
    prices = latest_prices(conn, held_items(conn), at)
    with conn.transaction():
        return conn.execute(
            compose(__file__, "snapshot.sql"),
            {"at": at, "priced_items": list(prices), "prices": list(prices.values())},
        ).rowcount
