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
  must match ``SteamSettings.currency`` or the fetch stops.

Failure rules: one bad item never fails the others (it is logged and counted in
``last_stats``); a fetch where no item got an answer raises, so the run fails
visibly. A price string that cannot be read becomes a row with a null
``price_cents`` and the text in ``raw_price``: validation quarantines it.

Steam's 429s are IP-wide, have no ``Retry-After`` and last minutes to hours, and
retrying extends them; after a request that stays rate limited the adapter stops
asking for the remaining items and blocks the shared budget for a cooldown.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any

import polars as pl

from tracera_pipeline.providers.base import PRICE_SCHEMA
from tracera_pipeline.providers.errors import (
    ProviderConfigError,
    ProviderError,
    ProviderHTTPError,
    ProviderRateLimited,
    ProviderResponseError,
)
from tracera_pipeline.providers.http_client import HttpSettings, JsonResponse, ProviderHttpClient
from tracera_pipeline.providers.rate_budget import RateBudget
from tracera_pipeline.providers.snapshot import snapshot_time
from tracera_pipeline.providers.steam_prices import (
    SteamCurrency,
    parse_price_cents,
    parse_volume,
    steam_currency,
    wallet_matches,
)
from tracera_pipeline.storage.price_writer import WriteMode

log = logging.getLogger(__name__)

PROVIDER = "steam"
CS2_APP_ID = 730
PRICEOVERVIEW = "/market/priceoverview/"
PRICEHISTORY = "/market/pricehistory/"
# PRICE_SCHEMA plus Steam's price text, so quarantined rows show what was unreadable.
STEAM_SCHEMA: dict[str, pl.DataType] = {**PRICE_SCHEMA, "raw_price": pl.String()}
# The pipeline passes window_end = its own "now" for the open partition; a fetch
# that starts within this much of window_end still counts as live.
LIVE_GRACE = timedelta(seconds=60)
# After a persistent 429 nobody asks Steam again for this long (shared budget).
RATE_LIMIT_COOLDOWN_SECONDS = 300.0

WATCHLIST_ENV = "TRACERA_STEAM_WATCHLIST"
LOGIN_ENV = "TRACERA_STEAM_LOGIN_SECURE"
CURRENCY_ENV = "TRACERA_STEAM_CURRENCY"

_INT32_MAX = 2**31 - 1
_MONTHS = {
    m: i
    for i, m in enumerate(
        ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"), 1
    )
}
# "Nov 24 2025 01: +0": month, day, year, hour, always UTC. Parsed by hand because
# strptime's %b follows the process locale.
_HISTORY_DATE = re.compile(r"([A-Z][a-z]{2}) +(\d{1,2}) (\d{4}) (\d{1,2}): \+0")
_STAT_KEYS = (
    "requested",
    "priced",
    "no_price",
    "unparseable",
    "unknown",
    "failed",
    "history_requested",
    "history_points",
    "history_unparseable",
    "history_bad_points",
    "history_unknown",
    "history_failed",
)


@dataclass(frozen=True)
class SteamSettings:
    base_url: str = "https://steamcommunity.com"
    currency: str = "USD"  # ISO code, mapped to Steam's numeric currency id
    country: str = "US"
    watchlist: tuple[str, ...] = ()  # market_hash_names to fetch (Steam allows ~20 req/min)
    login_secure: str | None = None  # secret: steamLoginSecure cookie; enables history
    max_workers: int = 4  # concurrent requests (still bounded by the rate budget)


def _normalized_cookie(login_secure: str | None) -> str | None:
    """The cookie value, also when pasted as ``steamLoginSecure=…``; None when unset."""
    value = (login_secure or "").strip()
    value = value.removeprefix("steamLoginSecure=").strip()
    return value or None


