"""Volatility metrics against an independent numpy computation."""

from datetime import timedelta

import numpy as np
import pytest

from tracera_pipeline.analytics.volatility import WINDOWS, compute_volatility, top_volatile
from tracera_pipeline.storage.aggregates import LEVELS, refresh_level
from tracera_pipeline_tests.helpers import T0, load_synthetic


def test_metrics_match_numpy_over_the_complete_buckets_before_as_of(conn, flavor) -> None:
    start, end = T0 - timedelta(days=1), T0 + timedelta(days=1)
    load_synthetic(conn, flavor, start, end, items=8, interval=600)
    for level in ("1h", "24h", "7d"):
        refresh_level(conn, flavor, LEVELS[level], start, end)
    as_of = [T0 + timedelta(hours=6), T0 + timedelta(hours=6, minutes=30)]
    written = compute_volatility(conn, WINDOWS["1h"], as_of)
    assert written == 16
    for at in as_of:
        rows = conn.execute(
            "SELECT item_id, buckets, last_avg_cents, sma_cents, stddev_cents, pct_change,"
            " bollinger_upper_cents, bollinger_lower_cents, coefficient_of_variation,"
            " trend_slope_cents FROM item_volatility WHERE window_name = '1h' AND as_of = %s"
            " ORDER BY item_id",
            (at,),
        ).fetchall()
        assert len(rows) == 8
        for item_id, buckets, last, sma, sigma, pct, upper, lower, cv, slope in rows:
            series = conn.execute(
                "SELECT bucket, avg_cents FROM price_1h WHERE item_id = %s"
                " AND bucket >= %s AND bucket + interval '1 hour' <= %s ORDER BY bucket",
                (item_id, at - timedelta(hours=24), at),
            ).fetchall()
            values = np.array([v for _, v in series])
            x = np.array([b.timestamp() / 3600 for b, _ in series])
            assert buckets == len(values) == (23 if at.minute else 24)
            assert last == pytest.approx(values[-1])
            assert sma == pytest.approx(values.mean(), rel=1e-12)
            assert sigma == pytest.approx(values.std(ddof=1), rel=1e-9)
            assert pct == pytest.approx((values[-1] - values[-2]) / values[-2] * 100, rel=1e-9)
            assert upper == pytest.approx(values.mean() + 2 * values.std(ddof=1), rel=1e-9)
            assert lower == pytest.approx(values.mean() - 2 * values.std(ddof=1), rel=1e-9)
            assert cv == pytest.approx(values.std(ddof=1) / values.mean(), rel=1e-9)
            assert slope == pytest.approx(np.polyfit(x, values, 1)[0], rel=1e-6)


def test_recompute_is_idempotent_and_ranking_is_by_cv(conn, flavor) -> None:
    load_synthetic(conn, flavor, T0, T0 + timedelta(hours=12), items=6, interval=600)
    refresh_level(conn, flavor, LEVELS["1h"], T0, T0 + timedelta(hours=12))
    at = T0 + timedelta(hours=12)
    first = compute_volatility(conn, WINDOWS["1h"], [at])
    again = compute_volatility(conn, WINDOWS["1h"], [at])
    assert first == again == 6
    assert conn.execute("SELECT count(*) FROM item_volatility").fetchone()[0] == 6
    ranked = top_volatile(conn, "1h", at)
    cvs = [cv for _, _, cv, _ in ranked]
    assert cvs == sorted(cvs, reverse=True) and len(cvs) == 6
