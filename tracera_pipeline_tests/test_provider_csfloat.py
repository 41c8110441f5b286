"""CSFloat adapter against a real local HTTP server: cursors, auth, rate-limit headers."""

from __future__ import annotations

import json
import logging
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import polars as pl
import pytest
import redis
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from tracera_pipeline.providers.base import PRICE_SCHEMA
from tracera_pipeline.providers.csfloat import (
    CsfloatProvider,
    CsfloatSettings,
    build_csfloat_provider,
)
from tracera_pipeline.providers.errors import (
    ProviderConfigError,
    ProviderHTTPError,
    ProviderResponseError,
)
from tracera_pipeline.providers.http_client import HttpSettings
from tracera_pipeline.providers.rate_budget import RateBudget
from tracera_pipeline.providers.validation import validate_prices
from tracera_pipeline.storage.price_writer import WriteMode

API_KEY = "csf-test-key-5b1f0c2e9a7d"
FAST = HttpSettings(
    connect_timeout=0.5, read_timeout=0.5, total_timeout=10, max_retries=2, backoff_base=0.01
)


def _listing(listing_id: str, name: str, price: Any) -> dict[str, Any]:
    """One ``/v1/listings`` entry shaped like CSFloat's (all values invented)."""
    return {
        "id": listing_id,
        "created_at": "2026-11-24T13:05:11.402811Z",
        "type": "buy_now",
        "price": price,
        "state": "listed",
        "seller": {"steam_id": "76561190000000000", "stall_public": True},
        "reference": {"base_price": 2210, "predicted_price": 2275, "quantity": 88},
        "item": {
            "asset_id": "31000000001",
            "def_index": 7,
            "paint_index": 282,
            "paint_seed": 661,
            "float_value": 0.2511,
            "market_hash_name": name,
            "wear_name": "Field-Tested",
            "is_stattrak": False,
            "is_souvenir": False,
            "stickers": [],
            "scm": {"price": 2301, "volume": 412},
        },
        "min_offer_price": 2100,
        "max_offer_discount": 800,
        "watchers": 3,
    }


REDLINE = "AK-47 | Redline (Field-Tested)"
VULCAN = "AK-47 | Vulcan (Minimal Wear)"
AWP = "AWP | Asiimov (Battle-Scarred)"
PAGES = {
    None: ([_listing("1", REDLINE, 2500), _listing("2", VULCAN, 11_875)], "c-page-2"),
    "c-page-2": ([_listing("3", REDLINE, 2399), _listing("2", VULCAN, 11_875)], "c-page-3"),
    "c-page-3": ([_listing("4", AWP, 6450), _listing("5", REDLINE, 2610)], None),
}


def _window() -> tuple[datetime, datetime]:
    now = datetime.now(UTC)
    return now - timedelta(minutes=30), now + timedelta(minutes=30)


def _settings(httpserver: HTTPServer, **overrides: Any) -> CsfloatSettings:
    fields = {"base_url": httpserver.url_for("/api/v1"), "api_key": API_KEY} | overrides
    return CsfloatSettings(**fields)


def _provider(
    httpserver: HTTPServer, sleeps: list[float] | None = None, **overrides: Any
) -> CsfloatProvider:
    sleep = sleeps.append if sleeps is not None else (lambda _: None)
    return build_csfloat_provider(_settings(httpserver, **overrides), http=FAST, sleep=sleep)


def _serve_pages(
    httpserver: HTTPServer,
    pages: dict[str | None, tuple[list[Any], str | None]],
    headers: dict[str, str] | None = None,
) -> None:
    def handler(request: Request) -> Response:
        listings, cursor = pages[request.args.get("cursor")]
        body = {"data": listings} | ({"cursor": cursor} if cursor else {})
        return Response(json.dumps(body), content_type="application/json", headers=headers)

    httpserver.expect_request("/api/v1/listings").respond_with_handler(handler)


