"""Pricempire adapter against a real local HTTP server: one big array, many faults."""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from tracera_pipeline.providers.base import PRICE_SCHEMA
from tracera_pipeline.providers.errors import (
    ProviderConfigError,
    ProviderError,
    ProviderHTTPError,
    ProviderResponseError,
)
from tracera_pipeline.providers.http_client import HttpSettings
from tracera_pipeline.providers.pricempire import (
    PricempireProvider,
    PricempireSettings,
    build_pricempire_provider,
)
from tracera_pipeline.providers.pricempire_parse import ArrayItems
from tracera_pipeline.providers.validation import validate_prices
from tracera_pipeline.storage.price_writer import WriteMode

API_KEY = "pe_live_0f3a9c7e21b84d55"
PATH = "/v4/paid/items/prices"
FAST = HttpSettings(
    connect_timeout=0.5, read_timeout=0.5, total_timeout=10, max_retries=1, backoff_base=0.01
)


def _entry(source: str, price: Any, count: Any, updated_at: str) -> dict[str, Any]:
    return {
        "provider_key": source,
        "price": price,
        "count": count,
        "updated_at": updated_at,
        "last_checked_at": "2026-11-24T13:40:02.120Z",
        "meta": (
            {"rate": 0.1398, "original_price": 88.26, "original_currency": "CNY"}
            if source == "buff163"
            else None
        ),
        "original_price": None,
        "exchange_rate": None,
    }


def _item(name: str, count: Any, prices: list[dict[str, Any]]) -> dict[str, Any]:
    """One catalogue entry shaped like Pricempire v4's (all values invented)."""
    return {
        "market_hash_name": name,
        "image": "/panorama/images/econ/default_generated/placeholder_png.png",
        "liquidity": 71.4,
        "count": count,
        "rank": 1204,
        "marketcap": "1840233",
        "trades_7d": "311",
        "trades_30d": None,
        "trades_90d": "4022",
        "steam_last_7d": "95",
        "steam_last_30d": "402",
        "steam_last_90d": None,
        "prices": prices,
    }


FRESH = "2026-11-24T13:12:45.331Z"
PLACEHOLDER = "2025-01-01T00:00:00.000Z"
CATALOGUE = [
    _item(
        "AK-47 | Redline (Field-Tested)",
        "9060",
        [_entry("buff163", 1234, "311", FRESH), _entry("skinport", 1390, 40, PLACEHOLDER)],
    ),
    _item("AWP | Asiimov (Field-Tested)", None, [_entry("buff163", 8815, 57, FRESH)]),
    _item("Sticker | Crown (Foil)", "12", [_entry("buff163", 20_912, None, FRESH)]),
    _item("Operation Hydra Case", "88", [_entry("skinport", 2150, 9, PLACEHOLDER)]),
    _item("M4A4 | Howl (Minimal Wear)", "3", [_entry("buff163", None, "0", FRESH)]),
    _item("Glock-18 | Fade (Factory New)", "41", [_entry("buff163", 101_250.5, "4", FRESH)]),
    _item("P250 | Sand Dune (Field-Tested)", "5120", []),
    {"market_hash_name": "Dreams & Nightmares Case", "count": "77", "prices": None},
]


def _window() -> tuple[datetime, datetime]:
    now = datetime.now(UTC)
    return now - timedelta(minutes=30), now + timedelta(minutes=30)


def _provider(
    httpserver: HTTPServer, http: HttpSettings = FAST, **overrides: Any
) -> PricempireProvider:
    fields = {"base_url": httpserver.url_for(""), "api_key": API_KEY} | overrides
    return build_pricempire_provider(PricempireSettings(**fields), http=http, sleep=lambda _: None)


def test_fetches_one_row_per_item_priced_by_the_source(httpserver: HTTPServer) -> None:
    httpserver.expect_request(PATH).respond_with_json(CATALOGUE)
    start, end = _window()
    provider = _provider(httpserver)

    frame = provider.fetch(start, end)

    request = httpserver.log[0][0]
    assert request.headers["Authorization"] == f"Bearer {API_KEY}"
    assert request.args.to_dict() == {"sources": "buff163", "currency": "USD"}
    assert API_KEY not in request.url
    assert {k: frame.schema[k] for k in PRICE_SCHEMA} == PRICE_SCHEMA
    rows = {row["market_hash_name"]: row for row in frame.to_dicts()}
    assert set(rows) == {
        "AK-47 | Redline (Field-Tested)",
        "AWP | Asiimov (Field-Tested)",
        "Sticker | Crown (Foil)",
        "Glock-18 | Fade (Factory New)",
    }  # the case has only a skinport entry, the P250 none, the Howl's price is null
    assert rows["AK-47 | Redline (Field-Tested)"]["price_cents"] == 1234
    assert rows["AK-47 | Redline (Field-Tested)"]["listings"] == 311  # numeric string
    assert rows["AWP | Asiimov (Field-Tested)"]["listings"] == 57  # integer
    assert rows["Sticker | Crown (Foil)"]["listings"] is None  # null
    assert frame.get_column("volume").null_count() == frame.height
    # the snapshot time, not the entries' updated_at
    assert frame.get_column("time").n_unique() == 1
    assert start <= frame.get_column("time")[0] < end
    assert provider.last_stats == {
        "items": 8,
        "without_source": 3,
        "no_price": 1,  # price: null is counted, not quarantined
        "unparseable": 1,
        "rows": 4,
    }
    assert [(i.cause, i.severity) for i in provider.last_issues] == [("unparseable_prices", "warn")]
    assert (provider.supports_history, provider.write_mode) == (False, WriteMode.MERGE)


