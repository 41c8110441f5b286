"""Skinport adapter against a real local HTTP server that insists on brotli."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import brotli
import polars as pl
import pytest
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from tracera_pipeline.providers.base import PRICE_SCHEMA
from tracera_pipeline.providers.errors import (
    ProviderConfigError,
    ProviderHTTPError,
    ProviderRateLimited,
    ProviderResponseError,
)
from tracera_pipeline.providers.http_client import HttpSettings, ProviderHttpClient
from tracera_pipeline.providers.rate_budget import RateBudget
from tracera_pipeline.providers.skinport import (
    SkinportProvider,
    SkinportSettings,
    build_skinport_provider,
    price_to_cents,
)
from tracera_pipeline.providers.validation import validate_prices
from tracera_pipeline.storage.price_writer import WriteMode
from tracera_pipeline_tests.helpers import StrictLimiter

FAST = HttpSettings(
    connect_timeout=0.5, read_timeout=0.5, total_timeout=10, max_retries=2, backoff_base=0.01
)
CREATED = 1_661_324_437


def _item(name: str, min_price: Any, quantity: int, **extra: Any) -> dict[str, Any]:
    """One ``/v1/items`` entry shaped like Skinport's (all values invented)."""
    slug = name.lower().replace(" | ", "-").replace(" ", "-")
    return {
        "market_hash_name": name,
        "currency": "USD",
        "suggested_price": 12.34,
        "item_page": f"https://skinport.com/item/{slug}",
        "market_page": f"https://skinport.com/market?item={slug}&cat=Rifle",
        "min_price": min_price,
        "max_price": None if min_price is None else 99.5,
        "mean_price": None if min_price is None else 20.1,
        "median_price": None if min_price is None else 18.0,
        "quantity": quantity,
        "created_at": CREATED,
        "updated_at": CREATED + 86_400,
        **extra,
    }


CATALOGUE = [
    _item("AK-47 | Redline (Field-Tested)", 19.99, 211),
    _item("Sticker | Crown (Foil)", 0.29, 4, version=None),  # int(0.29 * 100) == 28
    _item("★ Karambit | Doppler (Factory New)", 905.1, 3, version="Phase 2"),
    _item("★ Karambit | Doppler (Factory New)", 812.7, 2, version="Phase 4"),
    _item("★ Karambit | Doppler (Factory New)", 2450.0, 1, version="Ruby"),
    _item("Operation Hydra Case", None, 0),  # nothing listed: skipped
    _item("M4A4 | Howl (Minimal Wear)", None, 7),  # listed but no price: quarantined
    _item("P250 | Sand Dune (Field-Tested)", 0, 12),  # non-positive: quarantined
]


def _window() -> tuple[datetime, datetime]:
    now = datetime.now(UTC)
    return now - timedelta(minutes=30), now + timedelta(minutes=30)


def _serve_brotli(httpserver: HTTPServer, items: Any) -> None:
    """The catalogue, brotli-compressed; 406 without ``br`` as the real API does."""

    def handler(request: Request) -> Response:
        if "br" not in request.headers.get("Accept-Encoding", ""):
            return Response(
                json.dumps({"errors": [{"id": "not_acceptable", "message": "Use brotli"}]}),
                status=406,
                content_type="application/json",
            )
        body = brotli.compress(json.dumps(items).encode())
        return Response(body, content_type="application/json", headers={"Content-Encoding": "br"})

    httpserver.expect_request("/v1/items").respond_with_handler(handler)


def _provider(httpserver: HTTPServer, sleeps: list[float] | None = None) -> SkinportProvider:
    settings = SkinportSettings(base_url=httpserver.url_for("/v1"))
    sleep = sleeps.append if sleeps is not None else (lambda _: None)
    return build_skinport_provider(settings, http=FAST, sleep=sleep)


def _by_name(frame: pl.DataFrame) -> dict[str, dict[str, Any]]:
    return {row["market_hash_name"]: row for row in frame.to_dicts()}


def test_fetches_the_brotli_catalogue_as_exact_cents(httpserver: HTTPServer) -> None:
    _serve_brotli(httpserver, CATALOGUE)
    start, end = _window()
    provider = _provider(httpserver)

    frame = provider.fetch(start, end)

    request = httpserver.log[0][0]
    assert request.headers["Accept-Encoding"] == "br"
    assert request.args.to_dict() == {"app_id": "730", "currency": "USD", "tradable": "0"}
    assert httpserver.log[0][1].headers["Content-Encoding"] == "br"  # really compressed
    assert {k: frame.schema[k] for k in PRICE_SCHEMA} == PRICE_SCHEMA
    assert frame.schema["raw_price"] == pl.String()
    rows = _by_name(frame.filter(pl.col("price_cents") > 0))
    assert rows["AK-47 | Redline (Field-Tested)"]["price_cents"] == 1999
    assert rows["Sticker | Crown (Foil)"]["price_cents"] == 29
    assert rows["AK-47 | Redline (Field-Tested)"]["listings"] == 211
    assert frame.get_column("volume").null_count() == frame.height
    assert frame.get_column("time").n_unique() == 1
    assert start <= frame.get_column("time")[0] < end
    assert provider.supports_history is False
    assert provider.write_mode is WriteMode.MERGE


