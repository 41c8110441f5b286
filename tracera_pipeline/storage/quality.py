"""Data-quality queries behind the asset checks."""

from __future__ import annotations

from datetime import datetime

import psycopg


def non_positive_prices(
    conn: psycopg.Connection, provider_id: int, start: datetime, end: datetime
) -> int:
    return conn.execute(
        "SELECT count(*) FROM price_history"
        " WHERE provider_id = %s AND time >= %s AND time < %s AND price_cents <= 0",
        (provider_id, start, end),
    ).fetchone()[0]


def duplicate_keys(
    conn: psycopg.Connection, provider_id: int, start: datetime, end: datetime
) -> int:
    """(item, time) pairs stored more than once for the provider in the window."""
    return conn.execute(
        "SELECT count(*) FROM (SELECT 1 FROM price_history"
        " WHERE provider_id = %s AND time >= %s AND time < %s"
        " GROUP BY item_id, time HAVING count(*) > 1) AS d",
        (provider_id, start, end),
    ).fetchone()[0]
