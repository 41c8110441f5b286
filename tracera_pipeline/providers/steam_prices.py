"""Steam's localized price and volume strings → integers.

Steam formats money per currency (Valve's ``g_rgCurrencyData``): ``$1,234.56``,
``1 234,56€``, ``5,--€``, ``¥ 1.17``, ``123 руб.``, ``CDN$ 3.10``… The decimal
separator depends on the currency, so it comes from a table here, never from a
guess: ``1,234`` is 1234 dollars but not a euro amount.

Units: every price becomes integer cents of the currency's major unit. For
whole-unit currencies (JPY, KRW, VND, …) that means ``¥ 1,234`` → 123400, the
same "major unit × 100" scale as every other currency, so downstream code never
needs a per-currency exponent.

Parsing is strict on purpose: anything ambiguous raises ``ValueError`` and the
adapter keeps the raw text for quarantine instead of storing a wrong number.
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass

# Spaces Steam uses as thousands separators: plain, NBSP, narrow NBSP, thin space.
_SPACES = " \u00a0\u202f\u2009"
# Group separators accepted besides the spaces (apostrophe: Swiss style).
_GROUP_MARKS = "'’"


@dataclass(frozen=True)
class SteamCurrency:
    code: str
    steam_id: int  # Steam's ECurrencyCode, the ``currency`` query parameter
    decimal_sep: str  # "." or ","
    whole_units: bool = False  # Steam shows no minor digits (JPY, KRW, …)
    # How ``pricehistory`` marks the wallet currency (price_prefix + price_suffix,
    # spaces removed). Only filled where the format is documented; empty = unchecked.
    markers: tuple[str, ...] = ()


def _c(
    code: str, steam_id: int, sep: str, whole: bool = False, markers: tuple[str, ...] = ()
) -> SteamCurrency:
    return SteamCurrency(code, steam_id, sep, whole, markers)


# IDs: ECurrencyCode (confirmed by two clients, see docs/research). Formats for
# USD, GBP, EUR, CHF, RUB, CNY, UAH, CAD and the whole-unit currencies come from
# the research notes; the other separators follow the currency's usual locale
# and, if Steam differs, strict parsing rejects the text rather than misreading it.
CURRENCIES: dict[str, SteamCurrency] = {
    c.code: c
    for c in (
        _c("USD", 1, ".", markers=("$", "$USD")),
        _c("GBP", 2, ".", markers=("£",)),
        _c("EUR", 3, ",", markers=("€",)),
        _c("CHF", 4, ".", markers=("CHF",)),
        _c("RUB", 5, ",", markers=("руб.",)),
        _c("PLN", 6, ","),
        _c("BRL", 7, ","),
        _c("JPY", 8, ".", whole=True, markers=("¥",)),
        _c("NOK", 9, ","),
        _c("IDR", 10, ".", whole=True),
        _c("MYR", 11, "."),
        _c("PHP", 12, "."),
        _c("SGD", 13, "."),
        _c("THB", 14, "."),
        _c("VND", 15, ",", whole=True),
        _c("KRW", 16, ".", whole=True),
        _c("TRY", 17, ","),
        _c("UAH", 18, ",", markers=("₴",)),
        _c("MXN", 19, "."),
        _c("CAD", 20, ".", markers=("CDN$",)),
        _c("AUD", 21, "."),
        _c("NZD", 22, "."),
        _c("CNY", 23, ".", markers=("¥",)),
        _c("INR", 24, ".", whole=True),
        _c("CLP", 25, ",", whole=True),
        _c("PEN", 26, "."),
        _c("COP", 27, ",", whole=True),
        _c("ZAR", 28, "."),
        _c("HKD", 29, "."),
        _c("TWD", 30, ".", whole=True),
        _c("SAR", 31, "."),
        _c("AED", 32, "."),
        _c("SEK", 33, ","),
        _c("ARS", 34, ","),
        _c("ILS", 35, "."),
        _c("BYN", 36, ","),
        _c("KZT", 37, ",", whole=True),
        _c("KWD", 38, "."),
        _c("QAR", 39, "."),
        _c("CRC", 40, ",", whole=True),
        _c("UYU", 41, ",", whole=True),
        _c("BGN", 42, ","),
        _c("HRK", 43, ","),
        _c("CZK", 44, ","),
        _c("DKK", 45, ","),
        _c("HUF", 46, ","),
        _c("RON", 47, ","),
    )
}


def steam_currency(code: str) -> SteamCurrency:
    """The table entry for an ISO code (case-insensitive); ``ValueError`` if unknown."""
    try:
        return CURRENCIES[code.strip().upper()]
    except KeyError:
        raise ValueError(
            f"unsupported Steam currency {code!r}; known: {', '.join(CURRENCIES)}"
        ) from None


def _check_groups(digits: str, group_chars: str) -> str:
    """``1,234,567`` → ``1234567``; groups after the first must have 3 digits."""
    groups = re.split(f"[{re.escape(group_chars)}]", digits)
    if not all(g.isdecimal() and g.isascii() for g in groups):
        raise ValueError("not a grouped number")
    if len(groups) > 1 and (len(groups[0]) > 3 or any(len(g) != 3 for g in groups[1:])):
        raise ValueError("misplaced thousands separator")
    return "".join(groups)


def _split_number(text: str) -> tuple[str, str, str]:
    """(prefix, number, suffix): the number runs from the first to the last digit."""
    first = next((i for i, ch in enumerate(text) if ch.isdigit()), None)
    if first is None:
        raise ValueError("no digits")
    last = max(i for i, ch in enumerate(text) if ch.isdigit())
    return text[:first], text[first : last + 1], text[last + 1 :]


def parse_price_cents(text: str, currency: str) -> int:
    """A Steam price string in ``currency`` → integer cents of the major unit.

    Raises ``ValueError`` for anything it cannot read unambiguously.
    """
    spec = steam_currency(currency)
    if not isinstance(text, str):
        raise ValueError(f"a price must be text, got {type(text).__name__}")
    # Prefix and suffix (symbols, "USD", "руб.") hold no digits by construction;
    # only what touches the number matters: a sign, or a separator hinting at a fraction.
    prefix, number, suffix = _split_number(html.unescape(text).strip())
    if "-" in prefix or prefix.rstrip(_SPACES).endswith((".", ",")):
        raise ValueError(f"unexpected sign or separator before the amount in {text!r}")
    # "5,--€": Steam writes whole amounts with "--" for the minor digits.
    if not spec.whole_units and suffix.startswith(spec.decimal_sep + "--"):
        number, suffix = number + spec.decimal_sep + "00", suffix[3:]
    if suffix[:1] in (".", ",", "-"):
        raise ValueError(f"unexpected separator after the amount in {text!r}")

    other_sep = "," if spec.decimal_sep == "." else "."
    if spec.whole_units:
        # No minor digits exist, so both marks can only group thousands.
        return int(_check_groups(number, _SPACES + _GROUP_MARKS + ".,")) * 100
    whole, sep, minor = number.partition(spec.decimal_sep)
    if sep and not (len(minor) == 2 and minor.isdecimal() and minor.isascii()):
        raise ValueError(f"expected 2 minor digits in {text!r}")
    units = _check_groups(whole, _SPACES + _GROUP_MARKS + other_sep)
    return int(units) * 100 + (int(minor) if sep else 0)


def parse_volume(text: str | int) -> int:
    """A sales count: ``"12,345"``, ``"1 234"``, ``"1.234"`` → int; ``ValueError`` otherwise.

    Counts have no fraction, so ``.`` and ``,`` can only be thousands separators;
    the 3-digit grouping rule still rejects things like ``"1.5"``.
    """
    if isinstance(text, bool):
        raise ValueError("a boolean is not a volume")
    if isinstance(text, int):
        if text < 0:
            raise ValueError("negative volume")
        return text
    cleaned = html.unescape(text).strip(_SPACES)
    if not cleaned:
        raise ValueError("empty volume")
    return int(_check_groups(cleaned, _SPACES + _GROUP_MARKS + ".,"))


def wallet_matches(prefix: str, suffix: str, currency: str) -> bool | None:
    """Does ``pricehistory``'s ``price_prefix``/``price_suffix`` denote ``currency``?

    ``None`` when the table has no marker for the currency (cannot tell).
    """
    spec = steam_currency(currency)
    if not spec.markers:
        return None
    marker = "".join(ch for ch in html.unescape(prefix + suffix) if ch not in _SPACES)
    return marker in spec.markers or marker.replace(spec.code, "") in spec.markers
