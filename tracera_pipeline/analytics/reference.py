"""The reference price: how one price per item is chosen among markets.

Markets differ for the same item (fees, liquidity, Steam's wallet-only balance),
so nothing blends them by accident. Where one number per item is needed (the
``price:latest:<item_id>`` cache, portfolio valuation) it comes from an explicit,
configurable rule over each market's latest *fresh* price (not older than
``max_age`` before the valuation time):

* ``priority`` — the first market of ``markets`` with a fresh price wins;
* ``median`` — the median of the fresh prices of ``markets`` (the mean of the
  two middle ones when their number is even), rounded to the cent.

Every reference price records the market that gave it (or ``median``) and the
markets it considered.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

import polars as pl
import psycopg

from tracera_pipeline.storage.queries import compose

MEDIAN = "median"

LATEST_SCHEMA = {
    "item_id": pl.Int32,
    "market_hash_name": pl.String,
    "market": pl.String,
    "time": pl.Datetime("us", "UTC"),
    "price_cents": pl.Int64,
    "volume": pl.Int32,
    "listings": pl.Int32,
}


class ReferenceRule(enum.StrEnum):
    PRIORITY = "priority"
    MEDIAN = "median"


@dataclass(frozen=True)
class ReferencePolicy:
    rule: ReferenceRule
    markets: tuple[str, ...]
    max_age: timedelta

    @classmethod
    def parse(cls, rule: str, markets: Sequence[str], max_age_seconds: int) -> ReferencePolicy:
        """Validated settings; each error is one sentence naming the variable to fix."""
        try:
            parsed = ReferenceRule(rule.strip().lower())
        except ValueError:
            raise ValueError(
                f"TRACERA_REFERENCE_RULE={rule!r} is not a rule; set it to 'priority' or 'median'"
            ) from None
        names = tuple(dict.fromkeys(m.strip().lower() for m in markets if m.strip()))
        if not names:
            raise ValueError(
                "TRACERA_REFERENCE_MARKETS names no market; list markets in priority order,"
                " e.g. TRACERA_REFERENCE_MARKETS=steam,skinport"
            )
        if max_age_seconds < 1:
            raise ValueError(
                f"TRACERA_REFERENCE_MAX_AGE_SECONDS={max_age_seconds} must be at least 1 second"
            )
        return cls(parsed, names, timedelta(seconds=max_age_seconds))

    def describe(self) -> str:
        return f"{self.rule.value}({','.join(self.markets)})"


def latest_market_prices(
    conn: psycopg.Connection,
    until: datetime,
    lookback: timedelta,
    markets: Sequence[str],
    items: Sequence[int] | None = None,
) -> pl.DataFrame:
    """Each market's newest price per item in ``[until − lookback, until)``; with
    ``items``, of those items only."""
    params: dict[str, object] = {
        "since": until - lookback,
        "until": until,
        "markets": list(markets),
        "items": None if items is None else list(items),
    }
    with conn.transaction():
        # The rows come out sorted by item and market: with the default 4 MB a
        # catalogue of 100,000 items would spill that sort to disk.
        conn.execute("SET LOCAL work_mem = '64MB'")
        rows = conn.execute(compose(__file__, "latest_market_prices.sql"), params).fetchall()
    return pl.DataFrame(rows, schema=LATEST_SCHEMA, orient="row")


def _in_policy_order(frame: pl.DataFrame, policy: ReferencePolicy) -> pl.DataFrame:
    """Rows of the policy's markets only, each item's in the policy's market order."""
    rank = {name: position for position, name in enumerate(policy.markets)}
    listed = frame.filter(pl.col("market").is_in(policy.markets))
    order = pl.col("market").replace_strict(rank, return_dtype=pl.Int32)
    return listed.sort(pl.col("item_id"), order)


def reference_prices(latest: pl.DataFrame, policy: ReferencePolicy) -> pl.DataFrame:
    """One price per item by the policy's rule, from ``latest_market_prices`` rows.

    Columns: item_id, market_hash_name, price_cents, market (the market that gave
    the price, or ``median``), markets (the markets considered, in policy order),
    time (the newest observation used).
    """
    grouped = _in_policy_order(latest, policy).group_by("item_id", maintain_order=True)
    if policy.rule is ReferenceRule.PRIORITY:
        picked = grouped.agg(
            pl.col("market_hash_name").first(),
            pl.col("price_cents").first(),
            pl.col("market").first(),
            pl.col("market").alias("markets"),
            pl.col("time").first(),
        )
    else:
        picked = grouped.agg(
            pl.col("market_hash_name").first(),
            # Half-up rounding of the median, in exact integer arithmetic.
            ((pl.col("price_cents").median() * 2 + 1) // 2).cast(pl.Int64).alias("price_cents"),
            pl.lit(MEDIAN).alias("market"),
            pl.col("market").alias("markets"),
            pl.col("time").max(),
        )
    return picked.select("item_id", "market_hash_name", "price_cents", "market", "markets", "time")


def reference_scores(
    scores: Sequence[tuple[int, str, float]], policy: ReferencePolicy
) -> dict[int, float]:
    """One score per item from per-market ``(item_id, market, score)`` by the policy's
    rule: the first listed market's score, or the median over the listed markets."""
    frame = pl.DataFrame(
        scores, schema={"item_id": pl.Int64, "market": pl.String, "score": pl.Float64}, orient="row"
    )
    score = (
        pl.col("score").first()
        if policy.rule is ReferenceRule.PRIORITY
        else pl.col("score").median()
    )
    picked = _in_policy_order(frame, policy).group_by("item_id").agg(score)
    return dict(picked.iter_rows())