def parse_history_time(text: str) -> datetime:
    """``"Nov 24 2025 01: +0"`` → 2025-11-24 01:00 UTC; ``ValueError`` otherwise."""
    match = _HISTORY_DATE.fullmatch(text.strip()) if isinstance(text, str) else None
    if match is None or match.group(1) not in _MONTHS:
        raise ValueError(f"unexpected pricehistory date {text!r}")
    month, day, year, hour = match.groups()
    return datetime(int(year), _MONTHS[month], int(day), int(hour), tzinfo=UTC)


def history_price_cents(value: Any) -> int:
    """A pricehistory price (float, or numeric text) in major units → exact cents.

    ``Decimal(str(x))``: a float's ``str`` is its shortest repr, so 1.13 → 113 where
    ``int(1.13 * 100)`` gives 112. Sub-cent medians round half up.
    """
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise ValueError(f"unexpected price {value!r}")
    try:
        amount = Decimal(str(value).strip())
    except InvalidOperation:
        raise ValueError(f"unexpected price {value!r}") from None
    if not amount.is_finite():
        raise ValueError(f"unexpected price {value!r}")
    return int((amount * 100).quantize(Decimal(1), rounding=ROUND_HALF_UP))


def _volume_or_none(value: Any, name: str) -> int | None:
    if value is None:
        return None
    try:
        volume = parse_volume(value)
    except (ValueError, TypeError):
        log.warning("steam: %s: unreadable volume %r, stored as null", name, value)
        return None
    return volume if volume <= _INT32_MAX else None


def _frame(rows: list[dict[str, Any]]) -> pl.DataFrame:
    return pl.DataFrame(rows, schema=STEAM_SCHEMA)


