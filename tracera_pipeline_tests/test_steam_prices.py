"""Steam's localized price strings for all 47 wallet currencies, volumes and
history values.

The strings below are written by hand the way Steam formats them, following
Valve's ``g_rgCurrencyData`` (global.js, as mirrored by SteamDatabase/
SteamTracking): symbol and its side, the space between symbol and number, the
decimal symbol and the thousands separator. They are independent of the table in
``steam_currencies`` on purpose: a wrong entry there makes a test here fail.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from tracera_pipeline.providers.steam_currencies import CURRENCIES
from tracera_pipeline.providers.steam_history import history_price_cents, parse_history_time
from tracera_pipeline.providers.steam_prices import parse_price_cents, parse_volume

# (currency, Steam id, a price string of 1234.56 or, where Steam shows whole
# units, 1234 -- as Steam writes it)
ALL_47 = [
    ("USD", 1, "$1,234.56"),
    ("GBP", 2, "£1,234.56"),
    ("EUR", 3, "1 234,56€"),
    ("CHF", 4, "CHF 1 234.56"),
    ("RUB", 5, "1234,56 pуб."),  # Latin "p", as Steam writes it
    ("PLN", 6, "1 234,56zł"),
    ("BRL", 7, "R$ 1.234,56"),
    ("JPY", 8, "¥ 1,234"),
    ("NOK", 9, "1.234,56 kr"),
    ("IDR", 10, "Rp 1 234"),
    ("MYR", 11, "RM1,234.56"),
    ("PHP", 12, "P1,234.56"),
    ("SGD", 13, "S$1,234.56"),
    ("THB", 14, "฿1,234.56"),
    ("VND", 15, "1.234₫"),
    ("KRW", 16, "₩ 1,234"),
    ("TRY", 17, "1.234,56 TL"),
    ("UAH", 18, "1 234,56₴"),
    ("MXN", 19, "Mex$ 1,234.56"),
    ("CAD", 20, "CDN$ 1,234.56"),
    ("AUD", 21, "A$ 1,234.56"),
    ("NZD", 22, "NZ$ 1,234.56"),
    ("CNY", 23, "¥ 1,234.56"),
    ("INR", 24, "₹ 1,234"),
    ("CLP", 25, "CLP$ 1.234"),
    ("PEN", 26, "S/.1,234.56"),
    ("COP", 27, "COL$ 1.234"),
    ("ZAR", 28, "R 1 234.56"),
    ("HKD", 29, "HK$ 1,234.56"),
    ("TWD", 30, "NT$ 1,234"),
    ("SAR", 31, "1,234.56 SR"),
    ("AED", 32, "1,234.56 AED"),
    ("SEK", 33, "1,234.56 kr"),
    ("ARS", 34, "ARS$ 1.234,56"),
    ("ILS", 35, "₪1,234.56"),
    ("BYN", 36, "Br1,234.56"),
    ("KZT", 37, "1 234₸"),
    ("KWD", 38, "1,234.56 KD"),
    ("QAR", 39, "1,234.56 QR"),
    ("CRC", 40, "₡1.234"),
    ("UYU", 41, "$U1.234"),
    ("BGN", 42, "1,234.56 лв"),
    ("HRK", 43, "1,234.56 kn"),
    ("CZK", 44, "1,234.56 Kč"),
    ("DKK", 45, "1,234.56 kr."),
    ("HUF", 46, "1,234.56 Ft"),
    ("RON", 47, "1,234.56 lei"),
]


def test_the_table_has_all_47_currencies_with_their_steam_ids() -> None:
    assert len(ALL_47) == len(CURRENCIES) == 47
    assert {code: CURRENCIES[code].steam_id for code, _, _ in ALL_47} == {
        code: steam_id for code, steam_id, _ in ALL_47
    }


@pytest.mark.parametrize(("currency", "steam_id", "text"), ALL_47, ids=[c for c, _, _ in ALL_47])
def test_every_steam_currency_parses_exactly(currency: str, steam_id: int, text: str) -> None:
    expected = 123456 if "56" in text else 123400
    assert parse_price_cents(text, currency) == expected
    # the same string with non-breaking spaces, as Steam's HTML has them
    assert parse_price_cents(text.replace(" ", "\u00a0"), currency) == expected
    # and a small amount, without any thousands separator
    small = text.replace("1,234", "7").replace("1.234", "7").replace("1 234", "7")
    small = small.replace("1234", "7")
    assert parse_price_cents(small, currency) == expected - 122700


@pytest.mark.parametrize(
    ("text", "currency", "cents"),
    [
        ("$0.41", "USD", 41),
        ("$11.30 USD", "USD", 1130),  # outside the US Steam appends "USD"
        ("$5", "USD", 500),
        ("1\u202f234,56€", "EUR", 123456),
        ("1.234,56€", "EUR", 123456),
        ("5,--€", "EUR", 500),  # whole euros
        ("0,--€", "EUR", 0),
        ("1,23&#8364; ", "EUR", 123),  # older answers escaped the euro sign
        ("0,03€", "eur", 3),
        ("123 pуб.", "RUB", 12300),
        ("1 234,50 pуб.", "RUB", 123450),
        ("52,35 руб.", "RUB", 5235),  # Cyrillic "р", as older versions of the table
        ("¥ 1.17", "CNY", 117),
        ("¥ 1,234.50", "JPY", 123450),  # minor digits: "." is JPY's decimal symbol
        ("17,05₴", "UAH", 1705),
        ("S/.0.99", "PEN", 99),
        ("S/. 12.00", "PEN", 1200),
        ("12.50 kr", "SEK", 1250),
        ("12,50 kr", "NOK", 1250),
        ("1,234,567.89 Ft", "HUF", 123456789),
        ("Rp 15 000", "IDR", 1500000),
        ("CHF 1'234.50", "CHF", 123450),
    ],
)
def test_price_strings_parse_exactly(text: str, currency: str, cents: int) -> None:
    assert parse_price_cents(text, currency) == cents


@pytest.mark.parametrize(
    ("text", "currency", "why"),
    [
        ("", "USD", "no digits"),
        ("$", "USD", "no digits"),
        ("N/A", "USD", "no digits"),
        ("--", "EUR", "no digits"),
        ("$1.2.3", "USD", "2 digits"),
        ("$1,23", "USD", "thousands"),  # a decimal comma in a dot currency
        ("$1.5", "USD", "2 digits"),
        ("$.41", "USD", "not how Steam writes USD"),
        ("-$1.00", "USD", "not how Steam writes USD"),
        ("$-1.00", "USD", "not how Steam writes USD"),
        ("1e5", "USD", "not how Steam writes USD"),
        ("12,345€", "EUR", "2 digits"),  # three "minor" digits
        ("1,234.56€", "EUR", "2 digits"),  # US layout in a comma currency
        ("5,€", "EUR", "not how Steam writes EUR"),
        ("$1  234.00", "USD", "grouped number"),
        ("$1.00", "PLN", "not how Steam writes PLN"),  # a dollar answer is not złoty
        ("¥ 1,234", "KRW", "not how Steam writes KRW"),
        ("1,234.56 kr.", "SEK", "not how Steam writes SEK"),  # DKK's symbol
        ("1.234,56 kr", "SEK", "2 digits"),  # NOK's layout is not SEK's
        ("12,50 kr", "SEK", "thousands"),
        ("1,234.56 kr", "NOK", "2 digits"),
        ("€1,23", "EUR", "not how Steam writes EUR"),  # wrong side
        ("$1.00", "XXX", "not one of Steam's currencies"),
    ],
)
def test_garbage_price_strings_are_rejected_with_the_reason(
    text: str, currency: str, why: str
) -> None:
    with pytest.raises(ValueError, match=why):
        parse_price_cents(text, currency)


@pytest.mark.parametrize(
    ("text", "volume"),
    [("12,345", 12345), ("1 234", 1234), ("1\u00a0234", 1234), ("1.234", 1234), ("7", 7), (9, 9)],
)
def test_volumes_parse(text: str | int, volume: int) -> None:
    assert parse_volume(text) == volume


@pytest.mark.parametrize("text", ["", "abc", "1.5", "1,23,4", "-3", "12 34", True])
def test_garbage_volumes_are_rejected(text: object) -> None:
    with pytest.raises(ValueError):
        parse_volume(text)  # type: ignore[arg-type]


def test_history_values_are_exact() -> None:
    # float * 100 would truncate 1.13 to 112 and 0.29 to 28
    values = (1.08, 1.13, 0.29, "1.1", 3, 1.005)
    assert [history_price_cents(v) for v in values] == [108, 113, 29, 110, 300, 101]
    for bad in (None, True, "abc", "nan", [1]):
        with pytest.raises(ValueError):
            history_price_cents(bad)
    assert parse_history_time("Nov 24 2025 01: +0") == datetime(2025, 11, 24, 1, tzinfo=UTC)
    assert parse_history_time("Mar 03 2024 17: +0") == datetime(2024, 3, 3, 17, tzinfo=UTC)
    for bad in ("Foo 24 2025 01: +0", "2025-11-24T01:00:00Z", "Nov 24 2025 01:00"):
        with pytest.raises(ValueError):
            parse_history_time(bad)
