"""The reference rule's settings and its choice between markets, without a database."""

from datetime import UTC, datetime

import polars as pl
import pytest

from tracera_pipeline.analytics.reference import (
    LATEST_SCHEMA,
    ReferencePolicy,
    reference_prices,
    reference_scores,
)

T = datetime(2026, 3, 2, tzinfo=UTC)


@pytest.mark.parametrize(
    ("rule", "markets", "age", "message"),
    [
        ("newest", ["steam"], 60, "TRACERA_REFERENCE_RULE='newest' is not a rule"),
        ("priority", [" ", ""], 60, "TRACERA_REFERENCE_MARKETS names no market"),
        ("median", ["steam"], 0, "TRACERA_REFERENCE_MAX_AGE_SECONDS=0 must be at least"),
    ],
)
def test_bad_settings_name_the_variable(rule, markets, age, message) -> None:
    with pytest.raises(ValueError, match=message):
        ReferencePolicy.parse(rule, markets, age)


def _latest(rows: list[tuple[int, str, int]]) -> pl.DataFrame:
    return pl.DataFrame(
        [(item, f"item {item}", market, T, cents, None, None) for item, market, cents in rows],
        schema=LATEST_SCHEMA,
        orient="row",
    )


def test_priority_median_and_unlisted_markets() -> None:
    latest = _latest(
        [(1, "skinport", 900), (1, "steam", 1000), (1, "csfloat", 950), (2, "csfloat", 70)]
    )
    priority = ReferencePolicy.parse("priority", ["steam", "skinport"], 60)
    picked = reference_prices(latest, priority)
    # csfloat is not listed: item 2 has no reference price, and csfloat never wins.
    assert picked.select("item_id", "price_cents", "market", "markets").rows() == [
        (1, 1000, "steam", ["steam", "skinport"])
    ]
    median = ReferencePolicy.parse("median", ["steam", "skinport", "csfloat"], 60)
    assert reference_prices(latest, median).select("item_id", "price_cents", "market").rows() == [
        (1, 950, "median"),
        (2, 70, "median"),
    ]
    scores = [(1, "skinport", 0.2), (1, "steam", 0.1), (2, "skinport", 0.3)]
    assert reference_scores(scores, priority) == {1: 0.1, 2: 0.3}
    assert reference_scores(scores, median) == {1: pytest.approx(0.15), 2: 0.3}