def test_versions_collapse_to_the_lowest_price_per_name(httpserver: HTTPServer) -> None:
    _serve_brotli(httpserver, CATALOGUE)
    provider = _provider(httpserver)

    frame = provider.fetch(*_window())

    karambit = frame.filter(pl.col("market_hash_name") == "★ Karambit | Doppler (Factory New)")
    assert karambit.height == 1
    assert karambit.row(0, named=True)["price_cents"] == 81_270
    assert karambit.row(0, named=True)["raw_price"] == "812.7"
    assert karambit.row(0, named=True)["listings"] == 2 + 3 + 1  # all versions' stock
    assert provider.last_stats["merged_versions"] == 2


def test_unlisted_items_are_skipped_and_bad_prices_quarantined(httpserver: HTTPServer) -> None:
    _serve_brotli(httpserver, CATALOGUE)
    start, end = _window()
    provider = _provider(httpserver)

    frame = provider.fetch(start, end)
    checked = validate_prices(frame, start, end)

    assert "Operation Hydra Case" not in frame.get_column("market_hash_name").to_list()
    assert provider.last_stats == {
        "items": 8,
        "no_listing": 1,
        "merged_versions": 2,
        "rows": 5,
    }
    reasons = dict(checked.rejected.select("market_hash_name", "reason").iter_rows())
    assert reasons == {
        "M4A4 | Howl (Minimal Wear)": "missing price",
        "P250 | Sand Dune (Field-Tested)": "non-positive price",
    }
    raw = dict(checked.rejected.select("market_hash_name", "raw_price").iter_rows())
    assert raw["P250 | Sand Dune (Field-Tested)"] == "0"
    assert checked.accepted.height == 3


def test_unparseable_price_keeps_its_text_for_the_quarantine(httpserver: HTTPServer) -> None:
    items = [_item("Glock-18 | Fade (Factory New)", "n/a", 5)]
    _serve_brotli(httpserver, items)
    start, end = _window()

    checked = validate_prices(_provider(httpserver).fetch(start, end), start, end)

    assert checked.rejected.row(0, named=True)["raw_price"] == "n/a"
    assert checked.rejected.row(0, named=True)["reason"] == "unparseable price: 'n/a'"


def test_without_brotli_the_server_answers_406(httpserver: HTTPServer) -> None:
    _serve_brotli(httpserver, CATALOGUE)
    client = ProviderHttpClient(
        "skinport", httpserver.url_for("/v1"), settings=FAST, headers={"Accept-Encoding": "gzip"}
    )
    provider = SkinportProvider(SkinportSettings(base_url=httpserver.url_for("/v1")), client)

    with pytest.raises(ProviderHTTPError) as caught:
        provider.fetch(*_window())

    assert caught.value.status == 406
    assert "Accept-Encoding: br" in str(caught.value)
    assert "not_acceptable: Use brotli" in str(caught.value)
    assert len(httpserver.log) == 1  # a 4xx is not retried


def test_429_waits_retry_after_then_succeeds(httpserver: HTTPServer) -> None:
    limited = {"errors": [{"id": "rate_limit_exceeded", "message": "Rate limit exceeded"}]}
    httpserver.expect_oneshot_request("/v1/items").respond_with_json(
        limited, status=429, headers={"Retry-After": "7"}
    )
    _serve_brotli(httpserver, CATALOGUE)
    sleeps: list[float] = []

    frame = _provider(httpserver, sleeps).fetch(*_window())

    assert sleeps == [7.0]
    assert [response.status_code for _, response in httpserver.log] == [429, 200]
    assert frame.height == 5


def test_persistent_429_raises_rate_limited(httpserver: HTTPServer) -> None:
    limited = {"errors": [{"id": "rate_limit_exceeded", "message": "Rate limit exceeded"}]}
    httpserver.expect_request("/v1/items").respond_with_json(
        limited, status=429, headers={"Retry-After": "1"}
    )
    sleeps: list[float] = []

    with pytest.raises(ProviderRateLimited) as caught:
        _provider(httpserver, sleeps).fetch(*_window())

    assert caught.value.status == 429
    assert sleeps == [1.0, 1.0]  # max_retries=2
    assert len(httpserver.log) == 3


def test_a_refused_setting_fails_at_once_with_the_ids_and_the_variable(
    httpserver: HTTPServer,
) -> None:
    body = {"errors": [{"id": "validation_error", "message": "currency must be one of …"}]}
    httpserver.expect_request("/v1/items").respond_with_json(body, status=400)

    with pytest.raises(ProviderHTTPError, match="validation_error: currency must be one of") as e:
        _provider(httpserver).fetch(*_window())
    assert e.value.permanent and "; check TRACERA_CURRENCY (one of AUD," in str(e.value)
    assert len(httpserver.log) == 1


