"""Read the latest prices from the database for the cache."""

from __future__ import annotations

from datetime import datetime, timedelta

import psycopg

from tracera_pipeline.cache.redis_cache import LatestPrice
from tracera_pipeline.storage.queries import compose


def latest_prices_before(
    conn: psycopg.Connection, until: datetime, lookback: timedelta
) -> list[LatestPrice]:
    """Newest price per item in ``[until - lookback, until)``.

    The cache passes its key TTL as ``lookback``: a price older than that would
    expire from Redis at once, so scanning further back is wasted work (a day's
    scan dominated the hourly cycle in benchmarks/time_index.py).
    """
    rows = conn.execute(
        compose(__file__, "latest_prices.sql"), {"since": until - lookback, "until": until}
    ).fetchall()
    return [LatestPrice(*row) for row in rows]
