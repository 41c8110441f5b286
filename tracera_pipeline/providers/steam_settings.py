"""What the Steam adapter's modules share: settings, endpoints, schema, and how to
read Steam's error answers."""

from __future__ import annotations

import json
from dataclasses import dataclass

import polars as pl

from tracera_pipeline.providers.base import INVALID_REASON, PRICE_SCHEMA

PROVIDER = "steam"
CS2_APP_ID = 730
PRICEOVERVIEW = "/market/priceoverview/"
PRICEHISTORY = "/market/pricehistory/"
MARKET_PAGE = "/market/"  # logged in, it carries g_rgWalletInfo (the wallet currency)

WATCHLIST_ENV = "TRACERA_STEAM_WATCHLIST"
LOGIN_ENV = "TRACERA_STEAM_LOGIN_SECURE"
CURRENCY_ENV = "TRACERA_CURRENCY"  # one pipeline currency for every market

# PRICE_SCHEMA plus Steam's price text, so quarantined rows show what was
# unreadable, and why (``invalid_reason``).
STEAM_SCHEMA: dict[str, pl.DataType] = {
    **PRICE_SCHEMA,
    "raw_price": pl.String(),
    INVALID_REASON: pl.String(),
}


@dataclass(frozen=True)
class SteamSettings:
    base_url: str = "https://steamcommunity.com"
    currency: str = "USD"  # ISO code, mapped to Steam's numeric currency id
    country: str = "US"
    watchlist: tuple[str, ...] = ()  # market_hash_names to fetch (Steam allows ~20 req/min)
    login_secure: str | None = None  # secret: steamLoginSecure cookie; enables history
    max_workers: int = 4  # concurrent requests (still bounded by the rate budget)


def normalized_cookie(login_secure: str | None) -> str | None:
    """The cookie value, also when pasted as ``steamLoginSecure=…``; None when unset."""
    value = (login_secure or "").strip()
    value = value.removeprefix("steamLoginSecure=").strip()
    return value or None


def is_steam_answer(status: int, body: bytes) -> bool:
    """Is this error response Steam's answer rather than a failure?

    * 500 with the JSON ``{"success": false}``: the item does not exist (a wrong
      name, or one without its wear). Anything else with a 500 (an HTML error
      page, an empty body) is a real server error and is retried.
    * 400 with ``[]``: ``pricehistory`` without a valid login.
    """
    if status not in (400, 500) or len(body) > 1024:
        return False
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        return False
    if status == 400:
        return data == []
    return isinstance(data, dict) and data.get("success") is False
