"""The Steam Community Market adapter against a real local HTTP server, and Steam's
localized price strings."""

from __future__ import annotations

import json
import logging
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import polars as pl
import pytest
from pytest_httpserver import HTTPServer
from werkzeug import Response

from tracera_pipeline.providers.errors import (
    ProviderConfigError,
    ProviderError,
    ProviderRateLimited,
)
from tracera_pipeline.providers.http_client import HttpSettings
from tracera_pipeline.providers.rate_budget import RateBudget
from tracera_pipeline.providers.steam import (
    STEAM_SCHEMA,
    SteamProvider,
    SteamSettings,
    build_steam_provider,
)
from tracera_pipeline.providers.validation import validate_prices
from tracera_pipeline.storage.price_writer import WriteMode
from tracera_pipeline_tests.helpers import Sleeps

FAST = HttpSettings(
    connect_timeout=0.5,
    read_timeout=0.5,
    total_timeout=10,
    max_retries=2,
    backoff_base=0.01,
    backoff_max=0.05,
)
OVERVIEW = "/market/priceoverview/"
HISTORY = "/market/pricehistory/"
NOW = datetime(2025, 11, 24, 12, 30, 15, 123456, tzinfo=UTC)
HOUR = datetime(2025, 11, 24, 12, tzinfo=UTC)
REDLINE = "AK-47 | Redline (Field-Tested)"
CASE = "Kilowatt Case"
TYPO = "AWP | Asiimov"  # no wear: Steam does not know it

Make = Callable[..., SteamProvider]


@pytest.fixture
def make(httpserver: HTTPServer) -> Iterator[Make]:
    """Builds providers against the test server with a fixed clock; closes them after."""
    built: list[SteamProvider] = []

    def build(
        *,
        budget: RateBudget | None = None,
        sleep: Callable[[float], None] = time.sleep,
        **settings: Any,
    ) -> SteamProvider:
        settings.setdefault("watchlist", (REDLINE,))
        provider = build_steam_provider(
            SteamSettings(base_url=httpserver.url_for("/"), **settings),
            http=FAST,
            budget=budget,
            sleep=sleep,
            clock=lambda: NOW,
        )
        built.append(provider)
        return provider

    yield build
    for provider in built:
        provider.close()


def _overview(server: HTTPServer, name: str, currency: int = 1):
    query = {"appid": "730", "currency": str(currency), "country": "US", "market_hash_name": name}
    return server.expect_request(OVERVIEW, query_string=query)


def _history(server: HTTPServer, name: str):
    return server.expect_request(HISTORY, query_string={"appid": "730", "market_hash_name": name})


def _json(body: object, status: int = 200) -> Response:
    return Response(json.dumps(body), status=status, mimetype="application/json")


def _hits(server: HTTPServer, path: str) -> int:
    return sum(1 for request, _ in server.log if request.path == path)


# -- live ----------------------------------------------------------------------


def test_live_fetch_gives_a_row_per_priced_item_and_skips_the_rest(
    httpserver: HTTPServer, make: Make, caplog: pytest.LogCaptureFixture
) -> None:
    _overview(httpserver, REDLINE).respond_with_json(
        {"success": True, "lowest_price": "$1,234.56", "volume": "12,345", "median_price": "$1.00"}
    )
    _overview(httpserver, CASE).respond_with_json({"success": True})
    _overview(httpserver, TYPO).respond_with_json({"success": False}, status=500)
    provider = make(watchlist=(REDLINE, CASE, TYPO))

    frame = provider.fetch(HOUR, HOUR + timedelta(hours=1))

    expected = pl.DataFrame(
        {
            "time": [NOW],
            "market_hash_name": [REDLINE],
            "price_cents": [123456],
            "volume": [12345],
            "listings": [None],
            "raw_price": ["$1,234.56"],
            "invalid_reason": [None],
        },
        schema=STEAM_SCHEMA,
    )
    assert frame.equals(expected)
    assert provider.last_stats["requested"] == 3
    assert {k: provider.last_stats[k] for k in ("priced", "no_price", "unknown", "failed")} == {
        "priced": 1,
        "no_price": 1,
        "unknown": 1,
        "failed": 0,
    }
    # the unknown item's 500 is read, not retried
    assert _hits(httpserver, OVERVIEW) == 3
    assert TYPO in caplog.text and "success:false" in caplog.text
    httpserver.check_assertions()
    request = httpserver.log[0][0]
    assert request.headers["User-Agent"].startswith("Mozilla/5.0")
    assert "br" not in request.headers["Accept-Encoding"]
    assert "Cookie" not in request.headers
    assert provider.write_mode is WriteMode.MERGE and provider.supports_history is False


