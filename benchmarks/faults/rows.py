"""What is in ``price_history``, hour by hour, compared with what a run would write.

An hour is identified by a fingerprint of its rows (count, Σ price, Σ item·price,
Σ epoch·price), exact in numeric: equal fingerprints mean the same rows, so an hour
that is neither the old run's nor the new run's is a partial write.
"""

from __future__ import annotations

from datetime import datetime

import polars as pl
import psycopg

from tracera_pipeline.providers.synthetic import SyntheticMarket

Fingerprint = tuple[int, int, int, int]


def stored(conn: psycopg.Connection, start: datetime, end: datetime) -> dict[datetime, Fingerprint]:
    rows = conn.execute(
        "SELECT date_trunc('hour', time), count(*), sum(price_cents), sum(item_id::numeric *"
        " price_cents), sum(extract(epoch FROM time)::numeric * price_cents)"
        " FROM price_history WHERE time >= %s AND time < %s GROUP BY 1",
        (start, end),
    ).fetchall()
    return {hour: (int(n), int(a), int(b), int(c)) for hour, n, a, b, c in rows}


def synthetic(
    conn: psycopg.Connection, seed: int, items: int, interval: int, start: datetime, end: datetime
) -> dict[datetime, Fingerprint]:
    """The fingerprints a synthetic run with ``seed`` writes (its items already known)."""
    frame = SyntheticMarket.for_market(
        "synthetic", items=items, interval_seconds=interval, seed=seed
    ).fetch(start, end)
    ids = pl.DataFrame(
        conn.execute("SELECT market_hash_name, item_id FROM items").fetchall(),
        schema={"market_hash_name": pl.String, "item_id": pl.Int64},
        orient="row",
    )
    return fingerprints(frame.join(ids, on="market_hash_name"))


def fingerprints(rows: pl.DataFrame) -> dict[datetime, Fingerprint]:
    epoch = pl.col("time").dt.epoch("us") // 1_000_000
    grouped = (
        rows.with_columns(pl.col("time").dt.truncate("1h").alias("hour"))
        .group_by("hour")
        .agg(
            pl.len().alias("n"),
            pl.col("price_cents").sum().alias("a"),
            (pl.col("item_id").cast(pl.Int64) * pl.col("price_cents")).sum().alias("b"),
            (epoch * pl.col("price_cents")).sum().alias("c"),
        )
    )
    return {h: (int(n), int(a), int(b), int(c)) for h, n, a, b, c in grouped.iter_rows()}


def count(conn: psycopg.Connection, start: datetime, end: datetime) -> int:
    return conn.execute(
        "SELECT count(*) FROM price_history WHERE time >= %s AND time < %s", (start, end)
    ).fetchone()[0]


def duplicates(conn: psycopg.Connection) -> int:
    """Rows beyond the first per (item, market, time): what a broken key would let in."""
    return int(
        conn.execute(
            "SELECT coalesce(sum(n - 1), 0) FROM (SELECT count(*) AS n FROM price_history"
            " GROUP BY item_id, provider_id, time HAVING count(*) > 1) AS d"
        ).fetchone()[0]
    )


def aggregated(conn: psycopg.Connection, start: datetime, end: datetime) -> int:
    """Samples ``price_1h`` holds for the range: equals the raw count when consistent."""
    return int(
        conn.execute(
            "SELECT coalesce(sum(samples), 0) FROM price_1h WHERE bucket >= %s AND bucket < %s",
            (start, end),
        ).fetchone()[0]
    )
