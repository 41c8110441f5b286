"""The polars → binary COPY writer against the real database, both flavours."""

import threading
from datetime import timedelta

import polars as pl
import psycopg

from tracera_pipeline.providers.base import PRICE_SCHEMA
from tracera_pipeline.storage.price_writer import (
    Window,
    WriteMode,
    window_lock_key,
    write_price_window,
    write_price_windows,
)
from tracera_pipeline_tests.helpers import T0, raw_rows, with_item_ids

ODD_NAMES = [
    "Sticker | Natus Vincere (Holo) | Katowice 2019",
    "★ Sport Gloves | Pandora's Box (Field-Tested)",
    'Name with "double quotes" and \\ backslash \\N',
    "tab\tand\nnewline, comma; semicolon",
    "Ünïcödé ★ 龍王 | Dragon King (Factory New)",
    "StatTrak™ M4A4 | 龍王 (Dragon King) (Minimal Wear)",
]


def _frame(
    names: list[str], times: list, prices: list[int], volume=None, listings=None
) -> pl.DataFrame:
    n = len(names)
    return pl.DataFrame(
        {
            "time": times,
            "market_hash_name": names,
            "price_cents": prices,
            "volume": volume if volume is not None else [1] * n,
            "listings": listings if listings is not None else [2] * n,
        },
        schema=PRICE_SCHEMA,
    )


def test_round_trip_is_exact_including_odd_names_nulls_and_microseconds(conn, flavor) -> None:
    times = [T0 + timedelta(minutes=i, microseconds=123_457 * i) for i in range(len(ODD_NAMES))]
    prices = [1, 99, 123_456_789, 2**40, 50, 7]
    volume = [None, 3, None, 0, 2_000_000_000, 5]
    listings = [None, None, 4, 1, None, 0]
    frame = _frame(ODD_NAMES, times, prices, volume, listings)
    rows = with_item_ids(conn, frame)
    result = write_price_window(
        conn,
        rows,
        flavor=flavor,
        provider_id=1,
        window_start=T0,
        window_end=T0 + timedelta(hours=1),
        chunk_rows=2,
    )
    assert result.rows_written == len(ODD_NAMES)
    stored = conn.execute(
        "SELECT i.market_hash_name, p.time, p.price_cents, p.volume, p.listings"
        " FROM price_history p JOIN items i USING (item_id) ORDER BY p.time"
    ).fetchall()
    assert stored == list(zip(ODD_NAMES, times, prices, volume, listings, strict=True))


def test_replace_rerun_leaves_the_same_rows(conn, flavor) -> None:
    from tracera_pipeline.providers.synthetic import SyntheticMarket

    market = SyntheticMarket(items=15, interval_seconds=300)
    window = (T0, T0 + timedelta(hours=1))
    rows = with_item_ids(conn, market.fetch(*window))
    for _ in range(2):
        write_price_window(
            conn, rows, flavor=flavor, provider_id=1, window_start=window[0], window_end=window[1]
        )
    stored = raw_rows(conn)
    assert stored.height == rows.height == 15 * 12
    expected = rows.with_columns(pl.lit(1, pl.Int16).alias("provider_id")).select(stored.columns)
    assert stored.equals(expected.sort("item_id", "provider_id", "time"))


def test_concurrent_runs_of_one_window_end_with_one_runs_rows(database_url, flavor) -> None:
    from tracera_pipeline.providers.synthetic import SyntheticMarket

    market = SyntheticMarket(items=40, interval_seconds=60)
    window = (T0, T0 + timedelta(hours=1))
    with psycopg.connect(database_url, autocommit=True) as conn:
        rows = with_item_ids(conn, market.fetch(*window))
    errors: list[BaseException] = []

    def run() -> None:
        try:
            with psycopg.connect(database_url, autocommit=True) as conn:
                write_price_window(
                    conn,
                    rows,
                    flavor=flavor,
                    provider_id=1,
                    window_start=window[0],
                    window_end=window[1],
                    chunk_rows=500,
                )
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=run) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    with psycopg.connect(database_url, autocommit=True) as conn:
        assert raw_rows(conn).height == rows.height == 40 * 60