def test_other_source_and_currency(httpserver: HTTPServer) -> None:
    httpserver.expect_request(
        PATH, query_string={"sources": "skinport", "currency": "EUR"}
    ).respond_with_json(CATALOGUE)

    frame = _provider(httpserver, source="skinport", currency="EUR").fetch(*_window())

    assert sorted(frame.select("market_hash_name", "price_cents", "listings").rows()) == [
        ("AK-47 | Redline (Field-Tested)", 1390, 40),
        ("Operation Hydra Case", 2150, 9),
    ]


def test_unusable_prices_are_kept_for_quarantine(httpserver: HTTPServer) -> None:
    httpserver.expect_request(PATH).respond_with_json(CATALOGUE)
    start, end = _window()

    checked = validate_prices(_provider(httpserver).fetch(start, end), start, end)

    assert sorted(checked.rejected.select("market_hash_name", "raw_price", "reason").rows()) == [
        (
            "Glock-18 | Fade (Factory New)",
            "101250.5",
            "unparseable price: '101250.5' is not whole cents",
        ),
    ]
    assert checked.accepted.height == 3


def test_missing_key_is_a_config_error(httpserver: HTTPServer) -> None:
    with pytest.raises(ProviderConfigError, match="TRACERA_PRICEMPIRE_API_KEY"):
        _provider(httpserver, api_key="").fetch(*_window())

    assert httpserver.log == []


def test_payload_over_the_cap_is_refused(httpserver: HTTPServer) -> None:
    httpserver.expect_request(PATH).respond_with_json(CATALOGUE * 50)
    small = HttpSettings(read_timeout=0.5, total_timeout=10, max_response_bytes=4096)

    with pytest.raises(ProviderResponseError, match="exceeds the 4096-byte cap"):
        _provider(httpserver, http=small).fetch(*_window())


def test_streamed_payload_over_the_cap_is_refused(httpserver: HTTPServer) -> None:
    chunk = json.dumps(CATALOGUE).encode()

    def handler(request: Request) -> Response:
        # a generator body: no Content-Length, so only the streaming count can stop it
        return Response((chunk for _ in range(50)), content_type="application/json")

    httpserver.expect_request(PATH).respond_with_handler(handler)
    small = HttpSettings(read_timeout=0.5, total_timeout=10, max_response_bytes=4096)

    with pytest.raises(ProviderResponseError, match="exceeds the 4096-byte cap"):
        _provider(httpserver, http=small).fetch(*_window())


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b'[{"market_hash_name": "AK-47 | Redline (Field-Tested)", "prices": [', "malformed"),
        (b"not json at all", "expected a JSON array"),
        (b'[{"market_hash_name": "x", "prices": []} {', "malformed JSON"),
        (b"", "empty body"),
        (b'{"items": []}', "expected a JSON array"),
        (b'[{"market_hash_name": "AWP | Asiimov (Field-Tested)", "prices": "n/a"}]', "unexpected"),
        (b"[1, 2, 3]", "unexpected"),
    ],
)
def test_malformed_or_unexpected_json(httpserver: HTTPServer, body: bytes, message: str) -> None:
    httpserver.expect_request(PATH).respond_with_data(body, content_type="application/json")

    with pytest.raises(ProviderResponseError, match=rf"^pricempire {PATH}: .*{message}"):
        _provider(httpserver).fetch(*_window())


def test_html_instead_of_json(httpserver: HTTPServer) -> None:
    page = b"<!DOCTYPE html><html><title>Just a moment...</title></html>"
    httpserver.expect_request(PATH).respond_with_data(page, content_type="text/html")

    with pytest.raises(ProviderResponseError, match="expected JSON, got content-type 'text/html"):
        _provider(httpserver).fetch(*_window())