def test_unparseable_price_becomes_a_quarantined_row_with_its_text(
    httpserver: HTTPServer, make: Make
) -> None:
    _overview(httpserver, REDLINE, currency=3).respond_with_json(
        {"success": True, "lowest_price": "1,2,3€", "volume": "7"}
    )
    _overview(httpserver, CASE, currency=3).respond_with_json(
        {"success": True, "median_price": "5,--€"}  # no lowest_price: median is the fallback
    )
    provider = make(currency="EUR", watchlist=(REDLINE, CASE))
    window_end = HOUR + timedelta(hours=1)

    frame = provider.fetch(HOUR, window_end)

    assert frame.select("market_hash_name", "price_cents", "volume", "raw_price").rows() == [
        (REDLINE, None, 7, "1,2,3€"),
        (CASE, 500, None, "5,--€"),
    ]
    assert provider.last_stats["unparseable"] == 1 and provider.last_stats["priced"] == 1
    validated = validate_prices(frame, HOUR, window_end)
    assert validated.rejected.select("market_hash_name", "raw_price", "reason").rows() == [
        (REDLINE, "1,2,3€", "unparseable price: expected 2 digits after EUR's decimal ','")
    ]
    assert validated.accepted.get_column("market_hash_name").to_list() == [CASE]


def test_live_window_ending_at_the_pipelines_now_keeps_rows_inside_it(
    httpserver: HTTPServer, make: Make
) -> None:
    # ingest_windows fetches the open hour as [hour, its own now): the answers
    # arrive after window_end, and the row must still validate for that window.
    _overview(httpserver, REDLINE).respond_with_json({"success": True, "lowest_price": "$0.41"})
    window_end = NOW - timedelta(milliseconds=5)
    frame = make().fetch(HOUR, window_end)
    assert frame.get_column("time").to_list() == [window_end - timedelta(microseconds=1)]
    assert validate_prices(frame, HOUR, window_end).rejected.height == 0


def test_one_failing_item_does_not_fail_the_others(httpserver: HTTPServer, make: Make) -> None:
    _overview(httpserver, REDLINE).respond_with_json({"success": True, "lowest_price": "$0.41"})
    _overview(httpserver, CASE).respond_with_data("<html>gone</html>", status=404)
    provider = make(watchlist=(REDLINE, CASE))
    frame = provider.fetch(HOUR, HOUR + timedelta(hours=1))
    assert frame.select("market_hash_name", "price_cents").rows() == [(REDLINE, 41)]
    assert provider.last_stats["failed"] == 1


def test_429_null_without_retry_after_is_retried(httpserver: HTTPServer, make: Make) -> None:
    query = {"appid": "730", "currency": "1", "country": "US", "market_hash_name": REDLINE}
    httpserver.expect_ordered_request(OVERVIEW, query_string=query).respond_with_response(
        _json(None, 429)
    )
    httpserver.expect_ordered_request(OVERVIEW, query_string=query).respond_with_json(
        {"success": True, "lowest_price": "$0.41", "volume": "3"}
    )
    sleeps = Sleeps()
    frame = make(sleep=sleeps).fetch(HOUR, HOUR + timedelta(hours=1))
    assert frame.select("price_cents", "volume").rows() == [(41, 3)]
    assert _hits(httpserver, OVERVIEW) == 2
    assert len(sleeps) == 1 and 0 < sleeps[0] <= FAST.backoff_max  # backoff, no Retry-After


def test_persistent_429_fails_the_fetch_stops_asking_and_blocks_the_budget(
    httpserver: HTTPServer, make: Make, redis_client, redis_prefix: str
) -> None:
    httpserver.expect_request(OVERVIEW).respond_with_response(_json(None, 429))
    budget = RateBudget(redis_client, "steam", limit=100, period_seconds=60, prefix=redis_prefix)
    provider = make(watchlist=(REDLINE, CASE, TYPO), max_workers=1, budget=budget)

    with pytest.raises(ProviderRateLimited) as error:
        provider.fetch(HOUR, HOUR + timedelta(hours=1))

    assert "steam /market/priceoverview/" in str(error.value)
    assert error.value.status == 429
    # only the first item's attempts: the other two were not sent to a banned IP
    assert _hits(httpserver, OVERVIEW) == FAST.max_retries + 1
    assert provider.last_stats["failed"] == 3
    assert budget.try_acquire() > 60  # the next run waits instead of hammering


