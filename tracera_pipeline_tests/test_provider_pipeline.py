"""Real HTTP providers through Dagster: outages isolated, budgets shared, secrets kept."""

import json
import multiprocessing
import threading
import time
from datetime import UTC, datetime

import dagster as dg
from werkzeug import Request, Response

from tracera_pipeline.definitions import build_assets, build_definitions
from tracera_pipeline.defs.pricing import PricingResource
from tracera_pipeline.defs.resources import MarketDataResource, PostgresResource, RedisResource
from tracera_pipeline_tests.helpers import key

WATCHLIST = "AK-47 | Redline (Field-Tested),AWP | Asiimov (Field-Tested)"
COOKIE = "76561198000000000%7C%7Csecret-cookie-value"


def _market(httpserver, **overrides) -> MarketDataResource:
    settings = {
        "synthetic_items": 10,
        "synthetic_interval_seconds": 600,
        "steam_base_url": httpserver.url_for("/steam"),
        "steam_watchlist": WATCHLIST,
        "http_read_timeout_seconds": 0.5,
        "http_total_timeout_seconds": 5,
        "http_max_retries": 1,
        **overrides,
    }
    return MarketDataResource(**settings)


def _error_text(error) -> str:
    """A step failure's message with its causes (Dagster wraps the user error)."""
    parts = []
    while error is not None:
        parts.append(error.message)
        error = error.cause
    return " | ".join(parts)


def _overview(request: Request) -> Response:
    name = request.args["market_hash_name"]
    price = "$12.34" if "AK-47" in name else "$1,234.56"
    body = {"success": True, "lowest_price": price, "volume": "1,024", "median_price": price}
    return Response(json.dumps(body), mimetype="application/json")


def test_a_steam_outage_fails_only_its_step_and_keeps_its_secret(
    httpserver, conn, resources, caplog, dagster_instance
) -> None:
    httpserver.expect_request("/steam/market/priceoverview/").respond_with_data(
        "upstream down", status=503, content_type="text/plain"
    )
    market = _market(httpserver, steam_login_secure=COOKIE)
    resources = {**resources, "market": market}
    defs = build_definitions(["synthetic", "steam"], resources=resources, retry_policy=None)
    instance = dagster_instance
    baseline = dg.evaluate_automation_conditions(defs=defs, instance=instance)
    partition = key(datetime.now(UTC))
    run = defs.resolve_job_def("ingest_prices").execute_in_process(
        partition_key=partition, instance=instance, raise_on_error=False
    )
    failures = [e for e in run.all_events if e.event_type_value == "STEP_FAILURE"]
    assert [e.step_key for e in failures] == ["raw__prices__steam"]
    message = _error_text(failures[0].event_specific_data.error)
    assert "steam /market/priceoverview/" in message
    assert conn.execute("SELECT count(*) FROM price_history").fetchone()[0] > 0  # synthetic
    after = dg.evaluate_automation_conditions(defs=defs, instance=instance, cursor=baseline.cursor)
    price_1h = dg.AssetKey(["aggregates", "price_1h"])
    assert after.get_requested_partitions(price_1h) == {partition}  # downstream goes on
    assert len([r for r, _ in httpserver.log if "priceoverview" in r.path]) >= 2
    everything = " ".join(
        str(r.event_log_entry) for r in instance.get_records_for_run(run.run_id).records
    )
    assert COOKIE not in everything + caplog.text
    assert "secret-cookie-value" not in everything + caplog.text


def _run_steam_partition(settings: dict, partition: str, results) -> None:
    """One Dagster run in its own process, as the daemon would launch it."""
    resources = {
        "postgres": PostgresResource(**settings["postgres"]),
        "redis": RedisResource(**settings["redis"]),
        "market": MarketDataResource(**settings["market"]),
        "pricing": PricingResource(),
    }
    steam = [
        a
        for a in build_assets(["steam"], retry_policy=None)
        if dg.AssetKey(["raw", "prices", "steam"]) in a.keys
    ]
    result = dg.materialize(
        steam,
        resources=resources,
        instance=dg.DagsterInstance.ephemeral(),
        partition_key=partition,
        raise_on_error=False,
    )
    results.put(result.success)


def test_two_concurrent_runs_share_one_rate_budget(httpserver, resources, conn) -> None:
    seen: list[float] = []
    lock = threading.Lock()

    def overview(request: Request) -> Response:
        with lock:
            seen.append(time.monotonic())
        return _overview(request)

    httpserver.expect_request("/steam/market/priceoverview/").respond_with_handler(overview)
    market = _market(httpserver, rate_limits="steam=2/1.5", http_total_timeout_seconds=20)
    settings = {
        "postgres": resources["postgres"].model_dump(),
        "redis": resources["redis"].model_dump(),
        "market": market.model_dump(),
    }
    ctx = multiprocessing.get_context("spawn")
    results = ctx.Queue()
    partition = key(datetime.now(UTC))
    runs = [
        ctx.Process(target=_run_steam_partition, args=(settings, partition, results))
        for _ in range(2)
    ]
    for run in runs:
        run.start()
    for run in runs:
        run.join(90)
    assert [results.get(timeout=5), results.get(timeout=5)] == [True, True]
    seen.sort()
    assert len(seen) == 4
    # 2 requests per 1.5 s across both runs: the third waited for the window to slide.
    assert seen[2] - seen[0] >= 1.4
    names = {n for (n,) in conn.execute("SELECT market_hash_name FROM items")}
    assert set(WATCHLIST.split(",")) <= names  # new names joined the catalogue
    prices = dict(
        conn.execute(
            "SELECT i.market_hash_name, p.price_cents"
            " FROM price_history p JOIN items i USING (item_id)"
        ).fetchall()
    )
    assert prices == {
        "AK-47 | Redline (Field-Tested)": 1234,
        "AWP | Asiimov (Field-Tested)": 123456,
    }


def test_a_provider_enabled_without_its_key_fails_at_once_naming_the_variable(
    httpserver, resources
) -> None:
    resources = {**resources, "market": _market(httpserver)}
    csfloat = [
        a for a in build_assets(["csfloat"]) if dg.AssetKey(["raw", "prices", "csfloat"]) in a.keys
    ]
    started = time.monotonic()
    result = dg.materialize(
        csfloat,
        resources=resources,
        instance=dg.DagsterInstance.ephemeral(),
        partition_key=key(datetime.now(UTC)),
        raise_on_error=False,
    )
    assert not result.success
    assert time.monotonic() - started < 5  # no step retries for configuration errors
    failure = next(e for e in result.all_events if e.event_type_value == "STEP_FAILURE")
    assert "TRACERA_CSFLOAT_API_KEY" in _error_text(failure.event_specific_data.error)
    assert [r for r, _ in httpserver.log if "csfloat" in r.path] == []
