"""Steam requests for a whole watchlist: batches that stop at a lasting 429, and
answers told apart (priced, ``success:false`` = unknown item, failed)."""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from typing import Any

from tracera_pipeline.providers.errors import (
    ProviderConfigError,
    ProviderError,
    ProviderRateLimited,
    ProviderResponseError,
)
from tracera_pipeline.providers.http_client import JsonResponse, ProviderHttpClient
from tracera_pipeline.providers.steam_settings import (
    LOGIN_ENV,
    PRICEHISTORY,
    PROVIDER,
    WATCHLIST_ENV,
    SteamSettings,
    is_steam_answer,
)

log = logging.getLogger("tracera_pipeline.providers.steam")

# After a persistent 429 nobody asks Steam again for this long (shared budget).
RATE_LIMIT_COOLDOWN_SECONDS = 300.0


class SteamRequests:
    """The request side of ``SteamProvider``."""

    settings: SteamSettings
    client: ProviderHttpClient

    def _get_all(
        self, path: str, params: list[Mapping[str, Any]]
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
            results += self.client.get_many(batch, max_workers=step, answer=is_steam_answer)
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
            error = ProviderResponseError(PROVIDER, endpoint, "answer without success:true")
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
        if all(e.permanent for e in errors):
            raise ProviderResponseError(PROVIDER, endpoint, message, permanent=True) from errors[0]
        raise ProviderError(PROVIDER, endpoint, message) from errors[0]

    def _check_login(self, result: JsonResponse | ProviderError) -> None:
        if isinstance(result, JsonResponse) and result.status == 400 and result.data == []:
            # Never echo the cookie: only the variable name.
            raise ProviderConfigError(
                PROVIDER,
                PRICEHISTORY,
                "Steam answered 400 [] (not logged in): the steamLoginSecure cookie is"
                f" missing, expired or rejected; set {LOGIN_ENV} to a current one",
            )