def test_follows_cursors_and_aggregates_per_name(httpserver: HTTPServer) -> None:
    _serve_pages(httpserver, PAGES)
    start, end = _window()
    provider = _provider(httpserver)

    frame = provider.fetch(start, end)

    requests = [request for request, _ in httpserver.log]
    assert [r.args.get("cursor") for r in requests] == [None, "c-page-2", "c-page-3"]
    assert {r.headers["Authorization"] for r in requests} == {API_KEY}  # no "Bearer"
    assert requests[0].args.to_dict() == {
        "limit": "50",
        "sort_by": "most_recent",
        "type": "buy_now",
    }
    assert all(API_KEY not in r.url for r in requests)
    rows = {row["market_hash_name"]: row for row in frame.to_dicts()}
    assert rows[REDLINE]["price_cents"] == 2399
    assert rows[REDLINE]["listings"] == 3
    assert rows[VULCAN]["listings"] == 1  # listing "2" came back on page 2: counted once
    assert rows[AWP]["price_cents"] == 6450
    assert {k: frame.schema[k] for k in PRICE_SCHEMA} == PRICE_SCHEMA
    assert frame.get_column("volume").null_count() == frame.height
    assert all(start <= t < end for t in frame.get_column("time"))
    assert provider.last_stats == {
        "pages": 3,
        "rate_limit_waits": 0,
        "stopped_by_rate_limit": 0,
        "listings": 5,
        "rows": 3,
    }
    assert (provider.supports_history, provider.write_mode) == (False, WriteMode.MERGE)


def test_stops_at_max_pages(httpserver: HTTPServer) -> None:
    _serve_pages(httpserver, PAGES)

    frame = _provider(httpserver, max_pages=2, page_size=10).fetch(*_window())

    assert len(httpserver.log) == 2
    assert httpserver.log[0][0].args["limit"] == "10"
    assert AWP not in frame.get_column("market_hash_name").to_list()


def test_accepts_a_bare_array(httpserver: HTTPServer) -> None:
    listings = [_listing("9", REDLINE, 2450), _listing("10", REDLINE, 2475)]
    httpserver.expect_request("/api/v1/listings").respond_with_json(listings)

    frame = _provider(httpserver).fetch(*_window())

    assert len(httpserver.log) == 1  # no cursor in a bare array: one page
    assert frame.select("market_hash_name", "price_cents", "listings").rows() == [
        (REDLINE, 2450, 2)
    ]


def test_exhausted_window_waits_for_the_reset(httpserver: HTTPServer) -> None:
    reset = time.time() + 20
    headers = {"X-Ratelimit-Limit": "3", "X-Ratelimit-Remaining": "0"}
    _serve_pages(httpserver, PAGES, headers | {"X-Ratelimit-Reset": f"{reset:.0f}"})
    sleeps: list[float] = []
    provider = _provider(httpserver, sleeps)

    frame = provider.fetch(*_window())

    assert len(sleeps) == 2  # before page 2 and page 3, not after the last one
    assert all(15 < wait <= 21 for wait in sleeps)
    assert len(httpserver.log) == 3
    assert provider.last_stats["rate_limit_waits"] == 2
    assert frame.height == 3


def test_far_reset_stops_paginating(httpserver: HTTPServer) -> None:
    headers = {"X-Ratelimit-Remaining": "0", "X-Ratelimit-Reset": f"{time.time() + 3600:.0f}"}
    _serve_pages(httpserver, PAGES, headers)
    sleeps: list[float] = []
    provider = _provider(httpserver, sleeps)

    frame = provider.fetch(*_window())

    assert sleeps == []
    assert len(httpserver.log) == 1
    assert provider.last_stats["stopped_by_rate_limit"] == 1
    assert sorted(frame.get_column("market_hash_name")) == [REDLINE, VULCAN]


def test_429_with_reset_header_is_waited_out(httpserver: HTTPServer) -> None:
    # within the 10 s call budget of FAST
    headers = {"X-Ratelimit-Remaining": "0", "X-Ratelimit-Reset": f"{time.time() + 6:.0f}"}
    httpserver.expect_oneshot_request("/api/v1/listings").respond_with_json(
        {"code": 429, "message": "too many requests"}, status=429, headers=headers
    )
    httpserver.expect_request("/api/v1/listings").respond_with_json([_listing("1", REDLINE, 2500)])
    sleeps: list[float] = []

    frame = _provider(httpserver, sleeps).fetch(*_window())

    assert len(sleeps) == 1 and 4 < sleeps[0] <= 7
    assert frame.height == 1


