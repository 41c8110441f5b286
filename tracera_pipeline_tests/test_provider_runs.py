"""Provider runs through Dagster against real local HTTP servers: a run that fetched
nothing it should have is not green, permanent errors are not retried, and rate
budgets hold against a server that enforces its limit strictly."""

from __future__ import annotations

import json
import logging
import multiprocessing
import threading
import time
from collections import Counter
from datetime import UTC, datetime

import dagster as dg
from werkzeug import Request, Response

from tracera_pipeline.definitions import build_assets
from tracera_pipeline.defs.pricing import PricingResource
from tracera_pipeline.defs.resources import MarketDataResource, PostgresResource, RedisResource
from tracera_pipeline_tests.helpers import StrictLimiter, key

REDLINE = "AK-47 | Redline (Field-Tested)"
CASE = "Kilowatt Case"
OVERVIEW = "/steam/market/priceoverview/"
FAST_HTTP = {
    "http_read_timeout_seconds": 1,
    "http_total_timeout_seconds": 30,
    "http_max_retries": 2,
}


def _raw(provider: str, retry_policy: dg.RetryPolicy | None = None) -> list:
    asset_key = dg.AssetKey(["raw", "prices", provider])
    return [a for a in build_assets([provider], retry_policy) if asset_key in a.keys]


def _materialize(provider: str, resources: dict, market: MarketDataResource, **kwargs):
    instance = dg.DagsterInstance.ephemeral()
    result = dg.materialize(
        _raw(provider, kwargs.pop("retry_policy", None)),
        resources={**resources, "market": market},
        instance=instance,
        partition_key=key(datetime.now(UTC)),
        raise_on_error=False,
    )
    return result, instance


def _fetch_check(result) -> dg.AssetCheckEvaluation:
    (check,) = [
        c for c in result.get_asset_check_evaluations() if c.check_name == "fetched_expected_data"
    ]
    return check


def _warnings(instance: dg.DagsterInstance, run_id: str) -> list[str]:
    return [
        entry.user_message
        for entry in instance.all_logs(run_id)
        if entry.level == logging.WARNING and entry.dagster_event is None
    ]


def _failure_text(result) -> str:
    failure = next(e for e in result.all_events if e.event_type_value == "STEP_FAILURE")
    error, parts = failure.event_specific_data.error, []
    while error is not None:
        parts.append(error.message)
        error = error.cause
    return " | ".join(parts)


# -- fetched nothing it should have -----------------------------------------------


def test_steam_answering_without_prices_fails_the_check_and_warns(
    httpserver, resources, conn
) -> None:
    httpserver.expect_request(OVERVIEW).respond_with_json({"success": True})  # soft limiting
    market = MarketDataResource(
        steam_base_url=httpserver.url_for("/steam"), steam_watchlist=f"{REDLINE}\n{CASE}"
    )
    result, instance = _materialize("steam", resources, market)

    assert result.success  # the step ran; the check says what is wrong
    check = _fetch_check(result)
    assert (check.passed, check.severity) == (False, dg.AssetCheckSeverity.ERROR)
    assert check.metadata["causes"].value == "no_prices"
    assert "all 2 watchlist item(s) without a price" in check.description
    assert any("[no_prices]" in message for message in _warnings(instance, result.run_id))
    issues = result.asset_materializations_for_node("raw__prices__steam")[0].metadata
    assert issues["fetch_issues"].value[0]["cause"] == "no_prices"
    assert conn.execute("SELECT count(*) FROM price_history").fetchone()[0] == 0


def test_a_currency_whose_every_price_fails_to_parse_is_not_green(
    httpserver, resources, conn
) -> None:
    # Steam answers in NOK's layout while SEK was asked for: nothing may be stored
    httpserver.expect_request(OVERVIEW).respond_with_json(
        {"success": True, "lowest_price": "1.234,56 kr", "volume": "3"}
    )
    market = MarketDataResource(
        steam_base_url=httpserver.url_for("/steam"),
        steam_watchlist=REDLINE,
    )
    result, _ = _materialize(
        "steam", {**resources, "pricing": PricingResource(currency="SEK")}, market
    )

    check = _fetch_check(result)
    assert (check.passed, check.severity) == (False, dg.AssetCheckSeverity.ERROR)
    assert check.metadata["causes"].value == "unparseable_prices"
    reasons = conn.execute("SELECT reason, raw->>'raw_price' FROM rejected_price_points").fetchall()
    assert reasons == [
        ("unparseable price: expected 2 digits after SEK's decimal '.'", "1.234,56 kr")
    ]
    assert conn.execute("SELECT count(*) FROM price_history").fetchone()[0] == 0


