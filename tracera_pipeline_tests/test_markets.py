"""Markets kept apart end to end: per-market caches and rankings, the reference
price, cross-market spreads, and one currency per database."""

import json
from datetime import timedelta

import dagster as dg
import polars as pl
import pytest

from tracera_pipeline.analytics.spreads import refresh_spreads, top_spreads
from tracera_pipeline.definitions import build_assets
from tracera_pipeline.defs.pricing import PricingResource
from tracera_pipeline.defs.resources import MarketDataResource
from tracera_pipeline.portfolio.loader import Portfolio, load_portfolios
from tracera_pipeline.providers.errors import ProviderConfigError
from tracera_pipeline.providers.item_names import item_names
from tracera_pipeline.providers.registry import DEFAULT_SELLER_FEES
from tracera_pipeline.providers.synthetic import SYNTHETIC_MARKETS
from tracera_pipeline.storage.aggregates import LEVELS, refresh_level
from tracera_pipeline_tests.helpers import T0, key, load_synthetic, raw_rows

MARKETS = list(SYNTHETIC_MARKETS)
RANGE_TAGS = {
    "dagster/asset_partition_range_start": key(T0),
    "dagster/asset_partition_range_end": key(T0 + timedelta(hours=3)),
}


def _expected_spreads(raw: pl.DataFrame, names: dict[int, str]) -> dict[tuple, tuple]:
    """Per (hour, item): cheapest, dearest, best net seller among the others, % figures."""
    hourly = (
        raw.with_columns(pl.col("time").dt.truncate("1h").alias("bucket"))
        .group_by("bucket", "item_id", "provider_id")
        .agg(pl.col("price_cents").mean().alias("avg"))
    )
    by_key: dict[tuple, list[tuple[str, float]]] = {}
    for bucket, item, provider, avg in hourly.iter_rows():
        by_key.setdefault((bucket, item), []).append((names[provider], avg))
    expected = {}
    for k, quotes in by_key.items():
        quotes.sort(key=lambda q: (q[1], q[0]))
        (buy, low), (dear, high) = quotes[0], quotes[-1]
        sell, net = max(
            ((m, p * (1 - DEFAULT_SELLER_FEES[m])) for m, p in quotes[1:]), key=lambda q: q[1]
        )
        expected[k] = (buy, dear, sell, (high - low) / low * 100, (net - low) / low * 100)
    return expected


def test_three_markets_through_the_graph(conn, resources, redis_client, redis_prefix) -> None:
    load_portfolios(
        conn, [Portfolio("p", holdings={n: 1 for n in item_names(3)})], add_unknown_items=True
    )
    result = dg.materialize(
        build_assets(MARKETS),
        resources=resources,
        instance=dg.DagsterInstance.ephemeral(),
        tags=RANGE_TAGS,
    )
    assert result.success
    prefix = redis_prefix
    # Aggregates and volatility per market, never blended.
    per_market = conn.execute(
        "SELECT provider_id, count(*) FROM price_1h GROUP BY 1 ORDER BY 1"
    ).fetchall()
    assert per_market == [(1, 80), (6, 80), (7, 80)]  # 20 items × 4 hours each
    # Per-market rankings and the reference one, for all three windows, no expiry.
    for window in ("1h", "24h", "7d"):
        assert redis_client.zcard(f"{prefix}rankings:volatile:{window}") == 20
        assert redis_client.ttl(f"{prefix}rankings:volatile:{window}") == -1
        for market in MARKETS:
            assert redis_client.zcard(f"{prefix}rankings:volatile:{window}:{market}") == 20
    # Reference price: priority over the enabled markets (synthetic first).
    reference = json.loads(redis_client.get(f"{prefix}price:latest:1"))
    assert reference["market"] == "synthetic" and reference["rule"] == "priority"
    assert set(reference["markets"]) == set(MARKETS) and reference["currency"] == "USD"
    steam = json.loads(redis_client.get(f"{prefix}price:market:synthetic_steam:1"))
    assert steam["price_cents"] == reference["markets"]["synthetic_steam"]
    # Spreads equal an independent computation from the raw rows.
    names = dict(conn.execute("SELECT provider_id, name FROM providers").fetchall())
    expected = _expected_spreads(raw_rows(conn), names)
    stored = conn.execute(
        "SELECT bucket, item_id, cheapest_market, dearest_market, best_net_market,"
        " spread_pct, net_spread_pct FROM market_spreads"
    ).fetchall()
    assert len(stored) == len(expected) == 80
    for bucket, item, *figures in stored:
        want = expected[(bucket, item)]
        assert figures[:3] == list(want[:3])
        assert figures[3:] == pytest.approx(want[3:], rel=1e-9)
    top = redis_client.zrevrange(f"{prefix}spreads:top", 0, -1, withscores=True)
    newest = [v for (b, _), v in expected.items() if b == T0 + timedelta(hours=3)]
    assert len(top) == 20
    assert top[0][1] == pytest.approx(max(v[4] for v in newest), rel=1e-9)
    snapshot = conn.execute("SELECT items_priced, priced_by FROM portfolio_snapshots").fetchall()
    assert snapshot[-1] == (3, {"synthetic": 3})