class SteamProvider:
    """The Steam adapter (``PriceProvider``); ``last_stats`` counts the last fetch."""

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
            raise ProviderConfigError(PROVIDER, "settings", f"{exc} (set {CURRENCY_ENV})") from None
        self.watchlist = tuple(
            dict.fromkeys(name.strip() for name in settings.watchlist if name.strip())
        )
        self.supports_history = _normalized_cookie(settings.login_secure) is not None
        self._clock = clock or (lambda: datetime.now(UTC))
        # Counts of the last fetch, for run metadata (the frame only carries rows).
        self.last_stats: dict[str, int] = {}

    def close(self) -> None:
        self.client.close()

    def fetch(self, window_start: datetime, window_end: datetime) -> pl.DataFrame:
        """Rows for ``[window_start, window_end)``, ``STEAM_SCHEMA`` columns."""
        if not self.watchlist:
            raise ProviderConfigError(
                PROVIDER,
                "settings",
                f"the watchlist is empty: set {WATCHLIST_ENV} to comma-separated"
                " market_hash_names (with the wear, e.g. 'AK-47 | Redline (Field-Tested)')",
            )
        stats = self.last_stats = dict.fromkeys(_STAT_KEYS, 0)
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
        return pl.concat(frames) if frames else _frame([])

    # -- requests ---------------------------------------------------------------

    def _get_all(
        self, path: str, params: list[Mapping[str, Any]], ok_statuses: tuple[int, ...]
    ) -> list[JsonResponse | ProviderError]:
        """One request per watchlist item, ``max_workers`` at a time.

        Batches rather than one ``get_many``: after a 429 that outlasted the
        retries the rest are not sent (their slots come back as "not sent"
        errors), since Steam's 429s cover the whole IP and more requests only
        prolong them.
        """
        step = max(1, self.settings.max_workers)
        results: list[JsonResponse | ProviderError] = []
        for start in range(0, len(params), step):
            batch = [(path, p) for p in params[start : start + step]]
            results += self.client.get_many(batch, max_workers=step, ok_statuses=ok_statuses)
            if any(isinstance(r, ProviderRateLimited) for r in results):
                self._cool_down()
                return results + self._not_sent("/" + path, len(params) - len(results))
        return results

    def _not_sent(self, endpoint: str, count: int) -> list[JsonResponse | ProviderError]:
        if count:
            log.warning("steam %s: rate limited; %d request(s) not sent", endpoint, count)
        error = ProviderRateLimited(
            PROVIDER, endpoint, 429, "not sent: an earlier request stayed rate limited"
        )
        return [error] * count

    def _cool_down(self) -> None:
        if self.client.budget is not None:
            self.client.budget.block_until(time.time() + RATE_LIMIT_COOLDOWN_SECONDS)

    def _answer(
        self, endpoint: str, name: str, result: JsonResponse | ProviderError, stats: dict[str, int]
    ) -> tuple[dict[str, Any] | None, ProviderError | None]:
        """(data, None) for a ``success:true`` answer; (None, error) for a failure;
        (None, None) for ``success:false``, Steam's "no such item" (as 200 or 500)."""
        prefix = "history_" if endpoint == PRICEHISTORY else ""
        if isinstance(result, ProviderError):
            error = result
        else:
            data = result.data
            success = data.get("success") if isinstance(data, dict) else None
            if success is False:
                stats[prefix + "unknown"] += 1
                log.warning(
                    "steam %s: %r: success:false (HTTP %d): unknown item? check the exact"
                    " market_hash_name including the wear",
                    endpoint,
                    name,
                    result.status,
                )
                return None, None
            if result.status < 400 and success is True:
                return data, None
            error = (
                ProviderHTTPError(
                    PROVIDER, endpoint, result.status, self.client.scrub(repr(data)[:200])
                )
                if result.status >= 400
                else ProviderResponseError(PROVIDER, endpoint, "answer without success:true")
            )
        stats[prefix + "failed"] += 1
        log.warning("steam: %r skipped: %s", name, error)
        return None, error

    def _raise_if_nothing_answered(
        self, endpoint: str, answered: int, errors: list[ProviderError], stats: dict[str, int]
    ) -> None:
        if answered:
            return
        prefix = "history_" if endpoint == PRICEHISTORY else ""
        counts = f"{stats[prefix + 'failed']} failed, {stats[prefix + 'unknown']} unknown item(s)"
        if not errors:
            raise ProviderConfigError(
                PROVIDER,
                endpoint,
                f"no watchlist item is known to Steam ({counts}); check {WATCHLIST_ENV}",
            )
        first = str(errors[0]).removeprefix(f"{PROVIDER} {endpoint}: ")
        message = f"no watchlist request succeeded ({counts}); first error: {first}"
        if all(isinstance(e, ProviderRateLimited) for e in errors):
            raise ProviderRateLimited(PROVIDER, endpoint, 429, message) from errors[0]
        raise ProviderError(PROVIDER, endpoint, message) from errors[0]

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
        # 500 {"success":false} is Steam's answer for an unknown name: read it
        # instead of letting the client retry it (which would spend rate budget).
        results = self._get_all("market/priceoverview/", params, ok_statuses=(500,))
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
        if answered > 1 and stats["no_price"] == answered:
            log.warning(
                "steam: no item had a price; Steam answers like this while soft rate"
                " limiting, so hard 429s may follow"
            )
        return _frame(rows)

    def _live_row(
        self, name: str, data: dict[str, Any], observed: datetime, stats: dict[str, int]
    ) -> dict[str, Any] | None:
        raw = next((data[k] for k in ("lowest_price", "median_price") if data.get(k)), None)
        if raw is None:
            # No listings, or Steam's soft rate limiting: nothing to store.
            stats["no_price"] += 1
            return None
        try:
            cents: int | None = parse_price_cents(raw, self.currency.code)
            stats["priced"] += 1
        except ValueError as exc:
            cents = None
            stats["unparseable"] += 1
            log.warning("steam: %r: unreadable price %r (%s), row quarantined", name, raw, exc)
        return {
            "time": observed,
            "market_hash_name": name,
            "price_cents": cents,
            "volume": _volume_or_none(data.get("volume"), name),
            "listings": None,  # priceoverview does not say how many are listed
            "raw_price": str(raw),
        }

    # -- history ----------------------------------------------------------------

    def _history(
        self, window_start: datetime, window_end: datetime, stats: dict[str, int]
    ) -> pl.DataFrame:
        params = [{"appid": CS2_APP_ID, "market_hash_name": name} for name in self.watchlist]
        stats["history_requested"] += len(params)
        ok = (400, 500)  # 400 [] = not logged in; 500 {"success":false} = unknown item
        # The first item alone: a missing login fails after one request, not N.
        results = self._get_all("market/pricehistory/", params[:1], ok)
        if isinstance(results[0], ProviderRateLimited):
            results += self._not_sent(PRICEHISTORY, len(params) - 1)
        else:
            self._check_login(results[0])
            results += self._get_all("market/pricehistory/", params[1:], ok)
        rows, errors, answered = [], [], 0
        for name, result in zip(self.watchlist, results, strict=True):
            self._check_login(result)
            data, error = self._answer(PRICEHISTORY, name, result, stats)
            if error is not None:
                errors.append(error)
            if data is None:
                continue
            self._check_wallet(data)
            points = data.get("prices")
            if not isinstance(points, list):
                stats["history_failed"] += 1
                errors.append(ProviderResponseError(PROVIDER, PRICEHISTORY, "no prices list"))
                log.warning("steam %s: %r: answer without a prices list", PRICEHISTORY, name)
                continue
            answered += 1
            rows += self._history_rows(name, points, window_start, window_end, stats)
        self._raise_if_nothing_answered(PRICEHISTORY, answered, errors, stats)
        stats["history_points"] = len(rows)
        return _frame(rows)

    def _check_login(self, result: JsonResponse | ProviderError) -> None:
        if isinstance(result, JsonResponse) and result.status == 400 and result.data == []:
            # Never echo the cookie: only the variable name.
            raise ProviderConfigError(
                PROVIDER,
                PRICEHISTORY,
                "Steam answered 400 [] (not logged in): the steamLoginSecure cookie is"
                f" missing, expired or rejected; set {LOGIN_ENV} to a current one",
            )

    def _check_wallet(self, data: dict[str, Any]) -> None:
        prefix, suffix = str(data.get("price_prefix") or ""), str(data.get("price_suffix") or "")
        if wallet_matches(prefix, suffix, self.currency.code) is False:
            # Storing wallet-currency history as another currency would be silently wrong.
            raise ProviderConfigError(
                PROVIDER,
                PRICEHISTORY,
                f"price history comes in the account's wallet currency"
                f" ({(prefix + suffix).strip()!r}), not {self.currency.code};"
                f" set {CURRENCY_ENV} to the wallet's currency",
            )

    def _history_rows(
        self,
        name: str,
        points: list[Any],
        window_start: datetime,
        window_end: datetime,
        stats: dict[str, int],
    ) -> list[dict[str, Any]]:
        rows, malformed = [], 0
        for point in points:
            try:
                when = parse_history_time(point[0])
                raw, volume = point[1], point[2]
            except (ValueError, TypeError, IndexError, KeyError):
                malformed += 1
                continue
            if not window_start <= when < window_end:
                continue
            try:
                cents: int | None = history_price_cents(raw)
            except ValueError:
                cents = None
                stats["history_unparseable"] += 1
            rows.append(
                {
                    "time": when,
                    "market_hash_name": name,
                    "price_cents": cents,
                    "volume": _volume_or_none(volume, name),
                    "listings": None,
                    "raw_price": None if raw is None else str(raw),
                }
            )
        if malformed:
            stats["history_bad_points"] += malformed
            log.warning(
                "steam %s: %r: skipped %d malformed point(s)", PRICEHISTORY, name, malformed
            )
        return rows


def build_steam_provider(
    settings: SteamSettings,
    *,
    http: HttpSettings | None = None,
    budget: RateBudget | None = None,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], datetime] | None = None,
) -> SteamProvider:
    """The adapter with its HTTP client (browser User-Agent, cookie, scrubbing)."""
    cookie = _normalized_cookie(settings.login_secure)
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
        sleep=sleep,
    )
    return SteamProvider(settings, client, clock=clock)