def test_401_never_shows_the_key(httpserver: HTTPServer, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    body = {"code": 1, "message": f"invalid API key {API_KEY}"}  # a server echoing it back
    httpserver.expect_request("/api/v1/listings").respond_with_json(body, status=401)

    with pytest.raises(ProviderHTTPError) as caught:
        _provider(httpserver).fetch(*_window())

    assert caught.value.status == 401
    assert caught.value.permanent  # fails the step at once, naming the variable
    assert str(caught.value).endswith(
        "; the API key was refused: set TRACERA_CSFLOAT_API_KEY to a valid key"
    )
    assert len(httpserver.log) == 1
    assert "csfloat /listings" in str(caught.value)
    assert "invalid API key ***" in str(caught.value)
    assert API_KEY not in str(caught.value) + repr(caught.value.args)
    assert API_KEY not in caplog.text


def test_5xx_retries_log_without_the_key(
    httpserver: HTTPServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    httpserver.expect_oneshot_request("/api/v1/listings").respond_with_data(
        f"upstream rejected {API_KEY}", status=502
    )
    httpserver.expect_request("/api/v1/listings").respond_with_json([_listing("1", REDLINE, 99)])

    frame = _provider(httpserver).fetch(*_window())

    assert frame.height == 1
    assert "HTTP 502" in caplog.text
    assert API_KEY not in caplog.text


def test_missing_key_is_a_config_error_before_any_request(httpserver: HTTPServer) -> None:
    provider = _provider(httpserver, api_key=None)

    with pytest.raises(ProviderConfigError, match="TRACERA_CSFLOAT_API_KEY"):
        provider.fetch(*_window())

    assert httpserver.log == []


def test_bad_listings_are_returned_for_quarantine(httpserver: HTTPServer) -> None:
    nameless = _listing("13", REDLINE, 700)
    nameless["item"].pop("market_hash_name")
    listings = [
        _listing("11", REDLINE, None),
        _listing("12", VULCAN, "12.50"),
        nameless,
        _listing("14", AWP, 0),
        _listing("15", AWP, 6400),
    ]
    httpserver.expect_request("/api/v1/listings").respond_with_json({"data": listings})
    start, end = _window()

    checked = validate_prices(_provider(httpserver).fetch(start, end), start, end)

    reasons = checked.rejected.select("market_hash_name", "raw_price", "reason").rows()
    assert sorted(reasons, key=str) == sorted(
        [
            (REDLINE, None, "missing price"),
            (VULCAN, "12.50", "unparseable price: '12.50' is not integer cents"),
            (None, "700", "empty market_hash_name"),
            (AWP, "0", "non-positive price"),
        ],
        key=str,
    )
    assert checked.accepted.select("market_hash_name", "price_cents").rows() == [(AWP, 6400)]


@pytest.mark.parametrize("body", [{"error": "maintenance"}, {"data": {"items": []}}, "listings"])
def test_unexpected_shape_is_a_response_error(httpserver: HTTPServer, body: Any) -> None:
    httpserver.expect_request("/api/v1/listings").respond_with_json(body)

    with pytest.raises(ProviderResponseError, match=r"^csfloat /listings: "):
        _provider(httpserver).fetch(*_window())


def test_empty_market_gives_an_empty_frame(httpserver: HTTPServer) -> None:
    httpserver.expect_request("/api/v1/listings").respond_with_json({"data": []})

    provider = _provider(httpserver)
    frame = provider.fetch(*_window())

    assert frame.height == 0
    assert [i.cause for i in provider.last_issues] == ["no_listings"]
    assert frame.schema == pl.Schema(
        {**PRICE_SCHEMA, "raw_price": pl.String(), "invalid_reason": pl.String()}
    )


def test_exhausted_window_is_shared_through_the_budget(
    httpserver: HTTPServer, redis_client: redis.Redis, redis_prefix: str
) -> None:
    headers = {"X-Ratelimit-Remaining": "0", "X-Ratelimit-Reset": f"{time.time() + 600:.0f}"}
    _serve_pages(httpserver, PAGES, headers)
    budget = RateBudget(redis_client, "csfloat", limit=100, period_seconds=60, prefix=redis_prefix)
    provider = build_csfloat_provider(
        _settings(httpserver), http=FAST, budget=budget, sleep=lambda _: None
    )

    provider.fetch(*_window())

    # another run asking for a slot now is told to wait for the reset
    other = RateBudget(redis_client, "csfloat", limit=100, period_seconds=60, prefix=redis_prefix)
    assert 590 < other.try_acquire() <= 601
