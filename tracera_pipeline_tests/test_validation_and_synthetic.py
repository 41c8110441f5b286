from datetime import timedelta

import polars as pl

from tracera_pipeline.providers.base import PRICE_SCHEMA
from tracera_pipeline.providers.synthetic import SyntheticMarket
from tracera_pipeline.providers.validation import MAX_PRICE_CENTS, _tag_each_row, validate_prices
from tracera_pipeline_tests.helpers import T0

END = T0 + timedelta(hours=1)


def test_each_bad_row_gets_its_reason_and_good_rows_pass() -> None:
    ok = T0 + timedelta(minutes=1)
    rows = [
        (ok, "AK-47 | Redline (Field-Tested)", 1234, 3, 10),
        (ok, "", 100, 1, 1),
        (ok, "   ", 100, 1, 1),
        (None, "Recoil Case", 100, 1, 1),
        (END, "Recoil Case", 100, 1, 1),
        (ok, "Clutch Case", None, 1, 1),
        (ok, "Gallery Case", 0, 1, 1),
        (ok, "Kilowatt Case", -5, 1, 1),
        (ok, "Fracture Case", MAX_PRICE_CENTS + 1, 1, 1),
        (ok, "Revolution Case", 10, -1, 1),
        (ok, "Dreams & Nightmares Case", 10, 1, -1),
        (ok, "AK-47 | Redline (Field-Tested)", 999, 3, 10),
    ]
    frame = pl.DataFrame(rows, schema=PRICE_SCHEMA, orient="row")
    result = validate_prices(frame, T0, END)
    assert result.accepted.rows() == [rows[0]]
    assert result.rejected.get_column("reason").to_list() == [
        "empty market_hash_name",
        "empty market_hash_name",
        "missing time",
        "time outside the partition window",
        "missing price",
        "non-positive price",
        "non-positive price",
        f"absurd price (> {MAX_PRICE_CENTS} cents)",
        "negative volume",
        "negative listings",
        "duplicate market_hash_name and time in one fetch",
    ]


def test_a_duplicate_of_an_invalid_row_is_kept() -> None:
    ok = T0 + timedelta(minutes=1)
    frame = pl.DataFrame(
        [(ok, "Recoil Case", -1, 1, 1), (ok, "Recoil Case", 50, 1, 1)],
        schema=PRICE_SCHEMA,
        orient="row",
    )
    result = validate_prices(frame, T0, END)
    assert result.accepted.get_column("price_cents").to_list() == [50]


def test_synthetic_market_is_deterministic_and_range_equals_union_of_hours() -> None:
    market = SyntheticMarket(items=30, interval_seconds=300)
    whole = market.fetch(T0, T0 + timedelta(hours=3))
    parts = pl.concat(
        SyntheticMarket(items=30, interval_seconds=300).fetch(
            T0 + timedelta(hours=h), T0 + timedelta(hours=h + 1)
        )
        for h in range(3)
    )
    order = ["market_hash_name", "time"]
    assert whole.sort(order).equals(parts.sort(order))
    assert whole.height == 30 * 36
    assert whole.get_column("market_hash_name").n_unique() == 30
    assert whole.select((pl.col("price_cents") > 0).all()).item()
    assert validate_prices(whole, T0, T0 + timedelta(hours=3)).rejected.is_empty()


def test_synthetic_prices_vary_by_item_time_and_seed() -> None:
    a = SyntheticMarket(items=5, seed=1).fetch(T0, END)
    b = SyntheticMarket(items=5, seed=2).fetch(T0, END)
    assert not a.equals(b)
    per_item = a.group_by("market_hash_name").agg(pl.col("price_cents").n_unique())
    assert per_item.get_column("price_cents").min() > 1
    names = a.get_column("market_hash_name").unique().to_list()
    assert all("|" in n or n.endswith("Case") for n in names)


def _both_paths(frame: pl.DataFrame) -> tuple[list[tuple], list[str]]:
    """The fast path's result, after checking it against tagging every row."""
    result = validate_prices(frame, T0, END)
    exact = _tag_each_row(frame, T0, END)
    assert result.accepted.rows() == exact.accepted.rows()
    assert result.rejected.rows() == exact.rejected.rows()
    assert result.rejected.columns == exact.rejected.columns
    return result.accepted.rows(), result.rejected.get_column("reason").to_list()


def test_fast_path_agrees_with_tagging_every_row() -> None:
    clean = SyntheticMarket(items=20, interval_seconds=300).fetch(T0, END)
    item_major = clean.sort("market_hash_name", "time")
    time_major = clean.sort("time", "market_hash_name")
    duplicate = "duplicate market_hash_name and time in one fetch"
    assert _both_paths(item_major) == (item_major.rows(), [])
    assert _both_paths(time_major) == (time_major.rows(), [])  # not one block per name
    assert _both_paths(item_major.reverse())[1] == []  # times falling inside each block
    # A repeated pair inside one name's block, at its start, and across two blocks.
    inside = pl.concat([item_major.head(3), item_major.slice(2, 1), item_major.slice(3)])
    assert _both_paths(inside)[1] == [duplicate]
    at_start = pl.concat([item_major.head(1), item_major])
    assert _both_paths(at_start)[1] == [duplicate]
    one_name = item_major.filter(pl.col("market_hash_name") == item_major[0, "market_hash_name"])
    split = pl.concat([one_name.head(5), item_major.slice(one_name.height, 12), one_name.slice(4)])
    assert _both_paths(split)[1] == [duplicate]
    # A live snapshot: one row per name at one time, and the same name twice.
    snapshot = time_major.filter(pl.col("time") == T0)
    assert _both_paths(snapshot)[1] == []
    assert _both_paths(pl.concat([snapshot, snapshot.tail(1)]))[1] == [duplicate]


def test_fast_path_leaves_each_broken_rule_to_the_exact_path() -> None:
    base = SyntheticMarket(items=5, interval_seconds=600).fetch(T0, END)
    time_type = base.schema["time"]
    cases = [
        ("market_hash_name", pl.lit(" "), "empty market_hash_name"),
        ("time", pl.lit(None, dtype=time_type), "missing time"),
        ("time", pl.lit(END, dtype=time_type), "time outside the partition window"),
        ("price_cents", pl.lit(None, dtype=pl.Int64), "missing price"),
        ("price_cents", pl.lit(0, dtype=pl.Int64), "non-positive price"),
        ("volume", pl.lit(-1, dtype=pl.Int32), "negative volume"),
    ]
    last = pl.int_range(pl.len()) == pl.len() - 1
    for column, value, reason in cases:
        broken = base.with_columns(
            pl.when(last).then(value).otherwise(pl.col(column)).alias(column)
        )
        accepted, reasons = _both_paths(broken)
        assert reasons == [reason] and len(accepted) == base.height - 1
