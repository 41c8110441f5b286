"""Read the latest prices from the database for the cache."""

from __future__ import annotations

from datetime import datetime, timedelta

import psycopg

from tracera_pipeline.cache.redis_cache import LatestPrice
from tracera_pipeline.storage.queries import compose

# Items without a price in the day before the partition end are not refreshed.
LATEST_LOOKBACK = timedelta(days=1)


def latest_prices_before(conn: psycopg.Connection, until: datetime) -> list[LatestPrice]:
    rows = conn.execute(
        compose(__file__, "latest_prices.sql"), {"since": until - LATEST_LOOKBACK, "until": until}
    ).fetchall()
    return [LatestPrice(*row) for row in rows]
