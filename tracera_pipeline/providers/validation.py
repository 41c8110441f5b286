"""Row validation: bad rows are quarantined with a reason, the rest land."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import polars as pl

from tracera_pipeline.providers.base import INVALID_REASON

# Above this a price is a parsing or unit error, not a market price ($10M).
MAX_PRICE_CENTS = 1_000_000_000


@dataclass(frozen=True)
class Validated:
    accepted: pl.DataFrame
    rejected: pl.DataFrame  # the offending rows plus a ``reason`` column
    # Where each name's rows begin, when ``accepted`` holds one block of rows per
    # name: names then resolve per block, not per row.
    name_blocks: pl.Series | None = None


def _blank(name: pl.Expr) -> pl.Expr:
    return name.is_null() | (name.str.strip_chars() == "")


def _row_checks(window_start: datetime, window_end: datetime) -> list[tuple[pl.Expr, str]]:
    """Every rule but the adapter's and the name's, in the order reasons are given."""
    time, price = pl.col("time"), pl.col("price_cents")
    return [
        (time.is_null(), "missing time"),
        ((time < window_start) | (time >= window_end), "time outside the partition window"),
        (price.is_null(), "missing price"),
        (price <= 0, "non-positive price"),
        (price > MAX_PRICE_CENTS, f"absurd price (> {MAX_PRICE_CENTS} cents)"),
        (pl.col("volume") < 0, "negative volume"),
        (pl.col("listings") < 0, "negative listings"),
    ]


def _reason(frame: pl.DataFrame, window_start: datetime, window_end: datetime) -> pl.Expr:
    # An adapter that knows a row is unusable (e.g. priced in another currency)
    # says why in ``invalid_reason``; that reason comes first.
    adapter = (
        [(pl.col(INVALID_REASON).is_not_null(), pl.col(INVALID_REASON))]
        if INVALID_REASON in frame.columns
        else []
    )
    checks = [
        *adapter,
        (_blank(pl.col("market_hash_name")), "empty market_hash_name"),
        *_row_checks(window_start, window_end),
    ]
    expr = pl.lit(None, dtype=pl.String)
    for condition, reason in reversed(checks):
        value = reason if isinstance(reason, pl.Expr) else pl.lit(reason)
        expr = pl.when(condition.fill_null(False)).then(value).otherwise(expr)
    return expr


def _clean_name_blocks(
    frame: pl.DataFrame, window_start: datetime, window_end: datetime
) -> pl.Series | None:
    """Where each name's block of rows begins, if no row breaks a rule (else None):
    the common case, checked without building reasons.

    Cheaper than tagging every row (~5 ms against ~30 ms for a day of 1,000 items):
    repeated (name, time) pairs are ruled out without hashing the pairs when the
    rows come in one block per name with rising times (item-major, as history
    fetches give them) or one row per name (a live snapshot), and the name rule
    runs on the blocks' names. Anything else takes the exact, tagging path.
    """
    if INVALID_REASON in frame.columns and frame[INVALID_REASON].null_count() < frame.height:
        return None
    conditions = [
        condition.fill_null(False) for condition, _ in _row_checks(window_start, window_end)
    ]
    if frame.select(pl.any_horizontal(conditions).any()).item():
        return None
    # Each name one contiguous block (the blocks' names all differ), times rising
    # inside it: no (name, time) pair repeats.
    names = frame.get_column("market_hash_name")
    block_start = names.ne_missing(names.shift(1))
    starts = block_start.arg_true()
    block_names = names.gather(starts)  # every row's name, once
    if block_names.n_unique() != block_names.len():
        return None
    if block_names.to_frame().select(_blank(pl.col("market_hash_name")).any()).item():
        return None
    times = frame.get_column("time")
    if ((times.diff() <= timedelta(0)) & ~block_start).any():
        return None
    return starts


def validate_prices(frame: pl.DataFrame, window_start: datetime, window_end: datetime) -> Validated:
    """Split ``frame`` into rows fit to write and rows to quarantine (first failing rule)."""
    blocks = _clean_name_blocks(frame, window_start, window_end)
    if blocks is not None:
        accepted = frame.drop(INVALID_REASON, strict=False)
        rejected = frame.clear().with_columns(pl.lit(None, dtype=pl.String).alias("reason"))
        return Validated(accepted=accepted, rejected=rejected, name_blocks=blocks)
    return _tag_each_row(frame, window_start, window_end)


def _tag_each_row(frame: pl.DataFrame, window_start: datetime, window_end: datetime) -> Validated:
    """The exact path: every row tagged with the first rule it breaks, if any."""
    tagged = frame.with_columns(_reason(frame, window_start, window_end).alias("reason"))
    # Among otherwise valid rows, a repeated (name, time) keeps its first occurrence.
    valid = pl.col("reason").is_null()
    repeated = valid & ~pl.struct("market_hash_name", "time").is_first_distinct().over(valid)
    tagged = tagged.with_columns(
        pl.when(repeated)
        .then(pl.lit("duplicate market_hash_name and time in one fetch"))
        .otherwise(pl.col("reason"))
        .alias("reason")
    )
    accepted = tagged.filter(pl.col("reason").is_null()).drop("reason")
    if INVALID_REASON in accepted.columns:
        accepted = accepted.drop(INVALID_REASON)
    rejected = tagged.filter(pl.col("reason").is_not_null())
    return Validated(accepted=accepted, rejected=rejected)