def test_truncated_body_is_retried_then_reported(httpserver: HTTPServer) -> None:
    whole = json.dumps(CATALOGUE).encode()

    def handler(request: Request) -> Response:
        # announces the whole body, sends a third of it, then the connection closes
        response = Response(whole[: len(whole) // 3], content_type="application/json")
        response.headers["Content-Length"] = str(len(whole))
        return response

    httpserver.expect_request(PATH).respond_with_handler(handler)

    with pytest.raises(ProviderError, match=r"cut off after 1423 bytes .* two attempts") as error:
        _provider(httpserver).fetch(*_window())

    assert error.value.permanent  # the same cut twice: no step retry downloads it again
    assert len(httpserver.log) == 2  # retried once


def test_errors_and_logs_never_show_the_key(
    httpserver: HTTPServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    httpserver.expect_oneshot_request(PATH).respond_with_data(
        f"gateway error for Bearer {API_KEY}", status=503
    )
    body = {
        "message": [f"api key {API_KEY} is invalid"],
        "error": "Unauthorized",
        "statusCode": 401,
    }
    httpserver.expect_request(PATH).respond_with_json(body, status=401)

    with pytest.raises(ProviderHTTPError) as caught:
        _provider(httpserver).fetch(*_window())

    assert caught.value.status == 401
    assert "api key *** is invalid" in str(caught.value)
    assert API_KEY not in str(caught.value)
    assert "HTTP 503" in caplog.text
    assert API_KEY not in caplog.text


def test_bad_request_body_is_reported(httpserver: HTTPServer) -> None:
    body = {
        "message": ["sources must be a valid source"],
        "error": "Bad Request",
        "statusCode": 400,
    }
    httpserver.expect_request(PATH).respond_with_json(body, status=400)

    with pytest.raises(ProviderHTTPError, match="sources must be a valid source"):
        _provider(httpserver, source="nowhere").fetch(*_window())


def test_a_source_the_api_drops_is_an_issue_naming_the_sources_it_returned(
    httpserver: HTTPServer,
) -> None:
    # asked for "steam", the API silently answers without it
    httpserver.expect_request(
        PATH, query_string={"sources": "steam", "currency": "USD"}
    ).respond_with_json(CATALOGUE)
    provider = _provider(httpserver, source="steam")

    assert provider.fetch(*_window()).height == 0

    (issue,) = provider.last_issues
    assert (issue.cause, issue.severity) == ("source_missing", "error")
    assert "none of the 8 items carries a price from source 'steam'" in issue.message
    assert "(sources in the answer: buff163, skinport)" in issue.message
    assert "TRACERA_PRICEMPIRE_SOURCE" in issue.message


def test_a_source_without_any_price_is_an_issue(httpserver: HTTPServer) -> None:
    nulls = [_item(f"Item {i}", "1", [_entry("buff163", None, None, FRESH)]) for i in range(3)]
    httpserver.expect_request(PATH).respond_with_json(nulls)
    provider = _provider(httpserver)

    assert provider.fetch(*_window()).height == 0

    assert provider.last_stats["no_price"] == 3
    assert [(i.cause, i.severity) for i in provider.last_issues] == [("no_prices", "error")]


def test_a_rejected_key_fails_at_once_naming_the_variable(httpserver: HTTPServer) -> None:
    httpserver.expect_request(PATH).respond_with_json(
        {"message": "Unauthorized", "statusCode": 401}, status=401
    )
    with pytest.raises(
        ProviderHTTPError, match="set TRACERA_PRICEMPIRE_API_KEY to a valid key"
    ) as error:
        _provider(httpserver).fetch(*_window())
    assert error.value.permanent and API_KEY not in str(error.value)
    assert len(httpserver.log) == 1


# -- the incremental array splitter ---------------------------------------------

ARRAY = (
    ' \n[ {"market_hash_name": "★ Karambit | Fade (Factory New)", "prices": [{"p": 1}]},'
    ' 12345 , "a \\"quoted\\" ] , text", [1, [2]], null,{"n": -0.5e3}]\n '
).encode()


def _split_everywhere(data: bytes) -> list[list[Any]]:
    """The elements found when ``data`` arrives in two pieces, for every cut."""
    results = []
    for cut in range(len(data) + 1):
        array = ArrayItems()
        results.append(array.feed(data[:cut]) + array.feed(data[cut:]) + array.close())
    return results


def test_array_elements_are_the_same_wherever_the_chunks_are_cut() -> None:
    expected = json.loads(ARRAY)
    assert all(found == expected for found in _split_everywhere(ARRAY))


def test_array_elements_byte_by_byte() -> None:
    array = ArrayItems()
    found = [item for byte in ARRAY for item in array.feed(bytes([byte]))] + array.close()
    assert found == json.loads(ARRAY)


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"[1, 2,]", "malformed JSON: Expecting value"),
        (b"[1 2]", "expected ',' or ']'"),
        (b"[1, 2] [3]", "data after the array"),
        (b"[1, 2", "not closed"),
        (b'{"a": 1}', "expected a JSON array"),
        (b"   ", "empty body"),
        (b'["\xff"]', "malformed JSON"),
    ],
)
def test_array_faults_are_malformed_json(body: bytes, message: str) -> None:
    array = ArrayItems()
    with pytest.raises(ProviderResponseError, match=message):
        array.feed(body)
        array.close()


def test_an_element_that_never_ends_is_refused_before_buffering_the_body() -> None:
    array = ArrayItems(max_item_chars=1000)
    array.feed(b'[{"a": "' + b"x" * 900)
    with pytest.raises(ProviderResponseError, match="malformed JSON"):
        array.feed(b"x" * 200)
