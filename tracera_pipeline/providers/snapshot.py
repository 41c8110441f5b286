"""Helpers the live-snapshot adapters share."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import polars as pl

_ONE_MICROSECOND = timedelta(microseconds=1)
USABLE_PRICE = pl.col("price_cents").is_not_null() & (pl.col("price_cents") > 0)


def snapshot_time(
    window_start: datetime, window_end: datetime, now: datetime | None = None
) -> datetime:
    """``now`` clamped into ``[window_start, window_end)``.

    The ingest passes its own "now" as the open partition's end, so an answer
    usually arrives just after ``window_end``; the snapshot then carries the
    request time instead of falling out of the window it was fetched for.
    """
    now = now or datetime.now(UTC)
    return max(window_start, min(now, window_end - _ONE_MICROSECOND))


def raw_text(value: Any) -> str | None:
    """The provider's value as text for the quarantine: strings as sent, else JSON."""
    if value is None or isinstance(value, str):
        return value
    return json.dumps(value)


def cheapest_per_name(rows: pl.DataFrame, listings: pl.Expr | None = None) -> pl.DataFrame:
    """One row per name at its lowest usable price (``listings`` aggregated as given,
    else taken from that cheapest row). Rows without a usable price pass through
    untouched so validation quarantines them with a reason; they cannot clash with
    a valid row of the same name, as the duplicate check only sees valid rows."""
    cheapest_first = pl.col("price_cents")
    if listings is None:
        listings = pl.col("listings").sort_by(cheapest_first).first()
    priced = (
        rows.filter(USABLE_PRICE)
        .group_by("market_hash_name", maintain_order=True)
        .agg(
            cheapest_first.min(),
            pl.col("raw_price").sort_by(cheapest_first).first(),
            listings
            if listings is not None
            else pl.col("listings").sort_by(cheapest_first).first(),
        )
    )
    return pl.concat([priced, rows.filter(~USABLE_PRICE.fill_null(False))], how="diagonal_relaxed")
