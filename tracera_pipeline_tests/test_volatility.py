"""Sliding-window volatility against an independent numpy computation from raw rows."""

from datetime import timedelta

import numpy as np
import polars as pl
import pytest

from tracera_pipeline.analytics import volatility
from tracera_pipeline.analytics.volatility import (
    WINDOWS,
    compute_volatility,
    plan_scan,
    top_volatile,
)
from tracera_pipeline.analytics.volatility_sums import segment_queries
from tracera_pipeline.storage.aggregates import LEVELS, refresh_level
from tracera_pipeline_tests.helpers import T0, load_synthetic, raw_rows

START, END = T0 - timedelta(days=8), T0 + timedelta(days=1)
METRICS = (
    "samples, mean_cents, stddev_cents, previous_mean_cents, pct_change, bollinger_upper_cents,"
    " bollinger_lower_cents, coefficient_of_variation, trend_cents_per_hour"
)


def _load(conn, flavor) -> pl.DataFrame:
    load_synthetic(conn, flavor, START, END, items=4, interval=1800)
    load_synthetic(
        conn, flavor, START, END, items=4, interval=1800, provider_id=7,
        market_name="synthetic_buff",
    )  # fmt: skip
    # A gap: item 1 on market 1 has no sample in the last hour before T0 + 6h.
    conn.execute(
        "DELETE FROM price_history WHERE item_id = 1 AND provider_id = 1"
        " AND time >= %s AND time < %s",
        (T0 + timedelta(hours=5), T0 + timedelta(hours=6)),
    )
    for level in ("1h", "24h"):  # whole days are read from price_24h
        refresh_level(conn, flavor, LEVELS[level], START, END)
    return raw_rows(conn)


def _expected(raw: pl.DataFrame, item: int, provider: int, width: timedelta, at) -> dict | None:
    series = raw.filter((pl.col("item_id") == item) & (pl.col("provider_id") == provider))
    times = np.array([t.timestamp() for t in series.get_column("time").to_list()])
    prices = series.get_column("price_cents").to_numpy().astype(float)
    now, lo, prev_lo = at.timestamp(), (at - width).timestamp(), (at - 2 * width).timestamp()
    current = (times >= lo) & (times < now)
    previous = (times >= prev_lo) & (times < lo)
    x, t_hours = prices[current], times[current] / 3600
    if len(x) < 2:
        return None
    mean, sigma = x.mean(), x.std(ddof=0)
    prev = prices[previous].mean() if previous.any() else None
    return {
        "samples": len(x),
        "mean_cents": mean,
        "stddev_cents": sigma,
        "previous_mean_cents": prev,
        "pct_change": (mean - prev) / prev * 100 if prev else None,
        "bollinger_upper_cents": mean + 2 * sigma,
        "bollinger_lower_cents": mean - 2 * sigma,
        "coefficient_of_variation": sigma / mean,
        "trend_cents_per_hour": np.polyfit(t_hours, x, 1)[0] if len(set(t_hours)) > 1 else None,
    }


def _check_against_numpy(conn, raw: pl.DataFrame, as_of: list) -> None:
    for window in WINDOWS.values():
        written = compute_volatility(conn, window, as_of)
        checked = 0
        for at in as_of:
            for item in range(1, 5):
                for provider in (1, 7):
                    want = _expected(raw, item, provider, window.width, at)
                    got = conn.execute(
                        f"SELECT {METRICS} FROM item_volatility WHERE window_name = %s"
                        " AND as_of = %s AND item_id = %s AND provider_id = %s",
                        (window.name, at, item, provider),
                    ).fetchone()
                    if want is None:
                        assert got is None, (window.name, at, item, provider)
                        continue
                    checked += 1
                    for (name, expected), value in zip(want.items(), got, strict=True):
                        if expected is None:
                            assert value is None, name
                        else:
                            assert value == pytest.approx(expected, rel=1e-9, abs=1e-9), (
                                window.name, at, item, provider, name,
                            )  # fmt: skip
        assert written == checked > 0


def test_metrics_match_numpy_over_each_sliding_window(conn, flavor) -> None:
    raw = _load(conn, flavor)
    # Soon after the first samples, mid-history, after a gap, and a run of hours.
    as_of = [START + timedelta(hours=1), START + timedelta(hours=3), T0 + timedelta(hours=6)]
    as_of += [T0 + timedelta(hours=h) for h in range(10, 14)]
    _check_against_numpy(conn, raw, as_of)
    # The 1h window as of START + 1h holds the first hour's two samples: metrics exist.
    first = conn.execute(
        "SELECT count(*) FROM item_volatility WHERE as_of = %s", (START + timedelta(hours=1),)
    ).fetchone()[0]
    assert first == 3 * 8  # every window, item and market
    # One as-of hour, as a fresh tick computes it: the previous windows' hours and
    # days are read with only their counts and price sums (the rest left 0).
    _check_against_numpy(conn, raw, [T0 + timedelta(hours=12)])