def test_a_pricempire_source_the_api_drops_fails_the_check(httpserver, resources, conn) -> None:
    catalogue = [
        {
            "market_hash_name": REDLINE,
            "prices": [{"provider_key": "buff163", "price": 1234, "count": 3}],
        },
        {"market_hash_name": CASE, "prices": [{"provider_key": "buff163", "price": None}]},
    ]
    httpserver.expect_request("/pe/v4/paid/items/prices").respond_with_json(catalogue)
    market = MarketDataResource(
        pricempire_base_url=httpserver.url_for("/pe"),
        pricempire_api_key="pe-key",
        pricempire_source="steam",
    )
    result, instance = _materialize("pricempire", resources, market)

    check = _fetch_check(result)
    assert (check.passed, check.severity) == (False, dg.AssetCheckSeverity.ERROR)
    assert check.metadata["causes"].value == "source_missing"
    assert "(sources in the answer: buff163)" in check.description
    assert any("[source_missing]" in m for m in _warnings(instance, result.run_id))
    assert conn.execute("SELECT count(*) FROM rejected_price_points").fetchone()[0] == 0


def test_null_prices_are_counted_not_quarantined_and_the_rest_lands(
    httpserver, resources, conn
) -> None:
    catalogue = [
        {"market_hash_name": REDLINE, "prices": [{"provider_key": "buff163", "price": 1234}]},
        {"market_hash_name": CASE, "prices": [{"provider_key": "buff163", "price": None}]},
    ]
    httpserver.expect_request("/pe/v4/paid/items/prices").respond_with_json(catalogue)
    market = MarketDataResource(
        pricempire_base_url=httpserver.url_for("/pe"), pricempire_api_key="pe-key"
    )
    result, _ = _materialize("pricempire", resources, market)

    assert _fetch_check(result).passed
    metadata = result.asset_materializations_for_node("raw__prices__pricempire")[0].metadata
    assert metadata["provider_stats"].value["no_price"] == 1
    assert metadata["rows_rejected"].value == 0
    stored = conn.execute(
        "SELECT i.market_hash_name, p.price_cents FROM price_history p JOIN items i USING (item_id)"
    ).fetchall()
    assert stored == [(REDLINE, 1234)]
    assert conn.execute("SELECT count(*) FROM rejected_price_points").fetchone()[0] == 0


# -- permanent errors fail at once, transient ones are retried ----------------------

STEP_RETRY = dg.RetryPolicy(max_retries=2, delay=0.2)


def test_a_rejected_key_fails_at_once_naming_the_variable(httpserver, resources) -> None:
    httpserver.expect_request("/cf/listings").respond_with_json(
        {"code": 1, "message": "invalid API key"}, status=401
    )
    market = MarketDataResource(
        csfloat_base_url=httpserver.url_for("/cf"), csfloat_api_key="cf-wrong-key", **FAST_HTTP
    )
    started = time.monotonic()
    result, _ = _materialize("csfloat", resources, market, retry_policy=STEP_RETRY)

    assert not result.success and time.monotonic() - started < 10
    assert len(httpserver.log) == 1  # neither the HTTP layer nor the step retried
    assert [e.event_type_value for e in result.all_events].count("STEP_RESTARTED") == 0
    assert "set TRACERA_CSFLOAT_API_KEY to a valid key" in _failure_text(result)
    assert "cf-wrong-key" not in _failure_text(result)


def test_a_setting_skinport_refuses_fails_at_once(httpserver, resources) -> None:
    body = {"errors": [{"id": "validation_error", "message": "Invalid currency"}]}
    httpserver.expect_request("/sp/items").respond_with_json(body, status=400)
    market = MarketDataResource(skinport_base_url=httpserver.url_for("/sp"), **FAST_HTTP)
    result, _ = _materialize("skinport", resources, market, retry_policy=STEP_RETRY)

    assert not result.success and len(httpserver.log) == 1
    assert "check TRACERA_CURRENCY" in _failure_text(result)


def test_a_lasting_server_error_is_retried_by_the_step(httpserver, resources) -> None:
    httpserver.expect_request("/cf/listings").respond_with_data(
        "<html>502 Bad Gateway</html>", status=502, content_type="text/html"
    )
    market = MarketDataResource(
        csfloat_base_url=httpserver.url_for("/cf"),
        csfloat_api_key="cf-key",
        http_read_timeout_seconds=1,
        http_total_timeout_seconds=30,
        http_max_retries=1,
    )
    result, _ = _materialize("csfloat", resources, market, retry_policy=STEP_RETRY)

    assert not result.success
    events = [e.event_type_value for e in result.all_events]
    assert events.count("STEP_RESTARTED") == 2  # transient: the step tried again
    assert len(httpserver.log) == 3 * 2  # 3 step attempts x (1 + 1 HTTP retry)


# -- rate budgets against a strict server -------------------------------------------


def _priced(request: Request) -> Response:
    body = {"success": True, "lowest_price": "$1,234.56", "volume": "5"}
    return Response(json.dumps(body), content_type="application/json")


