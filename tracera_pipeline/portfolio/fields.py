"""Checks of one value of a portfolio file: names, owners, quantities.

Every check returns ``None`` or one sentence saying what is wrong and what to do.
Nothing is reshaped: a name with a stray space, an invisible character or a
right-to-left mark would become a new, never-priced item, so it is reported
instead of being trimmed, stripped or stored.
"""

from __future__ import annotations

import json
import unicodedata

MAX_NAME_LENGTH = 255  # real market_hash_names are under 100 characters
MAX_QUANTITY = 2**31 - 1  # portfolio_holdings.quantity is an integer
# New items one load may add with --add-unknown-items (here: the CLI imports it).
DEFAULT_MAX_NEW_ITEMS = 1000
_MAX_DIGITS = len(str(MAX_QUANTITY))
_SHOWN = 60  # characters of a bad value quoted back


def shown(value: str) -> str:
    """``value`` quoted with its invisible characters escaped, cut to a readable length."""
    if len(value) <= _SHOWN:
        return repr(value)
    return f"{value[:_SHOWN]!r}… ({len(value):,} characters)"


def _describe(char: str) -> str:
    name = unicodedata.name(char, "")
    return f"U+{ord(char):04X}{f' {name}' if name else ''}"


def _odd_character(value: str) -> tuple[int, str, str] | None:
    """The first character no item name contains: (position, character, what it is)."""
    # str.isprintable is False exactly for "Other" (C*) and "Separator" (Z*) characters
    # but the ASCII space: one pass in C for the usual, clean name.
    if value.isprintable():
        return None
    for position, char in enumerate(value, start=1):
        category = unicodedata.category(char)
        if category == "Cc":
            return position, char, "the control character"
        if category == "Cf":
            return position, char, "the invisible formatting character"
        if category[0] == "Z" and char != " ":
            return position, char, "the unusual space"
        if category[0] == "C":
            return position, char, "the unassigned or private-use character"
    return None


def text_problem(value: object, what: str, *, max_length: int = MAX_NAME_LENGTH) -> str | None:
    """Why ``value`` cannot be a name (of an item, portfolio or owner), or None."""
    if not isinstance(value, str):
        return f"{what} must be a text, not {json_kind(value)}; put it in double quotes"
    if not value.strip():
        return f"{what} is empty; fill it in"
    if len(value) > max_length:
        return (
            f"{what} is {len(value):,} characters long, more than the {max_length} allowed;"
            " check that this column holds what the header says"
        )
    odd = _odd_character(value)
    if odd:
        position, char, kind = odd
        return (
            f"{what} {shown(value)} contains {kind} {_describe(char)} at character"
            f" {position}; remove it (no item name has one)"
        )
    if value != value.strip():
        return f"{what} {shown(value)} starts or ends with a space; remove it"
    if not unicodedata.is_normalized("NFC", value):
        return (
            f"{what} {shown(value)} uses decomposed Unicode characters; save the file in"
            " Unicode NFC form (composed characters)"
        )
    return None


def json_kind(value: object) -> str:
    if isinstance(value, bool):
        return f"the JSON value {json.dumps(value)}"
    if value is None:
        return "null"
    if isinstance(value, dict):
        return "a JSON object"
    if isinstance(value, list):
        return "a JSON list"
    if isinstance(value, str):
        return f"the string {shown(value)}"
    return f"the number {value!r}"


def _in_range(quantity: int, written: str) -> str | None:
    if quantity <= 0:
        return f"quantity must be positive, got {written}; drop the holding or give a count"
    if quantity > MAX_QUANTITY:
        return f"quantity {written} is more than the largest allowed, {MAX_QUANTITY:,}"
    return None


def quantity_from_text(text: str) -> tuple[int | None, str | None]:
    """A CSV quantity: ASCII digits only (no spaces, separators or other scripts' digits)."""
    if (
        0 < len(text) < _MAX_DIGITS
        and text.isascii()
        and text.isdigit()
        and text != "0" * len(text)
    ):
        return int(text), None  # the usual case, in range by its length
    digits = text.removeprefix("-")
    if not (digits.isascii() and digits.isdigit()):
        return None, f"quantity {shown(text)} is not a whole number; write digits only, e.g. 3"
    written = text if len(text) <= 20 else f"{text[:20]}… ({len(text):,} digits)"
    if len(digits.lstrip("0")) > _MAX_DIGITS:  # before int(): it refuses 4,300+ digits
        quantity = -1 if text.startswith("-") else MAX_QUANTITY + 1
    else:
        quantity = int(text)
    problem = _in_range(quantity, written)
    return (None, problem) if problem else (quantity, None)


def quantity_from_json(value: object) -> tuple[int | None, str | None]:
    """A JSON quantity: a JSON integer (not a string, fraction or true/false)."""
    if isinstance(value, bool) or not isinstance(value, int):
        if isinstance(value, float) and value.is_integer():
            return None, f"quantity {value!r} has a fraction part; write it as {int(value)}"
        return None, f"quantity must be a whole JSON number, not {json_kind(value)}; e.g. 3"
    problem = _in_range(value, str(value))
    return (None, problem) if problem else (value, None)
