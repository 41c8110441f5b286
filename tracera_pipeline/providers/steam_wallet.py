"""Which currency is the Steam account's wallet in? ``pricehistory`` answers in it.

``pricehistory`` ignores the ``currency`` parameter and prices in the wallet
currency of the login cookie's account, marking it only with ``price_prefix`` /
``price_suffix``. Storing those prices under another currency is silently wrong
(a JPY wallet read as CNY is off ×21), so the wallet must be known for sure:

* the marker is compared with all 47 currencies of Steam's own table: most
  markers belong to exactly one currency;
* two markers are shared, ``¥`` (JPY, CNY) and ``kr`` (NOK, SEK). Comparing
  prices cannot settle that reliably (NOK and SEK trade near 1:1), so the adapter
  asks Steam itself: the logged-in market page declares the account's wallet in
  ``g_rgWalletInfo.wallet_currency`` (one request, only for these four
  currencies, once per adapter). When that page does not say, the fetch is
  refused rather than guessed.
"""

from __future__ import annotations

import json
import logging
import re

from tracera_pipeline.providers.errors import ProviderConfigError, ProviderError
from tracera_pipeline.providers.http_client import ProviderHttpClient
from tracera_pipeline.providers.steam_currencies import (
    BY_STEAM_ID,
    SteamCurrency,
    currencies_for_marker,
)
from tracera_pipeline.providers.steam_settings import (
    CURRENCY_ENV,
    LOGIN_ENV,
    MARKET_PAGE,
    PRICEHISTORY,
    PROVIDER,
)

log = logging.getLogger(__name__)

_WALLET_INFO = re.compile(r"g_rgWalletInfo\s*=\s*(\{[^;]*?\})\s*;")


def wallet_currency_in_page(page: str) -> SteamCurrency | None:
    """The currency ``g_rgWalletInfo`` declares in a Steam page, if it declares one."""
    match = _WALLET_INFO.search(page)
    if match is None:
        return None
    try:
        info = json.loads(match.group(1))
        return BY_STEAM_ID.get(int(info["wallet_currency"]))
    except (ValueError, KeyError, TypeError):
        return None


class WalletCheck:
    """Refuses history whose wallet currency is not (provably) the configured one."""

    def __init__(self, client: ProviderHttpClient, configured: SteamCurrency) -> None:
        self.client = client
        self.configured = configured
        self._confirmed: set[tuple[str, str]] = set()  # markers already settled

    def check(self, prefix: str, suffix: str) -> None:
        """Return if ``prefix``/``suffix`` mark the configured currency; raise otherwise."""
        if (prefix, suffix) in self._confirmed:
            return
        marker = f"{prefix.strip()}1.23{suffix.strip()}" if prefix or suffix else "nothing"
        candidates = currencies_for_marker(prefix, suffix)
        if not candidates:
            raise self._refuse(
                f"Steam writes the account's history prices like {marker!r}, which is none"
                " of Steam's 47 currencies, so their currency is unknown; unset"
                f" {LOGIN_ENV} to fetch live prices only"
            )
        wallet = candidates[0] if len(candidates) == 1 else self._ask_steam(marker, candidates)
        if wallet.code != self.configured.code:
            raise self._refuse(
                f"the account's price history is in its wallet currency {wallet.code}"
                f" (written {marker!r}), not {self.configured.code};"
                f" set {CURRENCY_ENV}={wallet.code}, or set {LOGIN_ENV} to the cookie of"
                f" an account whose wallet is in {self.configured.code}"
            )
        self._confirmed.add((prefix, suffix))

    def _ask_steam(self, marker: str, candidates: list[SteamCurrency]) -> SteamCurrency:
        names = " and ".join(c.code for c in candidates)
        try:
            raw = self.client.get(MARKET_PAGE.lstrip("/"))
            page = raw.body.decode("utf-8", "replace")
        except ProviderError as exc:
            log.warning("steam %s: could not ask for the wallet currency: %s", MARKET_PAGE, exc)
            page = ""
        wallet = wallet_currency_in_page(page)
        if wallet is None or wallet not in candidates:
            raise self._refuse(
                f"Steam writes both {names} like {marker!r}, and its market page did not say"
                " which"
                f" the account's wallet is in, so its history cannot be stored as"
                f" {self.configured.code}; check that {LOGIN_ENV} is a current cookie, or"
                " unset it to fetch live prices only"
            )
        log.info("steam: the account's wallet is in %s (g_rgWalletInfo)", wallet.code)
        return wallet

    def _refuse(self, message: str) -> ProviderConfigError:
        return ProviderConfigError(PROVIDER, PRICEHISTORY, message)