def _run_steam(settings: dict, partition: str, results) -> None:
    """One Dagster run in its own process, as the daemon would launch it."""
    resources = {
        "postgres": PostgresResource(**settings["postgres"]),
        "redis": RedisResource(**settings["redis"]),
        "market": MarketDataResource(**settings["market"]),
        "pricing": PricingResource(),
    }
    result = dg.materialize(
        _raw("steam"),
        resources=resources,
        instance=dg.DagsterInstance.ephemeral(),
        partition_key=partition,
        raise_on_error=False,
    )
    results.put(result.success)


def test_two_runs_with_retries_never_exceed_a_strictly_enforced_budget(
    httpserver, resources, conn
) -> None:
    names = [f"Sticker | Test {i}" for i in range(12)]
    flaky = {names[1], names[4], names[7], names[10]}
    attempts: Counter[str] = Counter()
    lock = threading.Lock()

    def answer(request: Request) -> Response:
        name = request.args["market_hash_name"]
        with lock:
            attempts[name] += 1
            first = attempts[name] == 1
        if first and name in flaky:  # a server error: retried, and counted
            return Response("<html>500</html>", status=500, content_type="text/html")
        return _priced(request)

    limiter = StrictLimiter(limit=5, window=2.0, answer=answer)

    httpserver.expect_request(OVERVIEW).respond_with_handler(limiter)
    settings = {
        "postgres": resources["postgres"].model_dump(),
        "redis": resources["redis"].model_dump(),
    }
    ctx = multiprocessing.get_context("spawn")
    results = ctx.Queue()
    partition = key(datetime.now(UTC))
    runs = []
    for half in (names[:6], names[6:]):
        market = MarketDataResource(
            steam_base_url=httpserver.url_for("/steam"),
            steam_watchlist="\n".join(half),
            rate_limits="steam=5/2",
            http_total_timeout_seconds=60,
            http_read_timeout_seconds=2,
        )
        run_settings = {**settings, "market": market.model_dump()}
        runs.append(ctx.Process(target=_run_steam, args=(run_settings, partition, results)))
    for run in runs:
        run.start()
    for run in runs:
        run.join(120)

    assert [results.get(timeout=5), results.get(timeout=5)] == [True, True]
    assert len(limiter.arrivals) == 12 + len(flaky)  # one retry each
    assert limiter.rejected == 0
    assert limiter.most_in_any_window() <= 5
    prices = conn.execute("SELECT count(*), min(price_cents), max(price_cents) FROM price_history")
    assert prices.fetchone() == (12, 123456, 123456)


def test_step_retry_delays_are_the_documented_ones() -> None:
    # README: after the HTTP layer gives up, the step retries 3 times, waiting
    # 5 s, 15 s and 35 s, each ± 5 s. Computed the way Dagster computes them.
    from dagster._core.definitions.policy import calculate_delay

    from tracera_pipeline.defs.ingestion.assets import PROVIDER_RETRY_POLICY as policy

    assert policy.max_retries == 3
    exact = [calculate_delay(n, policy.backoff, None, policy.delay) for n in (1, 2, 3)]
    assert exact == [5, 15, 35]
    for n, centre in zip((1, 2, 3), exact, strict=True):
        waits = [
            calculate_delay(n, policy.backoff, policy.jitter, policy.delay) for _ in range(200)
        ]
        assert all(centre - 5 <= wait <= centre + 5 for wait in waits)


def test_the_response_cap_is_an_environment_variable(httpserver, resources, monkeypatch) -> None:
    from tracera_pipeline.defs.resources import default_resources

    monkeypatch.setenv("TRACERA_HTTP_MAX_RESPONSE_MB", "1")
    monkeypatch.setenv("TRACERA_PRICEMPIRE_BASE_URL", httpserver.url_for("/pe"))
    monkeypatch.setenv("TRACERA_PRICEMPIRE_API_KEY", "pe-key")
    item = {"market_hash_name": REDLINE, "prices": [{"provider_key": "buff163", "price": 1}]}
    big = json.dumps([item] * 30_000)  # ~2.4 MB
    httpserver.expect_request("/pe/v4/paid/items/prices").respond_with_data(
        big, content_type="application/json"
    )
    market = default_resources()["market"]  # EnvVars, resolved by Dagster at run time
    result, _ = _materialize("pricempire", resources, market, retry_policy=STEP_RETRY)

    assert not result.success and len(httpserver.log) == 1  # permanent: not retried
    message = _failure_text(result)
    assert "exceeds the 1048576-byte cap" in message
    assert "raise TRACERA_HTTP_MAX_RESPONSE_MB" in message


def test_an_unreadable_budget_setting_fails_at_once_naming_it(httpserver, resources) -> None:
    market = MarketDataResource(
        steam_base_url=httpserver.url_for("/steam"),
        steam_watchlist=REDLINE,
        rate_limits="steam=20 per minute",
    )
    result, _ = _materialize("steam", resources, market, retry_policy=STEP_RETRY)

    assert not result.success and httpserver.log == []
    assert [e.event_type_value for e in result.all_events].count("STEP_RESTARTED") == 0
    assert "set TRACERA_PROVIDER_RATE_LIMITS like 'steam=20/60'" in _failure_text(result)
