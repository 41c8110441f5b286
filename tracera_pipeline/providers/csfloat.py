"""CSFloat: lowest buy-now asks among the listings seen, from ``/v1/listings``.

CSFloat has no catalogue price endpoint in its docs, so a fetch walks up to
``max_pages`` pages of listings (``page_size`` each, cursor pagination) and
aggregates them per ``market_hash_name``: the cheapest listing's price and the
number of listings seen. That is a sample of the market (the newest listings with
the default sort), not its full order book.

* Auth: ``Authorization: <key>`` (no "Bearer"). Without a key, ``fetch`` raises
  ``ProviderConfigError`` naming ``TRACERA_CSFLOAT_API_KEY``; building does not, so
  a missing key fails only this provider's step.
* Prices are integer cents already. Only buy-now listings are asked for: an
  auction's price is a bid in progress, not an ask.
* ``volume`` stays null: ``item.scm.volume`` is Steam's sales volume, not CSFloat's.
* Rate limits: the shared client waits out 429s. When a successful page says
  ``X-Ratelimit-Remaining: 0``, the next page waits for ``X-Ratelimit-Reset`` if that
  is at most ``MAX_RESET_WAIT_SECONDS`` away; otherwise pagination stops and the
  snapshot keeps the pages it has (``last_stats["stopped_by_rate_limit"]``).
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import httpx
import polars as pl

from tracera_pipeline.providers.base import INVALID_REASON, PRICE_SCHEMA, FetchIssue
from tracera_pipeline.providers.errors import ProviderConfigError, ProviderResponseError
from tracera_pipeline.providers.http_client import HttpSettings, ProviderHttpClient
from tracera_pipeline.providers.rate_budget import RateBudget
from tracera_pipeline.providers.snapshot import cheapest_per_name, snapshot_time
from tracera_pipeline.storage.price_writer import WriteMode

log = logging.getLogger(__name__)

API_KEY_ENV = "TRACERA_CSFLOAT_API_KEY"
LISTINGS_ENDPOINT = "/listings"
CSFLOAT_SCHEMA: dict[str, pl.DataType] = {
    **PRICE_SCHEMA,
    "raw_price": pl.String(),
    INVALID_REASON: pl.String(),
}
# Longest wait for an exhausted per-endpoint window before giving up on more pages.
MAX_RESET_WAIT_SECONDS = 90.0


@dataclass(frozen=True)
class CsfloatSettings:
    base_url: str = "https://csfloat.com/api/v1"
    api_key: str | None = None
    max_pages: int = 20
    page_size: int = 50  # the API's maximum
    sort_by: str = "most_recent"


@dataclass(frozen=True)
class Listing:
    listing_id: str | None
    market_hash_name: str | None
    price_cents: int | None
    raw_price: str | None
    reason: str | None = None  # why the price is unusable, when it is there but odd


def _price_cents(value: Any) -> int | None:
    """Integer cents; an integral float is accepted, anything else is unusable."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return None


def parse_listing(listing: Any) -> Listing:
    """The fields we use; missing or odd ones become None (validation decides)."""
    if not isinstance(listing, dict):
        return Listing(None, None, None, None)
    item = listing.get("item")
    name = item.get("market_hash_name") if isinstance(item, dict) else None
    price = listing.get("price")
    cents = _price_cents(price)
    raw = price if price is None or isinstance(price, str) else json.dumps(price)
    return Listing(
        listing_id=None if listing.get("id") is None else str(listing["id"]),
        market_hash_name=name if isinstance(name, str) else None,
        price_cents=cents,
        raw_price=raw,
        reason=f"unparseable price: {raw!r} is not integer cents"
        if cents is None and raw
        else None,
    )


def _page_listings(data: Any) -> tuple[list[Any], str | None]:
    """``{"data": [...], "cursor": ...}`` or, as in the older docs, a bare array."""
    if isinstance(data, list):
        return data, None
    if isinstance(data, dict) and isinstance(data.get("data"), list):
        cursor = data.get("cursor")
        return data["data"], cursor if isinstance(cursor, str) and cursor else None
    raise ProviderResponseError(
        "csfloat",
        LISTINGS_ENDPOINT,
        f"expected {{'data': [...]}} or a JSON array, got {type(data).__name__}",
    )


def _reset_wait(headers: httpx.Headers, now: float) -> float | None:
    """Seconds until the window resets when this page used the last request, else None."""
    if headers.get("x-ratelimit-remaining", "").strip() != "0":
        return None
    try:
        return max(0.0, float(headers.get("x-ratelimit-reset", "")) - now)
    except ValueError:
        return None  # no usable reset: the next request's 429 handling takes over