def test_all_unknown_items_point_at_the_watchlist(httpserver: HTTPServer, make: Make) -> None:
    _overview(httpserver, TYPO).respond_with_json({"success": False}, status=500)
    with pytest.raises(ProviderConfigError, match="TRACERA_STEAM_WATCHLIST"):
        make(watchlist=(TYPO,)).fetch(HOUR, HOUR + timedelta(hours=1))


def test_empty_watchlist_is_a_config_error(httpserver: HTTPServer, make: Make) -> None:
    with pytest.raises(ProviderConfigError, match="TRACERA_STEAM_WATCHLIST") as error:
        make(watchlist=(" ", "")).fetch(HOUR, HOUR + timedelta(hours=1))
    assert "comma-separated" in str(error.value)
    assert httpserver.log == []


def test_unknown_currency_is_a_config_error(make: Make) -> None:
    with pytest.raises(ProviderConfigError, match="TRACERA_CURRENCY"):
        make(currency="DOGE")


# -- history -------------------------------------------------------------------

SECRET = "76561198000000000%7C%7C" + uuid.uuid4().hex
PAST = (datetime(2025, 11, 23, tzinfo=UTC), datetime(2025, 11, 24, tzinfo=UTC))


def _points() -> list[list[object]]:
    return [
        ["Nov 22 2025 23: +0", 9.99, "1"],  # before the window
        ["Nov 23 2025 00: +0", 1.08, "3514"],
        ["Nov 23 2025 01: +0", "1.1", "2,001"],  # price as text, grouped volume
        ["Nov 23 2025 02: +0", 1.13, 12],
        ["Nov 23 2025 03: +0", "n/a", "4"],  # unreadable price: kept for quarantine
        ["garbage", 1.0, "1"],  # malformed point: skipped
        ["Nov 24 2025 00: +0", 2.5, "9"],  # == window_end: excluded
    ]