def test_a_currency_in_lower_case_is_asked_in_skinports_spelling(httpserver: HTTPServer) -> None:
    httpserver.expect_request(
        "/v1/items", query_string={"app_id": "730", "currency": "EUR", "tradable": "0"}
    ).respond_with_json([_item("Sticker | Crown (Foil)", 0.29, 4, currency="EUR")])
    settings = SkinportSettings(base_url=httpserver.url_for("/v1"), currency="eur")
    frame = build_skinport_provider(settings, http=FAST).fetch(*_window())
    assert frame.select("market_hash_name", "price_cents").rows() == [
        ("Sticker | Crown (Foil)", 29)
    ]


def test_an_unknown_currency_fails_before_any_request(httpserver: HTTPServer) -> None:
    settings = SkinportSettings(base_url=httpserver.url_for("/v1"), currency="EURO")
    with pytest.raises(ProviderConfigError, match="set TRACERA_CURRENCY to one of AUD,") as e:
        build_skinport_provider(settings, http=FAST).fetch(*_window())
    assert e.value.permanent and httpserver.log == []


def test_an_empty_catalogue_is_an_issue(httpserver: HTTPServer) -> None:
    _serve_brotli(httpserver, [])
    provider = _provider(httpserver)
    assert provider.fetch(*_window()).height == 0
    assert [(i.cause, i.severity) for i in provider.last_issues] == [("empty_catalogue", "error")]


def test_rows_in_another_currency_are_quarantined_and_the_rest_land(
    httpserver: HTTPServer,
) -> None:
    _serve_brotli(
        httpserver,
        [
            _item("AK-47 | Redline (Field-Tested)", 18.5, 3) | {"currency": "EUR"},
            _item("AWP | Asiimov (Field-Tested)", 95.1, 2),
        ],
    )
    start, end = _window()
    result = validate_prices(_provider(httpserver).fetch(start, end), start, end)
    assert result.accepted.get_column("price_cents").to_list() == [9510]
    assert result.rejected.select("market_hash_name", "raw_price", "reason").rows() == [
        ("AK-47 | Redline (Field-Tested)", "18.5", "currency 'EUR', expected USD")
    ]


@pytest.mark.parametrize("body", [{"items": []}, [["AK-47 | Redline (Field-Tested)", 1.0]]])
def test_unexpected_shape_is_a_response_error(httpserver: HTTPServer, body: Any) -> None:
    _serve_brotli(httpserver, body)

    with pytest.raises(ProviderResponseError, match=r"^skinport /items: "):
        _provider(httpserver).fetch(*_window())


def test_snapshot_time_stays_inside_a_window_that_already_ended(httpserver: HTTPServer) -> None:
    _serve_brotli(httpserver, CATALOGUE[:1])
    end = datetime.now(UTC).replace(microsecond=0)  # the caller passes "now" as the end

    frame = _provider(httpserver).fetch(end - timedelta(hours=1), end)

    assert frame.get_column("time")[0] == end - timedelta(microseconds=1)


@pytest.mark.parametrize(
    ("value", "cents"),
    [
        (0.29, 29),
        (0.57, 57),
        (1.1, 110),
        (19.99, 1999),
        (2450, 245_000),
        ("3.07", 307),
        (0.015, 2),  # sub-cent digits round half up
        (None, None),
        (True, None),
        ("n/a", None),
        (float("nan"), None),
    ],
)
def test_price_to_cents_is_exact(value: Any, cents: int | None) -> None:
    assert price_to_cents(value) == cents


def test_repeated_fetches_stay_within_a_strictly_enforced_budget(
    httpserver: HTTPServer, redis_client, redis_prefix: str
) -> None:
    # Skinport's 8 per 300 s, scaled down to 2 per 1 s; every fetch is one request.
    body = brotli.compress(json.dumps(CATALOGUE[:2]).encode())

    def catalogue(request: Request) -> Response:
        return Response(body, content_type="application/json", headers={"Content-Encoding": "br"})

    limiter = StrictLimiter(limit=2, window=1.0, answer=catalogue)
    httpserver.expect_request("/v1/items").respond_with_handler(limiter)
    budget = RateBudget(redis_client, "skinport", limit=2, period_seconds=1, prefix=redis_prefix)
    settings = SkinportSettings(base_url=httpserver.url_for("/v1"))
    provider = build_skinport_provider(settings, http=FAST, budget=budget)

    prices = [provider.fetch(*_window()).height for _ in range(5)]

    assert prices == [2] * 5
    assert (len(limiter.arrivals), limiter.rejected) == (5, 0)
    assert limiter.most_in_any_window() <= 2