class CsfloatProvider:
    """Per-name lowest ask over the newest listings (up to ``max_pages`` pages)."""

    name = "csfloat"
    supports_history = False
    write_mode = WriteMode.MERGE

    def __init__(self, settings: CsfloatSettings, client: ProviderHttpClient) -> None:
        self.settings = settings
        self.client = client
        self.last_stats: dict[str, int] = {}
        self.last_issues: list[FetchIssue] = []

    def close(self) -> None:
        self.client.close()

    def fetch(self, window_start: datetime, window_end: datetime) -> pl.DataFrame:
        if not self.settings.api_key:
            raise ProviderConfigError(
                self.name, LISTINGS_ENDPOINT, f"no API key: set {API_KEY_ENV}"
            )
        self.last_stats, self.last_issues = {}, []
        listings, stats = self._collect()
        observed = snapshot_time(window_start, window_end)
        frame = listings_to_frame(listings, observed)
        self.last_stats = {**stats, "rows": frame.height}
        if not listings:
            message = f"CSFloat returned no buy-now listing in {stats['pages']} page(s)"
            self.last_issues = [FetchIssue("no_listings", message)]
        log.info("csfloat: %s", ", ".join(f"{k}={v}" for k, v in self.last_stats.items()))
        return frame

    def _collect(self) -> tuple[list[Listing], dict[str, int]]:
        """Follow cursors until the last page, ``max_pages``, or an exhausted window."""
        seen: dict[str, Listing] = {}
        anonymous: list[Listing] = []  # no id to de-duplicate on: keep each
        cursor: str | None = None
        stats = {"pages": 0, "rate_limit_waits": 0, "stopped_by_rate_limit": 0}
        while stats["pages"] < self.settings.max_pages:
            response = self.client.get_json("listings", self._params(cursor))
            stats["pages"] += 1
            page, cursor = _page_listings(response.data)
            for listing in map(parse_listing, page):
                if listing.listing_id is None:
                    anonymous.append(listing)
                else:
                    # The newest-first order shifts while we page: a listing can repeat.
                    seen.setdefault(listing.listing_id, listing)
            if cursor is None or stats["pages"] >= self.settings.max_pages:
                break
            if not self._wait_for_window(response.headers, stats):
                break
        stats["listings"] = len(seen) + len(anonymous)
        return [*seen.values(), *anonymous], stats

    def _params(self, cursor: str | None) -> dict[str, str | int]:
        params: dict[str, str | int] = {
            "limit": self.settings.page_size,
            "sort_by": self.settings.sort_by,
            "type": "buy_now",
        }
        if cursor:
            params["cursor"] = cursor
        return params

    def _wait_for_window(self, headers: httpx.Headers, stats: dict[str, int]) -> bool:
        """Before the next page: sleep out an exhausted window; False means stop."""
        wait = _reset_wait(headers, time.time())
        if wait is None:
            return True
        if self.client.budget is not None:
            # Other runs share this limit: nobody calls before the reset.
            self.client.budget.block_until(time.time() + wait)
        if wait > MAX_RESET_WAIT_SECONDS:
            log.warning(
                "csfloat: rate limit window exhausted for %.0fs; keeping %d page(s)",
                wait,
                stats["pages"],
            )
            stats["stopped_by_rate_limit"] = 1
            return False
        stats["rate_limit_waits"] += 1
        self.client.sleep(wait)
        return True


def listings_to_frame(listings: list[Listing], observed: datetime) -> pl.DataFrame:
    """One row per name with the lowest price and the count of priced listings;
    listings with a missing or non-positive price stay as their own rows so
    validation quarantines them."""
    rows = pl.DataFrame(
        {
            "market_hash_name": [x.market_hash_name for x in listings],
            "price_cents": [x.price_cents for x in listings],
            "raw_price": [x.raw_price for x in listings],
            "listings": [1] * len(listings),  # each unusable listing stands alone
            INVALID_REASON: [x.reason for x in listings],
        },
        schema={
            "market_hash_name": pl.String(),
            "price_cents": pl.Int64(),
            "raw_price": pl.String(),
            "listings": pl.Int32(),
            INVALID_REASON: pl.String(),
        },
    )
    return (
        cheapest_per_name(rows, pl.len().cast(pl.Int32()).alias("listings"))
        .with_columns(
            pl.lit(observed, dtype=CSFLOAT_SCHEMA["time"]).alias("time"),
            pl.lit(None, dtype=pl.Int32()).alias("volume"),
        )
        .select(CSFLOAT_SCHEMA.keys())
        .cast(CSFLOAT_SCHEMA)
    )


def build_csfloat_provider(
    settings: CsfloatSettings,
    *,
    http: HttpSettings | None = None,
    budget: RateBudget | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> CsfloatProvider:
    # The key travels only in this header; the client masks it in every message.
    headers = {"Authorization": settings.api_key} if settings.api_key else {}
    rejected_key = f"the API key was refused: set {API_KEY_ENV} to a valid key"
    client = ProviderHttpClient(
        "csfloat",
        settings.base_url,
        settings=http,
        headers=headers,
        budget=budget,
        secrets=[settings.api_key or ""],
        hints={401: rejected_key, 403: rejected_key, 404: "check TRACERA_CSFLOAT_BASE_URL"},
        sleep=sleep,
    )
    return CsfloatProvider(settings, client)