def test_history_with_login_cookie(
    httpserver: HTTPServer, make: Make, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    _history(httpserver, REDLINE).respond_with_json(
        {"success": True, "price_prefix": "$", "price_suffix": "", "prices": _points()}
    )
    provider = make(login_secure=SECRET)
    assert provider.supports_history is True

    frame = provider.fetch(*PAST)

    assert frame.select("time", "price_cents", "volume", "raw_price").rows() == [
        (datetime(2025, 11, 23, 0, tzinfo=UTC), 108, 3514, "1.08"),
        (datetime(2025, 11, 23, 1, tzinfo=UTC), 110, 2001, "1.1"),
        (datetime(2025, 11, 23, 2, tzinfo=UTC), 113, 12, "1.13"),
        (datetime(2025, 11, 23, 3, tzinfo=UTC), None, 4, "n/a"),
    ]
    assert frame.schema == pl.Schema(STEAM_SCHEMA)
    stats = provider.last_stats
    assert (stats["history_points"], stats["history_unparseable"], stats["history_bad_points"]) == (
        4,
        1,
        1,
    )
    assert stats["requested"] == 0  # a past window asks no live prices
    (request,) = [r for r, _ in httpserver.log]
    assert request.headers["Cookie"] == f"steamLoginSecure={SECRET}"
    assert SECRET not in caplog.text


def test_window_reaching_now_with_login_gets_history_and_a_live_row(
    httpserver: HTTPServer, make: Make
) -> None:
    _history(httpserver, REDLINE).respond_with_json(
        {
            "success": True,
            "price_prefix": "$",
            "price_suffix": "",
            "prices": [["Nov 24 2025 10: +0", 1.0, "5"], ["Nov 24 2025 11: +0", 1.2, "6"]],
        }
    )
    _overview(httpserver, REDLINE).respond_with_json({"success": True, "lowest_price": "$1.25"})
    start = datetime(2025, 11, 24, 11, tzinfo=UTC)
    frame = make(login_secure=SECRET).fetch(start, HOUR + timedelta(hours=1))
    assert frame.select("time", "price_cents").rows() == [
        (datetime(2025, 11, 24, 11, tzinfo=UTC), 120),
        (NOW, 125),
    ]


@pytest.mark.parametrize(
    ("status", "body"),
    [(400, "[]"), (403, f"forbidden for cookie {SECRET}")],
    ids=["expired-cookie", "error-echoing-cookie"],
)
def test_history_errors_never_show_the_cookie(
    httpserver: HTTPServer,
    make: Make,
    caplog: pytest.LogCaptureFixture,
    status: int,
    body: str,
) -> None:
    caplog.set_level(logging.DEBUG)
    httpserver.expect_request(HISTORY).respond_with_data(
        body, status=status, content_type="application/json"
    )
    provider = make(login_secure=SECRET, watchlist=(REDLINE, CASE, TYPO))
    with pytest.raises(ProviderError) as error:
        provider.fetch(*PAST)
    if status == 400:
        # Steam's "not logged in": one probe request, then a clear config error.
        assert isinstance(error.value, ProviderConfigError)
        assert "TRACERA_STEAM_LOGIN_SECURE" in str(error.value)
        assert _hits(httpserver, HISTORY) == 1
    assert "steam /market/pricehistory/" in str(error.value)
    assert SECRET not in str(error.value) and SECRET not in caplog.text


def test_history_without_cookie_is_a_config_error_before_any_request(
    httpserver: HTTPServer, make: Make
) -> None:
    provider = make()
    assert provider.supports_history is False
    with pytest.raises(ProviderConfigError, match="TRACERA_STEAM_LOGIN_SECURE"):
        provider.fetch(*PAST)
    assert httpserver.log == []


def test_history_in_another_wallet_currency_is_refused(httpserver: HTTPServer, make: Make) -> None:
    _history(httpserver, REDLINE).respond_with_json(
        {"success": True, "price_prefix": "", "price_suffix": "€", "prices": _points()}
    )
    with pytest.raises(ProviderConfigError, match="TRACERA_CURRENCY"):
        make(login_secure=SECRET).fetch(*PAST)


def test_future_window_asks_nothing(httpserver: HTTPServer, make: Make) -> None:
    later = HOUR + timedelta(hours=2)
    frame = make().fetch(later, later + timedelta(hours=1))
    assert frame.height == 0 and frame.schema == pl.Schema(STEAM_SCHEMA)
    assert httpserver.log == []


def test_cookie_setting_is_normalised_and_checked(httpserver: HTTPServer, make: Make) -> None:
    _history(httpserver, REDLINE).respond_with_json(
        {"success": True, "price_prefix": "$", "price_suffix": "", "prices": []}
    )
    # pasted whole from the browser, with the cookie name and a trailing newline
    assert make(login_secure=f"steamLoginSecure={SECRET}\n").fetch(*PAST).height == 0
    assert httpserver.log[0][0].headers["Cookie"] == f"steamLoginSecure={SECRET}"
    with pytest.raises(ProviderConfigError, match="TRACERA_STEAM_LOGIN_SECURE") as error:
        make(login_secure=f"{SECRET}; sessionid=abc")
    assert SECRET not in str(error.value)
    assert make(login_secure="  ").supports_history is False


# -- watchlist setting -----------------------------------------------------------

MUSIC_KIT = "Music Kit | Daniel Sadowski, Crimson Assault"
STATTRAK_KIT = "StatTrak™ Music Kit | Noisia, Sharpened"


def test_a_newline_separated_watchlist_keeps_commas_in_names(httpserver: HTTPServer) -> None:
    from tracera_pipeline.defs.resources import MarketDataResource

    for name, price in ((MUSIC_KIT, "$3.45"), (STATTRAK_KIT, "$12.00"), (REDLINE, "$0.41")):
        _overview(httpserver, name).respond_with_json({"success": True, "lowest_price": price})
    market = MarketDataResource(
        steam_base_url=httpserver.url_for("/"),
        steam_watchlist=f"{MUSIC_KIT}\r\n  {STATTRAK_KIT}\n\n{REDLINE}\n{MUSIC_KIT}\n",
    )
    provider = market.provider("steam")
    assert provider.watchlist == (MUSIC_KIT, STATTRAK_KIT, REDLINE)
    now = datetime.now(UTC)
    frame = provider.fetch(now - timedelta(minutes=5), now + timedelta(minutes=5))
    provider.close()
    assert sorted(frame.select("market_hash_name", "price_cents").rows()) == sorted(
        [(MUSIC_KIT, 345), (STATTRAK_KIT, 1200), (REDLINE, 41)]
    )
    asked = sorted(r.args["market_hash_name"] for r, _ in httpserver.log)
    assert asked == sorted([MUSIC_KIT, STATTRAK_KIT, REDLINE])


def test_a_one_line_watchlist_is_still_comma_separated() -> None:
    from tracera_pipeline.providers.registry import split_list

    assert split_list(f" {REDLINE},{CASE} ,,{REDLINE}") == (REDLINE, CASE)
    assert split_list(f"{MUSIC_KIT}\n") == (MUSIC_KIT,)
    assert split_list("") == ()