def test_segments_only_previous_windows_read_skip_their_other_sums() -> None:
    at = T0 + timedelta(hours=13)
    for window in (WINDOWS["24h"], WINDOWS["7d"]):
        plan = plan_scan(window, [at])
        queries = segment_queries(window, [at], plan)
        counts_only = [q for q in queries if not q.params["full_sums"]]
        read = {*counts_only[0].params["hours"], *counts_only[0].params["days"]}
        # Exactly the previous window's buckets, [T - 2W, T - W).
        assert min(read) == at - 2 * window.width and max(read) < at - window.width
        assert len(counts_only) == 1
    # A run of as-of hours reads a segment fully wherever any of its windows needs it.
    run = [T0 + timedelta(hours=h) for h in range(1, 25)]
    queries = segment_queries(WINDOWS["24h"], run, plan_scan(WINDOWS["24h"], run))
    partial = [h for q in queries if not q.params["full_sums"] for h in q.params["hours"]]
    assert partial and max(partial) < run[0] - WINDOWS["24h"].width


def test_recompute_is_idempotent_and_ranking_is_by_cv_per_market(conn, flavor) -> None:
    _load(conn, flavor)
    at = T0 + timedelta(hours=12)
    first = compute_volatility(conn, WINDOWS["24h"], [at])
    again = compute_volatility(conn, WINDOWS["24h"], [at])
    assert first == again == 8
    assert conn.execute("SELECT count(*) FROM item_volatility").fetchone()[0] == 8
    ranked = top_volatile(conn, "24h", at, market="synthetic_buff")
    cvs = [r.coefficient_of_variation for r in ranked]
    assert cvs == sorted(cvs, reverse=True) and len(cvs) == 4
    assert {r.market for r in ranked} == {"synthetic_buff"}


def test_serial_queries_give_the_same_metrics_and_leave_the_session_alone(conn, flavor) -> None:
    """The asset runs each window with PostgreSQL's parallel workers off: the metrics
    are the same rows, and the setting ends with the transaction (the connection goes
    back to a pool shared with other steps)."""
    _load(conn, flavor)
    at = T0 + timedelta(hours=12)
    metrics = "SELECT * FROM item_volatility ORDER BY item_id, provider_id"
    before = conn.execute("SHOW max_parallel_workers_per_gather").fetchone()[0]
    compute_volatility(conn, WINDOWS["24h"], [at])
    parallel = conn.execute(metrics).fetchall()
    assert compute_volatility(conn, WINDOWS["24h"], [at], parallel_workers=0) == 8
    assert conn.execute(metrics).fetchall() == parallel
    assert conn.execute("SHOW max_parallel_workers_per_gather").fetchone()[0] == before


def test_whole_days_inside_a_segment_are_read_from_the_24h_buckets() -> None:
    at = T0 + timedelta(hours=13)  # a Monday, 13:00
    plan = plan_scan(WINDOWS["7d"], [at])
    # Segments (T-1h-2W, T-1h-W] and (T-1h-W, T-1h]: 6 whole days in each.
    assert len(plan.days) == 12
    assert all(d.hour == 0 for d in plan.days)
    hours = sum((end - start) / timedelta(hours=1) for start, end in plan.hour_spans)
    assert hours + 24 * len(plan.days) == 2 * 7 * 24  # every hour read exactly once
    assert plan_scan(WINDOWS["1h"], [at]).days == []
    # a run of 24 as-of times: fewer whole days (the segments are short), still exact
    run = plan_scan(WINDOWS["7d"], [T0 + timedelta(hours=h) for h in range(1, 25)])
    covered = sum((e - s) / timedelta(hours=1) for s, e in run.hour_spans) + 24 * len(run.days)
    assert covered == 2 * 7 * 24 + 23 and len(run.days) == 12


def test_blocks_of_items_give_the_rows_of_one_block(conn, flavor, monkeypatch) -> None:
    """A catalogue computed a few items at a time (bounded memory) writes exactly the
    rows computed in one block, whatever the block boundaries."""
    _load(conn, flavor)
    as_of = [T0 + timedelta(hours=h) for h in range(1, 25)]
    query = f"SELECT window_name, as_of, item_id, provider_id, {METRICS} FROM item_volatility"
    results = {}
    for rows in (volatility.BLOCK_SEGMENTS, 60):  # 60: one item per block here
        monkeypatch.setattr(volatility, "BLOCK_SEGMENTS", rows)
        plan = plan_scan(WINDOWS["7d"], as_of)
        blocks = volatility.item_blocks(conn, plan)
        written = sum(compute_volatility(conn, window, as_of) for window in WINDOWS.values())
        results[len(blocks)] = (written, sorted(conn.execute(query).fetchall()))
    (one, (written_whole, whole)), (many, (written_split, split)) = sorted(results.items())
    assert one == 1 and many == 4  # the catalogue: 4 items, one per block
    assert split == whole and written_split == written_whole == len(whole) > 0
