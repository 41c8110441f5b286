"""Aggregates equal a direct polars recomputation per item and market, and both
flavours agree exactly."""

from datetime import UTC, datetime, timedelta

import polars as pl
import psycopg
import pytest

from tracera_pipeline.storage.aggregates import LEVELS, bucket_floor, refresh_level
from tracera_pipeline.storage.flavor import Flavor
from tracera_pipeline_tests.helpers import T0, load_synthetic, raw_rows

START = T0 - timedelta(days=2, hours=5)  # spans two ISO weeks and partial days
END = T0 + timedelta(days=3, hours=7)
MONDAY = datetime(2000, 1, 3, tzinfo=UTC)
COLUMNS = [
    "bucket",
    "item_id",
    "provider_id",
    "samples",
    "min_cents",
    "max_cents",
    "total_volume",
    "avg_cents",
    "stddev_cents",
    "sum_cents",
    "sum_sq_cents",
    "sum_t",
    "sum_t_sq",
    "sum_t_cents",
]


def _refresh_all(conn: psycopg.Connection, flavor: Flavor, start: datetime, end: datetime) -> None:
    for level in ("1h", "24h", "7d"):
        refresh_level(conn, flavor, LEVELS[level], start, end)


def _load_two_markets(conn, flavor, start, end, items: int, interval: int) -> None:
    load_synthetic(conn, flavor, start, end, items=items, interval=interval)
    load_synthetic(
        conn, flavor, start, end, items=items, interval=interval, provider_id=6,
        market_name="synthetic_steam",
    )  # fmt: skip


def _stored(conn: psycopg.Connection, table: str) -> pl.DataFrame:
    rows = conn.execute(
        f"SELECT {', '.join(COLUMNS)} FROM {table} ORDER BY bucket, item_id, provider_id"
    ).fetchall()
    return pl.DataFrame(rows, orient="row", schema=COLUMNS, infer_schema_length=None)


