"""Steam's localized price and volume strings → integers.

Steam formats money per currency from Valve's ``g_rgCurrencyData`` (see
``steam_currencies``): ``$1,234.56``, ``1 234,56€``, ``5,--€``, ``S/.1,234.56``,
``1,234.56 kr``, ``1234,56 pуб.``… The decimal symbol comes from that table,
never from a guess: ``1,234`` is 1234 dollars but not a euro amount.

Units: every price becomes integer cents of the currency's major unit. For
currencies Steam shows in whole units (JPY, KRW, …) that means ``¥ 1,234`` →
123400, the same "major unit × 100" scale as every other currency, so downstream
code never needs a per-currency exponent.

Parsing is strict on purpose: the symbol must be the currency's, on its side of
the number; anything ambiguous raises ``ValueError`` (with the reason) and the
adapter keeps the raw text for quarantine instead of storing a wrong number.
"""

from __future__ import annotations

import html
import re

from tracera_pipeline.providers.steam_currencies import (
    SPACES,
    SteamCurrency,
    marker_matches,
    steam_currency,
)

# Group separators accepted besides the currency's own and the spaces
# (apostrophe: Swiss style; never ambiguous with a decimal symbol).
_GROUP_MARKS = "'’"

__all__ = ["SteamCurrency", "parse_price_cents", "parse_volume", "steam_currency"]


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

    Raises ``ValueError`` saying why for anything it cannot read unambiguously.
    """
    spec = steam_currency(currency)
    if not isinstance(text, str):
        raise ValueError(f"a price must be text, got {type(text).__name__}")
    prefix, number, suffix = _split_number(html.unescape(text).strip())
    # "5,--€": Steam writes whole amounts with "--" for the minor digits.
    if suffix.startswith(spec.decimal_sep + "--"):
        number, suffix = number + spec.decimal_sep + "00", suffix[3:]
    if not marker_matches(spec, prefix, suffix):
        raise ValueError(
            f"{prefix.strip()!r} before and {suffix.strip()!r} after the amount are not"
            f" how Steam writes {spec.code} ({_example(spec)})"
        )
    whole, sep, minor = number.partition(spec.decimal_sep)
    if sep and not (len(minor) == 2 and minor.isdecimal() and minor.isascii()):
        raise ValueError(f"expected 2 digits after {spec.code}'s decimal {spec.decimal_sep!r}")
    # Only the decimal symbol is fixed; the other of "." and "," can only group.
    other = "," if spec.decimal_sep == "." else "."
    units = _check_groups(whole, SPACES + _GROUP_MARKS + spec.thousands_sep + other)
    return int(units) * 100 + (int(minor) if sep else 0)


def _example(spec: SteamCurrency) -> str:
    number = f"1{spec.thousands_sep or ''}234{spec.decimal_sep}56"
    return f"{spec.symbol}{number}" if spec.symbol_is_prefix else f"{number} {spec.symbol}"


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
    cleaned = html.unescape(text).strip(SPACES)
    if not cleaned:
        raise ValueError("empty volume")
    return int(_check_groups(cleaned, SPACES + _GROUP_MARKS + ".,"))