def test_merge_keeps_earlier_live_snapshots_and_updates_repeated_ones(conn, flavor) -> None:
    window = (T0, T0 + timedelta(hours=1))
    names = ["AK-47 | Redline (Field-Tested)", "AWP | Asiimov (Field-Tested)"]
    first = with_item_ids(conn, _frame(names, [T0 + timedelta(minutes=5)] * 2, [1000, 5000]))
    later = with_item_ids(
        conn, _frame(names, [T0 + timedelta(minutes=5), T0 + timedelta(minutes=20)], [1100, 5200])
    )
    for rows in (first, later):
        write_price_window(
            conn,
            rows,
            flavor=flavor,
            provider_id=3,
            window_start=window[0],
            window_end=window[1],
            mode=WriteMode.MERGE,
        )
    stored = conn.execute(
        "SELECT i.market_hash_name, p.time, p.price_cents FROM price_history p"
        " JOIN items i USING (item_id) ORDER BY 1, 2"
    ).fetchall()
    assert stored == [
        (names[0], T0 + timedelta(minutes=5), 1100),
        (names[1], T0 + timedelta(minutes=5), 5000),
        (names[1], T0 + timedelta(minutes=20), 5200),
    ]


def test_an_empty_fetch_does_not_delete_stored_rows(conn, flavor) -> None:
    window = (T0, T0 + timedelta(hours=1))
    rows = with_item_ids(conn, _frame(["Recoil Case"], [T0], [42]))
    write_price_window(
        conn, rows, flavor=flavor, provider_id=1, window_start=window[0], window_end=window[1]
    )
    result = write_price_window(
        conn,
        rows.clear(),
        flavor=flavor,
        provider_id=1,
        window_start=window[0],
        window_end=window[1],
    )
    assert result.rows_replaced == 0
    assert raw_rows(conn).height == 1


def test_replace_only_touches_its_own_provider_and_window(conn, flavor) -> None:
    name = ["Recoil Case"]
    inside = with_item_ids(conn, _frame(name, [T0 + timedelta(minutes=1)], [10]))
    outside = with_item_ids(conn, _frame(name, [T0 + timedelta(hours=1, minutes=1)], [11]))
    write_price_window(
        conn,
        inside,
        flavor=flavor,
        provider_id=2,
        window_start=T0,
        window_end=T0 + timedelta(hours=1),
    )
    write_price_window(
        conn,
        outside,
        flavor=flavor,
        provider_id=1,
        window_start=T0 + timedelta(hours=1),
        window_end=T0 + timedelta(hours=2),
    )
    write_price_window(
        conn,
        inside.with_columns(pl.lit(12, pl.Int64).alias("price_cents")),
        flavor=flavor,
        provider_id=1,
        window_start=T0,
        window_end=T0 + timedelta(hours=1),
    )
    assert sorted(raw_rows(conn).get_column("price_cents").to_list()) == [10, 11, 12]


def test_a_ranged_write_holds_the_lock_of_each_of_its_hours(conn, database_url, flavor) -> None:
    from tracera_pipeline.providers.synthetic import SyntheticMarket

    hours = [T0 + timedelta(hours=h) for h in range(3)]
    rows = with_item_ids(conn, SyntheticMarket(items=3, interval_seconds=600).fetch(T0, hours[-1]))
    windows = [Window(start, start + timedelta(hours=1)) for start in hours[:2]]
    connect = psycopg.connect
    with (
        connect(database_url, autocommit=True) as writer,
        connect(database_url, autocommit=True) as other,
    ):

        def free(provider_id: int, start) -> bool:
            keys = window_lock_key(provider_id, start)
            return other.execute("SELECT pg_try_advisory_xact_lock(%s, %s)", keys).fetchone()[0]

        # The write inside a longer transaction: its locks last until that ends.
        with writer.transaction():
            write_price_windows(writer, rows, windows, flavor=flavor, provider_id=1)
            assert [free(1, start) for start in hours] == [False, False, True]
            assert free(2, hours[0])  # another provider's window
        assert free(1, hours[0])
