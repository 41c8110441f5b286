"""Steam against a real local HTTP server: the wallet currency of price history
decided without ambiguity for all 47 currencies, server errors told apart from
Steam's "unknown item", and fetches that answered without prices."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from pytest_httpserver import HTTPServer
from werkzeug import Response

from tracera_pipeline.providers.errors import ProviderConfigError, ProviderError
from tracera_pipeline.providers.http_client import HttpSettings
from tracera_pipeline.providers.steam import SteamProvider, SteamSettings, build_steam_provider
from tracera_pipeline_tests.helpers import Sleeps
from tracera_pipeline_tests.test_steam_prices import ALL_47

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
MARKET = "/market/"
NOW = datetime(2025, 11, 24, 12, 30, tzinfo=UTC)
HOUR = datetime(2025, 11, 24, 12, tzinfo=UTC)
PAST = (datetime(2025, 11, 23, tzinfo=UTC), datetime(2025, 11, 24, tzinfo=UTC))
REDLINE = "AK-47 | Redline (Field-Tested)"
CASE = "Kilowatt Case"
TYPO = "AWP | Asiimov"
COOKIE = "76561198000000000%7C%7Cwallet-test-cookie"
POINTS = [["Nov 23 2025 05: +0", 1234.5, "17"], ["Nov 23 2025 06: +0", 1301, "9"]]


@pytest.fixture
def built() -> Iterator[list[SteamProvider]]:
    providers: list[SteamProvider] = []
    yield providers
    for provider in providers:
        provider.close()


def _steam(server: HTTPServer, built: list[SteamProvider], **settings: Any) -> SteamProvider:
    sleep = settings.pop("sleep", Sleeps())
    settings.setdefault("watchlist", (REDLINE,))
    provider = build_steam_provider(
        SteamSettings(base_url=server.url_for("/"), **settings),
        http=FAST,
        sleep=sleep,
        clock=lambda: NOW,
    )
    built.append(provider)
    return provider


def _history(server: HTTPServer, prefix: str, suffix: str, name: str = REDLINE) -> None:
    body = {"success": True, "price_prefix": prefix, "price_suffix": suffix, "prices": POINTS}
    server.expect_request(
        HISTORY, query_string={"appid": "730", "market_hash_name": name}
    ).respond_with_json(body)


def _market_page(server: HTTPServer, wallet_currency: int | None) -> None:
    info = (
        f'<script>var g_rgWalletInfo = {{"wallet_currency":{wallet_currency},'
        '"wallet_country":"XX","wallet_fee":"1","wallet_fee_minimum":"1",'
        '"wallet_fee_percent":"0.05","wallet_publisher_fee_percent_default":"0.10"};</script>'
        if wallet_currency is not None
        else "<script>var g_steamID = false;</script>"
    )
    page = f"<!DOCTYPE html><html><head>{info}</head><body>Community Market</body></html>"
    server.expect_request(MARKET).respond_with_data(page, content_type="text/html; charset=UTF-8")


def _hits(server: HTTPServer, path: str) -> int:
    return sum(1 for request, _ in server.log if request.path == path)


def _marker(text: str) -> tuple[str, str]:
    """The prefix and suffix of a price string, as pricehistory reports them."""
    digits = [i for i, ch in enumerate(text) if ch.isdigit()]
    return text[: digits[0]], text[digits[-1] + 1 :]


AMBIGUOUS = {"JPY": 8, "CNY": 23, "NOK": 9, "SEK": 33}


# -- the wallet currency --------------------------------------------------------


@pytest.mark.parametrize(("currency", "steam_id", "text"), ALL_47, ids=[c for c, _, _ in ALL_47])
def test_history_is_accepted_in_each_of_the_47_wallet_currencies(
    httpserver: HTTPServer, built: list, currency: str, steam_id: int, text: str
) -> None:
    prefix, suffix = _marker(text)
    _history(httpserver, prefix, suffix)
    if currency in AMBIGUOUS:
        _market_page(httpserver, steam_id)
    frame = _steam(httpserver, built, currency=currency, login_secure=COOKIE).fetch(*PAST)
    assert frame.select("time", "price_cents", "volume").rows() == [
        (datetime(2025, 11, 23, 5, tzinfo=UTC), 123450, 17),
        (datetime(2025, 11, 23, 6, tzinfo=UTC), 130100, 9),
    ]
    # Steam is asked which wallet only where the symbol is shared (¥, kr)
    assert _hits(httpserver, MARKET) == (1 if currency in AMBIGUOUS else 0)


@pytest.mark.parametrize(
    ("wallet", "configured"),
    [("JPY", "CNY"), ("CNY", "JPY"), ("NOK", "SEK"), ("SEK", "NOK")],
)
def test_a_shared_symbol_is_settled_by_asking_steam_for_the_wallet(
    httpserver: HTTPServer, built: list, wallet: str, configured: str
) -> None:
    text = next(t for c, _, t in ALL_47 if c == wallet)
    _history(httpserver, *_marker(text))
    _market_page(httpserver, AMBIGUOUS[wallet])
    provider = _steam(httpserver, built, currency=configured, login_secure=COOKIE)
    with pytest.raises(ProviderConfigError) as error:
        provider.fetch(*PAST)
    message = str(error.value)
    assert f"wallet currency {wallet}" in message and f"not {configured}" in message
    assert f"set TRACERA_CURRENCY={wallet}," in message
    assert error.value.permanent and COOKIE not in message


def test_a_shared_symbol_without_wallet_info_is_refused_not_guessed(
    httpserver: HTTPServer, built: list
) -> None:
    _history(httpserver, "¥ ", "")
    _market_page(httpserver, None)  # e.g. the cookie expired: no wallet on the page
    provider = _steam(httpserver, built, currency="CNY", login_secure=COOKIE)
    with pytest.raises(ProviderConfigError) as error:
        provider.fetch(*PAST)
    message = str(error.value)
    assert "both JPY and CNY" in message and "TRACERA_STEAM_LOGIN_SECURE" in message
    assert "TRACERA_CURRENCY" not in message  # CNY is already what the user set


def test_the_wallet_question_is_asked_once_per_adapter(httpserver: HTTPServer, built: list) -> None:
    for name in (REDLINE, CASE):
        _history(httpserver, "¥ ", "", name=name)
    _market_page(httpserver, 23)
    provider = _steam(
        httpserver, built, currency="CNY", login_secure=COOKIE, watchlist=(REDLINE, CASE)
    )
    assert provider.fetch(*PAST).height == 4
    assert provider.fetch(*PAST).height == 4
    assert _hits(httpserver, MARKET) == 1


def test_a_dollar_wallet_is_never_stored_as_zloty(httpserver: HTTPServer, built: list) -> None:
    _history(httpserver, "$", "")
    with pytest.raises(ProviderConfigError, match=r"wallet currency USD .*TRACERA_CURRENCY=USD"):
        _steam(httpserver, built, currency="PLN", login_secure=COOKIE).fetch(*PAST)
    assert _hits(httpserver, MARKET) == 0


@pytest.mark.parametrize("suffix", [" pуб.", " руб."], ids=["latin-p", "cyrillic-r"])
def test_a_rub_wallet_is_accepted_with_either_spelling(
    httpserver: HTTPServer, built: list, suffix: str
) -> None:
    _history(httpserver, "", suffix)
    frame = _steam(httpserver, built, currency="RUB", login_secure=COOKIE).fetch(*PAST)
    assert frame.get_column("price_cents").to_list() == [123450, 130100]


def test_an_unknown_marker_is_refused_without_blaming_the_currency_setting(
    httpserver: HTTPServer, built: list
) -> None:
    _history(httpserver, "", " ₽")
    with pytest.raises(ProviderConfigError) as error:
        _steam(httpserver, built, currency="RUB", login_secure=COOKIE).fetch(*PAST)
    message = str(error.value)
    assert "none of Steam's 47 currencies" in message and "TRACERA_STEAM_LOGIN_SECURE" in message
    assert "TRACERA_CURRENCY" not in message


# -- HTTP 500: "unknown item" or server error -----------------------------------


def _overview(server: HTTPServer, name: str):
    query = {"appid": "730", "currency": "1", "country": "US", "market_hash_name": name}
    return server.expect_ordered_request(OVERVIEW, query_string=query)


def test_a_500_html_page_is_retried_while_success_false_means_unknown(
    httpserver: HTTPServer, built: list
) -> None:
    html = "<html><body><h1>500 Internal Server Error</h1></body></html>"
    _overview(httpserver, REDLINE).respond_with_data(html, status=500, content_type="text/html")
    _overview(httpserver, REDLINE).respond_with_json(
        {"success": True, "lowest_price": "$1,234.56", "volume": "12"}
    )
    _overview(httpserver, TYPO).respond_with_json({"success": False}, status=500)
    sleeps = Sleeps()
    provider = _steam(httpserver, built, watchlist=(REDLINE, TYPO), max_workers=1, sleep=sleeps)

    frame = provider.fetch(HOUR, HOUR + timedelta(hours=1))

    assert frame.select("market_hash_name", "price_cents", "volume").rows() == [
        (REDLINE, 123456, 12)
    ]
    stats = provider.last_stats
    assert (stats["priced"], stats["unknown"], stats["failed"]) == (1, 1, 0)
    assert _hits(httpserver, OVERVIEW) == 3  # the HTML 500 once more, success:false once
    assert len(sleeps) == 1 and FAST.backoff_base / 2 <= sleeps[0] <= FAST.backoff_base
    assert [i.cause for i in provider.last_issues] == ["unknown_items"]


def test_a_lasting_server_error_fails_the_item_and_is_not_permanent(
    httpserver: HTTPServer, built: list
) -> None:
    httpserver.expect_request(OVERVIEW).respond_with_data(
        "<html>Service Unavailable</html>", status=500, content_type="text/html"
    )
    provider = _steam(httpserver, built)
    with pytest.raises(ProviderError, match="HTTP 500") as error:
        provider.fetch(HOUR, HOUR + timedelta(hours=1))
    assert not error.value.permanent  # the step may try again later
    assert provider.last_stats["failed"] == 1 and provider.last_stats["unknown"] == 0
    assert _hits(httpserver, OVERVIEW) == FAST.max_retries + 1


# -- answered, but nothing to store ---------------------------------------------


def test_answers_without_any_price_are_an_issue(httpserver: HTTPServer, built: list) -> None:
    for name in (REDLINE, CASE):
        _overview(httpserver, name).respond_with_json({"success": True})  # soft rate limit
    provider = _steam(httpserver, built, watchlist=(REDLINE, CASE), max_workers=1)
    assert provider.fetch(HOUR, HOUR + timedelta(hours=1)).height == 0
    (issue,) = provider.last_issues
    assert (issue.cause, issue.severity) == ("no_prices", "error")
    assert "all 2 watchlist item(s) without a price" in issue.message


def test_prices_that_all_fail_to_parse_are_an_error_issue(
    httpserver: HTTPServer, built: list
) -> None:
    # a server answering in another format than the currency asked for
    _overview(httpserver, REDLINE).respond_with_json({"success": True, "lowest_price": "1,23 €"})
    provider = _steam(httpserver, built)
    frame = provider.fetch(HOUR, HOUR + timedelta(hours=1))
    assert frame.get_column("invalid_reason").to_list() == [
        "unparseable price: '' before and '€' after the amount are not how Steam writes USD"
        " ($1,234.56)"
    ]
    (issue,) = provider.last_issues
    assert (issue.cause, issue.severity) == ("unparseable_prices", "error")
    assert json.dumps(issue.as_dict())  # serialisable for run metadata


def test_a_500_body_is_only_an_answer_when_it_is_steams_json() -> None:
    from tracera_pipeline.providers.steam_settings import is_steam_answer

    assert is_steam_answer(500, b'{"success":false}')
    assert is_steam_answer(400, b"[]")
    assert not is_steam_answer(500, b"<html>oops</html>")
    assert not is_steam_answer(500, b"")
    assert not is_steam_answer(500, b'{"success":true}')
    assert not is_steam_answer(502, b'{"success":false}')
    assert not is_steam_answer(Response().status_code, b"[]")