def _expected(raw: pl.DataFrame, width: timedelta) -> pl.DataFrame:
    origin_us = int(MONDAY.timestamp() * 1_000_000)
    width_us = int(width.total_seconds() * 1_000_000)
    epoch = pl.col("time").dt.epoch("us")
    bucket = ((epoch - origin_us) // width_us * width_us + origin_us).cast(pl.Datetime("us", "UTC"))
    # whole seconds (samples fall on whole seconds); 128-bit: Σt² overflows 64 bits
    t = ((epoch - origin_us) // 1_000_000).cast(pl.Int128)
    price = pl.col("price_cents")
    return (
        raw.with_columns(bucket.alias("bucket"), t.alias("t"))
        .group_by("bucket", "item_id", "provider_id")
        .agg(
            pl.len().alias("samples"),
            price.min().alias("min_cents"),
            price.max().alias("max_cents"),
            pl.col("volume").sum().alias("total_volume"),
            price.mean().alias("avg_cents"),
            price.std(ddof=1).alias("stddev_cents"),
            pl.col("t").sum().alias("sum_t"),
            (pl.col("t") * pl.col("t")).sum().alias("sum_t_sq"),
            (pl.col("t") * price).sum().alias("sum_t_cents"),
        )
        .sort("bucket", "item_id", "provider_id")
    )


@pytest.mark.parametrize("level", ["1h", "24h", "7d"])
def test_aggregates_equal_a_direct_recomputation_per_market(conn, flavor, level) -> None:
    _load_two_markets(conn, flavor, START, END, items=6, interval=900)
    _refresh_all(conn, flavor, START, END)
    stored = _stored(conn, LEVELS[level].table)
    expected = _expected(raw_rows(conn), LEVELS[level].width)
    assert stored.height == expected.height > 0
    assert set(stored.get_column("provider_id")) == {1, 6}  # markets kept apart
    assert stored.get_column("bucket").to_list() == [
        b.replace(tzinfo=UTC) for b in expected.get_column("bucket").to_list()
    ]
    for column in ("item_id", "provider_id", "samples", "min_cents", "max_cents", "total_volume"):
        assert stored.get_column(column).to_list() == expected.get_column(column).to_list(), column
    for column in ("sum_t", "sum_t_sq", "sum_t_cents"):  # exact (numeric) sums
        got = [int(v) for v in stored.get_column(column).to_list()]
        assert got == expected.get_column(column).to_list(), column
    for column in ("avg_cents", "stddev_cents"):
        got, want = stored.get_column(column).to_numpy(), expected.get_column(column).to_numpy()
        assert got == pytest.approx(want, rel=1e-9), column
    if level == "7d":  # buckets start on Mondays, as time_bucket aligns them
        assert {b.weekday() for b in stored.get_column("bucket").to_list()} == {0}


def test_refresh_touches_only_the_buckets_of_its_window(conn, flavor) -> None:
    load_synthetic(conn, flavor, START, END, items=3, interval=1800)
    window = (T0 + timedelta(hours=5), T0 + timedelta(hours=6))
    refresh_level(conn, flavor, LEVELS["1h"], *window)
    buckets = conn.execute("SELECT DISTINCT bucket FROM price_1h").fetchall()
    assert buckets == [(window[0],)]
    result = refresh_level(conn, flavor, LEVELS["24h"], *window)
    assert (result.bucket_start, result.bucket_end) == (
        bucket_floor(window[0], timedelta(days=1)),
        bucket_floor(window[0], timedelta(days=1)) + timedelta(days=1),
    )


def test_late_rows_are_picked_up_by_a_rerun_of_the_window(conn, flavor) -> None:
    load_synthetic(conn, flavor, T0, T0 + timedelta(hours=2), items=2, interval=1800)
    _refresh_all(conn, flavor, T0, T0 + timedelta(hours=2))
    before = _stored(conn, "price_24h").get_column("samples").sum()
    load_synthetic(conn, flavor, T0, T0 + timedelta(hours=2), items=4, interval=1800)
    _refresh_all(conn, flavor, T0, T0 + timedelta(hours=2))
    assert _stored(conn, "price_24h").get_column("samples").sum() == 2 * before


def test_both_flavours_give_identical_results(timescaledb_status, request) -> None:
    if not timescaledb_status[0]:
        pytest.skip(f"TimescaleDB unusable on this server: {timescaledb_status[1]}")
    from tracera_pipeline_tests import conftest

    results = {}
    for flavor in (Flavor.NATIVE, Flavor.TIMESCALEDB):
        url_gen = conftest.database_url.__wrapped__(flavor)  # a fresh database per flavour
        url = next(url_gen)
        try:
            with psycopg.connect(url, autocommit=True) as conn:
                _load_two_markets(conn, flavor, START, END, items=5, interval=600)
                _refresh_all(conn, flavor, START, END)
                results[flavor] = [_stored(conn, t) for t in ("price_1h", "price_24h", "price_7d")]
        finally:
            next(url_gen, None)
    for native, timescale in zip(results[Flavor.NATIVE], results[Flavor.TIMESCALEDB], strict=True):
        assert native.height > 0
        assert native.equals(timescale)


def test_time_sums_stay_exact_for_microsecond_times_at_the_edges_and_top_price(
    conn, flavor
) -> None:
    """Live snapshots carry microseconds; offsets reach both ends of the hour, at the
    highest price validation lets through: the sums are still exact."""
    from decimal import Decimal, localcontext

    from tracera_pipeline.providers.validation import MAX_PRICE_CENTS
    from tracera_pipeline.storage.price_writer import write_price_window

    hour = T0 + timedelta(hours=3)
    offsets = [
        timedelta(0),
        timedelta(microseconds=1),
        timedelta(seconds=1799, microseconds=999_999),
    ]
    offsets += [timedelta(minutes=30), timedelta(seconds=3599, microseconds=999_999)]
    offsets += [timedelta(seconds=1234, microseconds=567_891)]
    prices = [MAX_PRICE_CENTS, 1, 987_654_321, MAX_PRICE_CENTS, MAX_PRICE_CENTS - 7, 42]
    item_id = conn.execute(
        "INSERT INTO items (market_hash_name) VALUES ('AK-47 | Edge') RETURNING item_id"
    ).fetchone()[0]
    frame = pl.DataFrame(
        {
            "time": [hour + o for o in offsets],
            "item_id": [item_id] * len(offsets),
            "price_cents": prices,
            "volume": [1] * len(offsets),
            "listings": [1] * len(offsets),
        },
        schema_overrides={"time": pl.Datetime("us", "UTC"), "item_id": pl.Int32},
    )
    write_price_window(
        conn, frame, flavor=flavor, provider_id=1, window_start=hour,
        window_end=hour + timedelta(hours=1),
    )  # fmt: skip
    refresh_level(conn, flavor, LEVELS["1h"], hour, hour + timedelta(hours=1))
    got = conn.execute("SELECT sum_t, sum_t_sq, sum_t_cents, sum_sq_cents FROM price_1h").fetchone()
    with localcontext(prec=60):  # Python's default 28 digits would round t²
        ts = [Decimal((hour + o - MONDAY) // timedelta(microseconds=1)) / 10**6 for o in offsets]
        want = (
            sum(ts),
            sum(t * t for t in ts),
            sum(t * p for t, p in zip(ts, prices, strict=True)),
            sum(p * p for p in prices),
        )
    assert got == want
