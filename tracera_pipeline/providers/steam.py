"""Steam Community Market: live prices of a watchlist, and history with a login cookie.

Steam has no bulk price API and allows about 20 requests a minute per IP, so the
adapter only asks for the names in ``SteamSettings.watchlist``:

* **live** (the window reaches "now"): one ``/market/priceoverview/`` per item, in
  ``SteamSettings.currency``; a row per priced item, stamped with the time the
  answers arrived (clamped into the window: the pipeline ends the open window at
  its own "now", which is already past by then). ``lowest_price`` is the price,
  ``median_price`` the fallback; ``volume`` is the 24-hour sales count.
* **history** (``login_secure`` set, the window starts before the current hour):
  one ``/market/pricehistory/`` per item; hourly/daily median points in the
  account's *wallet* currency (Steam ignores ``currency`` there), so the wallet
  must provably be ``SteamSettings.currency`` or the fetch stops (``steam_wallet``).

Failure rules: one bad item never fails the others (it is logged and counted in
``last_stats``); a fetch where no item got an answer raises, so the run fails
visibly. Steam's 500 ``{"success":false}`` means "no such item" (skipped and
counted); any other 500 is a server error, retried with the shared backoff. A
price string that cannot be read becomes a row with a null ``price_cents``, its
text in ``raw_price`` and the parser's reason in ``invalid_reason``: validation
quarantines it. A fetch that answered but priced nothing lists why in
``last_issues`` (Steam answers without prices while soft rate limiting).

Steam's 429s are IP-wide, have no ``Retry-After`` and last minutes to hours, and
retrying extends them; after a request that stays rate limited the adapter stops
asking for the remaining items and blocks the shared budget for a cooldown.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import polars as pl

from tracera_pipeline.providers.base import INVALID_REASON, FetchIssue
from tracera_pipeline.providers.errors import (
    ProviderConfigError,
    ProviderRateLimited,
    ProviderResponseError,
)
from tracera_pipeline.providers.http_client import HttpSettings, ProviderHttpClient
from tracera_pipeline.providers.rate_budget import RateBudget
from tracera_pipeline.providers.snapshot import snapshot_time
from tracera_pipeline.providers.steam_history import (
    history_price_cents,
    history_rows,
    parse_history_time,
    volume_or_none,
)
from tracera_pipeline.providers.steam_issues import steam_issues
from tracera_pipeline.providers.steam_prices import SteamCurrency, parse_price_cents, steam_currency
from tracera_pipeline.providers.steam_requests import SteamRequests
from tracera_pipeline.providers.steam_settings import (
    CS2_APP_ID,
    CURRENCY_ENV,
    LOGIN_ENV,
    PRICEHISTORY,
    PRICEOVERVIEW,
    PROVIDER,
    STEAM_SCHEMA,
    WATCHLIST_ENV,
    SteamSettings,
    normalized_cookie,
)
from tracera_pipeline.providers.steam_wallet import WalletCheck
from tracera_pipeline.storage.price_writer import WriteMode

__all__ = [
    "STEAM_SCHEMA",
    "SteamProvider",
    "SteamSettings",
    "build_steam_provider",
    "history_price_cents",
    "parse_history_time",
]

log = logging.getLogger(__name__)

# The pipeline passes window_end = its own "now" for the open partition; a fetch
# that starts within this much of window_end still counts as live.
LIVE_GRACE = timedelta(seconds=60)

# Counts of one fetch (``last_stats``): live, then history.
_LIVE_KEYS = ("requested", "priced", "no_price", "unparseable", "unknown", "failed")
_HISTORY = ("requested", "points", "unparseable", "bad_points", "unknown", "failed", "empty")
_STAT_KEYS = _LIVE_KEYS + tuple(f"history_{key}" for key in _HISTORY)


def _frame(rows: list[dict[str, Any]]) -> pl.DataFrame:
    return pl.DataFrame(rows, schema=STEAM_SCHEMA)


class SteamProvider(SteamRequests):
    """The Steam adapter (``PriceProvider``); ``last_stats``/``last_issues`` describe
    the last fetch."""

    name = PROVIDER
    # Live snapshots accumulate over re-runs of the open window; history points
    # land on fixed timestamps, so a re-run overwrites them: MERGE fits both.
    write_mode = WriteMode.MERGE

    def __init__(
        self,
        settings: SteamSettings,
        client: ProviderHttpClient,
        *,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        self.settings = settings
        self.client = client
        try:
            self.currency: SteamCurrency = steam_currency(settings.currency)
        except ValueError as exc:
            raise ProviderConfigError(
                PROVIDER, "settings", f"{exc}: set {CURRENCY_ENV} to one of them"
            ) from None
        self.wallet = WalletCheck(client, self.currency)
        self.watchlist = tuple(
            dict.fromkeys(name.strip() for name in settings.watchlist if name.strip())
        )
        self.supports_history = normalized_cookie(settings.login_secure) is not None
        self._clock = clock or (lambda: datetime.now(UTC))
        # Counts and problems of the last fetch, for run metadata and checks.
        self.last_stats: dict[str, int] = {}
        self.last_issues: list[FetchIssue] = []

    def close(self) -> None:
        self.client.close()

    def fetch(self, window_start: datetime, window_end: datetime) -> pl.DataFrame:
        """Rows for ``[window_start, window_end)``, ``STEAM_SCHEMA`` columns."""
        if not self.watchlist:
            raise ProviderConfigError(
                PROVIDER,
                "settings",
                f"the watchlist is empty: set {WATCHLIST_ENV} to market_hash_names, one per"
                " line or comma-separated (with the wear, e.g. 'AK-47 | Redline (Field-Tested)')",
            )
        stats = self.last_stats = dict.fromkeys(_STAT_KEYS, 0)
        self.last_issues = []
        now = self._clock()
        if window_start > now:
            return _frame([])  # nothing has been observed yet
        live = now < window_end + LIVE_GRACE
        hour_start = now.replace(minute=0, second=0, microsecond=0)
        wants_history = not live or window_start < hour_start
        if not live and not self.supports_history:
            raise ProviderConfigError(
                PROVIDER,
                PRICEHISTORY,
                "past windows need Steam's price history, which requires a login:"
                f" set {LOGIN_ENV} to your steamLoginSecure cookie",
            )
        frames = []
        try:
            if wants_history and self.supports_history:
                frames.append(self._history(window_start, window_end, stats))
            if live:
                frames.append(self._live(window_start, window_end, stats))
        finally:
            log.info("steam: %s", ", ".join(f"{k}={v}" for k, v in stats.items() if v))
        self.last_issues = steam_issues(stats, self.currency.code)
        return pl.concat(frames) if frames else _frame([])

    # -- live -------------------------------------------------------------------

    def _live(
        self, window_start: datetime, window_end: datetime, stats: dict[str, int]
    ) -> pl.DataFrame:
        params = [
            {
                "appid": CS2_APP_ID,
                "currency": self.currency.steam_id,
                "country": self.settings.country,
                "market_hash_name": name,
            }
            for name in self.watchlist
        ]
        stats["requested"] += len(params)
        results = self._get_all("market/priceoverview/", params)
        observed = snapshot_time(window_start, window_end, now=self._clock())
        rows, errors, answered = [], [], 0
        for name, result in zip(self.watchlist, results, strict=True):
            data, error = self._answer(PRICEOVERVIEW, name, result, stats)
            if error is not None:
                errors.append(error)
            if data is None:
                continue
            answered += 1
            row = self._live_row(name, data, observed, stats)
            if row is not None:
                rows.append(row)
        self._raise_if_nothing_answered(PRICEOVERVIEW, answered, errors, stats)
        return _frame(rows)

    def _live_row(
        self, name: str, data: dict[str, Any], observed: datetime, stats: dict[str, int]
    ) -> dict[str, Any] | None:
        raw = next((data[k] for k in ("lowest_price", "median_price") if data.get(k)), None)
        if raw is None:
            # No listings, or Steam's soft rate limiting: nothing to store.
            stats["no_price"] += 1
            return None
        reason = None
        try:
            cents: int | None = parse_price_cents(raw, self.currency.code)
            stats["priced"] += 1
        except ValueError as exc:
            cents, reason = None, f"unparseable price: {exc}"
            stats["unparseable"] += 1
            log.warning("steam: %r: unreadable price %r (%s), row quarantined", name, raw, exc)
        return {
            "time": observed,
            "market_hash_name": name,
            "price_cents": cents,
            "volume": volume_or_none(data.get("volume"), name),
            "listings": None,  # priceoverview does not say how many are listed
            "raw_price": str(raw),
            INVALID_REASON: reason,
        }

    # -- history ----------------------------------------------------------------

    def _history(
        self, window_start: datetime, window_end: datetime, stats: dict[str, int]
    ) -> pl.DataFrame:
        params = [{"appid": CS2_APP_ID, "market_hash_name": name} for name in self.watchlist]
        stats["history_requested"] += len(params)
        # The first item alone: a missing login fails after one request, not N.
        results = self._get_all("market/pricehistory/", params[:1])
        if isinstance(results[0], ProviderRateLimited):
            results += self._not_sent(PRICEHISTORY, len(params) - 1)
        else:
            self._check_login(results[0])
            results += self._get_all("market/pricehistory/", params[1:])
        rows, errors, answered = [], [], 0
        for name, result in zip(self.watchlist, results, strict=True):
            self._check_login(result)
            data, error = self._answer(PRICEHISTORY, name, result, stats)
            if error is not None:
                errors.append(error)
            if data is None:
                continue
            points = data.get("prices")
            if not isinstance(points, list):
                stats["history_failed"] += 1
                errors.append(ProviderResponseError(PROVIDER, PRICEHISTORY, "no prices list"))
                log.warning("steam %s: %r: answer without a prices list", PRICEHISTORY, name)
                continue
            self.wallet.check(
                str(data.get("price_prefix") or ""), str(data.get("price_suffix") or "")
            )
            answered += 1
            stats["history_empty"] += not points
            rows += history_rows(name, points, window_start, window_end, stats)
        self._raise_if_nothing_answered(PRICEHISTORY, answered, errors, stats)
        stats["history_points"] = len(rows)
        return _frame(rows)


def build_steam_provider(
    settings: SteamSettings,
    *,
    http: HttpSettings | None = None,
    budget: RateBudget | None = None,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], datetime] | None = None,
) -> SteamProvider:
    """The adapter with its HTTP client (browser User-Agent, cookie, scrubbing)."""
    cookie = normalized_cookie(settings.login_secure)
    # Steam reportedly answers 429 to clients that offer brotli: leave "br" out.
    headers = {"Accept-Encoding": "gzip, deflate"}
    if cookie is not None:
        if not cookie.isascii() or not cookie.isprintable() or any(c in cookie for c in "; "):
            raise ProviderConfigError(
                PROVIDER, "settings", f"{LOGIN_ENV} holds characters a cookie cannot carry"
            )
        headers["Cookie"] = f"steamLoginSecure={cookie}"
    client = ProviderHttpClient(
        PROVIDER,
        settings.base_url,
        settings=http,
        headers=headers,
        budget=budget,
        secrets=[s for s in (cookie, settings.login_secure) if s],
        hints={
            403: f"Steam refused the request; if {LOGIN_ENV} is set, replace it",
            404: "check TRACERA_STEAM_BASE_URL",
        },
        sleep=sleep,
    )
    return SteamProvider(settings, client, clock=clock)
