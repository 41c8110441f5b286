"""Cross-market spreads: each market's hourly price of an item side by side.

For every item priced on two or more markets in an hour (the 1h average of each):

* the cheapest and the dearest market, and ``spread_pct`` = (dearest − cheapest)
  / cheapest × 100, gross;
* ``best_net_market``: among the *other* markets, the one where selling returns
  the most after its seller fee, ``best_net_cents`` = price × (1 − fee), and
  ``net_spread_pct`` = (best_net_cents − cheapest) / cheapest × 100 — what buying
  on the cheapest market and selling there would earn (negative: no arbitrage).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime
from pathlib import Path

import polars as pl
import psycopg

from tracera_pipeline.storage.queries import load_sql

_HERE = str(Path(__file__).parent)

PRICES_SCHEMA = {
    "bucket": pl.Datetime("us", "UTC"),
    "item_id": pl.Int32,
    "market_hash_name": pl.String,
    "market": pl.String,
    "avg_cents": pl.Float64,
}


def hourly_market_prices(conn: psycopg.Connection, lo: datetime, hi: datetime) -> pl.DataFrame:
    rows = conn.execute(load_sql(_HERE, "hourly_market_prices.sql"), {"lo": lo, "hi": hi})
    return pl.DataFrame(rows.fetchall(), schema=PRICES_SCHEMA, orient="row")


def compute_spreads(prices: pl.DataFrame, fees: Mapping[str, float]) -> pl.DataFrame:
    """One row per (hour, item) priced on ≥ 2 markets; see the module docstring."""
    fee = pl.col("market").replace_strict(dict(fees), default=0.0, return_dtype=pl.Float64)
    ranked = prices.with_columns((pl.col("avg_cents") * (1 - fee)).alias("net_cents")).sort(
        "bucket", "item_id", "avg_cents", "market"
    )
    others = pl.col("net_cents").slice(1)  # every market but the cheapest
    grouped = ranked.group_by("bucket", "item_id", maintain_order=True).agg(
        pl.col("market_hash_name").first(),
        pl.len().alias("markets"),
        pl.col("market").alias("_markets"),
        pl.col("avg_cents").alias("_prices"),
        pl.col("market").first().alias("cheapest_market"),
        pl.col("avg_cents").first().alias("cheapest_cents"),
        pl.col("market").last().alias("dearest_market"),
        pl.col("avg_cents").last().alias("dearest_cents"),
        pl.col("market").slice(1).gather(others.arg_max()).first().alias("best_net_market"),
        others.max().alias("best_net_cents"),
    )
    cheapest = pl.col("cheapest_cents")
    return grouped.filter(pl.col("markets") >= 2).with_columns(
        ((pl.col("dearest_cents") - cheapest) / cheapest * 100).alias("spread_pct"),
        ((pl.col("best_net_cents") - cheapest) / cheapest * 100).alias("net_spread_pct"),
        pl.col("markets").cast(pl.Int16),
    )


def _prices_json(markets: list[str], prices: list[float]) -> str:
    return json.dumps({m: round(p, 2) for m, p in zip(markets, prices, strict=True)})


def write_spreads(
    conn: psycopg.Connection, spreads: pl.DataFrame, lo: datetime, hi: datetime
) -> int:
    """Replace the spreads of the hours in ``[lo, hi)``; rows written."""
    columns = {
        name: spreads.get_column(name).to_list()
        for name in (
            "bucket",
            "item_id",
            "markets",
            "cheapest_market",
            "cheapest_cents",
            "dearest_market",
            "dearest_cents",
            "spread_pct",
            "best_net_market",
            "best_net_cents",
            "net_spread_pct",
        )
    }
    columns["prices"] = [
        _prices_json(m, p)
        for m, p in zip(
            spreads.get_column("_markets").to_list(),
            spreads.get_column("_prices").to_list(),
            strict=True,
        )
    ]
    with conn.transaction():
        conn.execute("DELETE FROM market_spreads WHERE bucket >= %s AND bucket < %s", (lo, hi))
        conn.execute(load_sql(_HERE, "insert_spreads.sql"), columns)
    return spreads.height


def spread_details(row: Mapping[str, object]) -> dict[str, object]:
    """What a reader of ``spreads:top`` needs about one item."""
    return {
        "market_hash_name": row["market_hash_name"],
        "bucket": row["bucket"],
        "prices": dict(zip(row["_markets"], row["_prices"], strict=True)),
        "buy": row["cheapest_market"],
        "sell": row["best_net_market"],
        "spread_pct": row["spread_pct"],
        "net_spread_pct": row["net_spread_pct"],
    }