def test_spreads_skip_items_on_one_market_and_apply_fee_overrides(conn, flavor) -> None:
    load_synthetic(conn, flavor, T0, T0 + timedelta(hours=1), items=3, interval=1200)
    load_synthetic(
        conn, flavor, T0, T0 + timedelta(hours=1), items=2, interval=1200, provider_id=6,
        market_name="synthetic_steam",
    )  # fmt: skip
    refresh_level(conn, flavor, LEVELS["1h"], T0, T0 + timedelta(hours=1))
    fees = PricingResource(market_fees="synthetic_steam=0.5,synthetic=0").fees()
    assert refresh_spreads(conn, T0, T0 + timedelta(hours=1), fees) == 2  # item 3: one market
    quotes: dict[int, dict[str, float]] = {}
    for item, market, cents in conn.execute(
        "SELECT a.item_id, p.name, a.avg_cents FROM price_1h a JOIN providers p USING (provider_id)"
    ).fetchall():
        quotes.setdefault(item, {})[market] = cents
    for spread in top_spreads(conn, T0, 10):
        prices = quotes[spread.item_id]
        dear, cheap = max(prices, key=prices.get), min(prices, key=prices.get)
        assert (spread.buy, spread.sell) == (cheap, dear)  # the only other market
        net = prices[dear] * (1 - fees[dear])
        assert spread.net_spread_pct == pytest.approx((net - prices[cheap]) / prices[cheap] * 100)
        assert spread.prices == {m: pytest.approx(p, abs=0.005) for m, p in prices.items()}


def test_one_currency_per_database_and_markets_that_cannot_quote_it_fail_alone(
    conn, resources
) -> None:
    instance = dg.DagsterInstance.ephemeral()
    eur = {**resources, "pricing": PricingResource(currency="eur")}
    result = dg.materialize(
        build_assets(["synthetic", "csfloat"]),
        selection=dg.AssetSelection.groups("ingestion"),
        resources=eur,
        instance=instance,
        partition_key=key(T0),
        raise_on_error=False,
    )
    failures = [e for e in result.all_events if e.is_step_failure]
    assert [e.step_key for e in failures] == ["raw__prices__csfloat"]
    message = failures[0].step_failure_data.error.message
    assert (
        "csfloat settings: cannot quote prices in EUR" in message and "TRACERA_CURRENCY" in message
    )
    assert not [e for e in result.all_events if e.event_type_value == "STEP_UP_FOR_RETRY"]
    assert conn.execute("SELECT count(*) FROM price_history").fetchone()[0] == 20 * 6
    # The database now holds euros: a run in dollars is refused, naming both fixes.
    result = dg.materialize(
        build_assets(["synthetic"]),
        selection=dg.AssetSelection.groups("ingestion"),
        resources=resources,
        instance=instance,
        partition_key=key(T0),
        raise_on_error=False,
    )
    assert not result.success
    failure = next(e for e in result.all_events if e.is_step_failure)
    assert (
        "this database holds prices in EUR but TRACERA_CURRENCY=USD; set TRACERA_CURRENCY=EUR"
        in failure.step_failure_data.error.message
    )


def test_a_conflicting_superseded_currency_setting_is_refused() -> None:
    market = MarketDataResource(steam_currency="EUR")
    with pytest.raises(ProviderConfigError, match="TRACERA_STEAM_CURRENCY=EUR conflicts"):
        market.provider("steam", currency="USD")
    assert market.provider("synthetic_buff", currency="USD").name == "synthetic_buff"
    with pytest.raises(ValueError, match="TRACERA_CURRENCY='US Dollar' is not an ISO 4217"):
        PricingResource(currency="US Dollar").currency_code()
