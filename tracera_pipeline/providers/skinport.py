"""Skinport: the whole CS2 catalogue's lowest asks from the public ``/v1/items``.

One call returns every item (no pagination, no filter), so a fetch is one request:
a live snapshot, stamped with the time the answer arrived. Skinport answers 406
unless the request accepts brotli, and allows 8 requests per 5 minutes (answers
are cached for 5 minutes anyway), so the rate budget should say 8/300.

Row rules:

* ``price_cents`` comes from ``min_price`` (major units, as a decimal → exact cents);
  ``listings`` is ``quantity``; there is no sales volume here.
* Items with ``quantity == 0`` and no ``min_price`` are "no listing", not bad data:
  they are skipped and counted in ``last_stats["no_listing"]``.
* A row whose price is missing (while listed), unparseable or not positive is kept,
  with the original value in ``raw_price``, so validation quarantines it.
* A name can appear in several rows that differ by ``version`` (Doppler phases…):
  those collapse into one row per name with the lowest price and the summed
  quantity, because prices are stored per ``market_hash_name``.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any

import polars as pl

from tracera_pipeline.providers.base import INVALID_REASON, PRICE_SCHEMA, FetchIssue
from tracera_pipeline.providers.errors import (
    ProviderConfigError,
    ProviderHTTPError,
    ProviderResponseError,
)
from tracera_pipeline.providers.http_client import HttpSettings, ProviderHttpClient
from tracera_pipeline.providers.rate_budget import RateBudget
from tracera_pipeline.providers.snapshot import cheapest_per_name, raw_text, snapshot_time
from tracera_pipeline.storage.price_writer import WriteMode

log = logging.getLogger(__name__)

CS2_APP_ID = 730
ITEMS_ENDPOINT = "/items"
CURRENCY_ENV = "TRACERA_CURRENCY"  # one pipeline currency for every market
# The currencies /v1/items accepts (its docs; two client libraries agree).
CURRENCIES = ("AUD", "BRL", "CAD", "CHF", "CNY", "CZK", "DKK", "EUR")
CURRENCIES += ("GBP", "HRK", "NOK", "PLN", "RUB", "SEK", "TRY", "USD")
# PRICE_SCHEMA plus the provider's own price text, kept for the quarantine table.
SKINPORT_SCHEMA: dict[str, pl.DataType] = {
    **PRICE_SCHEMA,
    "raw_price": pl.String(),
    INVALID_REASON: pl.String(),
}
# Statuses whose ``{"errors":[{"id","message"}]}`` body is worth reading ourselves;
# 429 and 5xx stay with the shared client, which waits and retries them.
_EXPLAINED_STATUSES = (400, 401, 403, 404, 406, 422)


@dataclass(frozen=True)
class SkinportSettings:
    base_url: str = "https://api.skinport.com/v1"
    currency: str = "USD"


def price_to_cents(value: Any) -> int | None:
    """Major units (JSON number or numeric text) → exact integer cents, else None.

    Goes through ``Decimal(str(x))``: ``str`` of a float is its shortest repr (the
    JSON text), so 0.29 becomes 29, where ``int(0.29 * 100)`` would give 28.
    Sub-cent digits round half up.
    """
    if value is None or isinstance(value, bool):
        return None
    try:
        amount = Decimal(str(value).strip())
    except InvalidOperation:
        return None
    if not amount.is_finite():
        return None
    return int((amount * 100).quantize(Decimal(1), rounding=ROUND_HALF_UP))


def _quantity(value: Any) -> int | None:
    """An Int32 count from an integer or digit string; anything else is None."""
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or abs(value) >= 2**31:
        return None
    return value


class SkinportProvider:
    """Live lowest asks for the whole catalogue (one request per fetch)."""

    name = "skinport"
    supports_history = False
    write_mode = WriteMode.MERGE

    def __init__(self, settings: SkinportSettings, client: ProviderHttpClient) -> None:
        self.settings = settings
        self.client = client
        # Counts and problems of the last fetch, for run metadata and checks.
        self.last_stats: dict[str, int] = {}
        self.last_issues: list[FetchIssue] = []

    def close(self) -> None:
        self.client.close()

    def fetch(self, window_start: datetime, window_end: datetime) -> pl.DataFrame:
        currency = self._currency()
        self.last_stats, self.last_issues = {}, []
        items = self._get_items(currency)
        observed = snapshot_time(window_start, window_end)
        frame, stats = items_to_frame(items, observed, currency)
        self.last_stats, self.last_issues = stats, skinport_issues(stats)
        log.info("skinport: %s", ", ".join(f"{k}={v}" for k, v in stats.items()))
        return frame

    def _currency(self) -> str:
        """The currency in Skinport's spelling; refused before any request if unknown."""
        currency = self.settings.currency.strip().upper()
        if currency not in CURRENCIES:
            raise ProviderConfigError(
                self.name,
                ITEMS_ENDPOINT,
                f"Skinport has no currency {self.settings.currency!r}:"
                f" set {CURRENCY_ENV} to one of {', '.join(CURRENCIES)}",
            )
        return currency

    def _get_items(self, currency: str) -> list[dict[str, Any]]:
        params = {"app_id": CS2_APP_ID, "currency": currency, "tradable": 0}
        raw = self.client.get("items", params, ok_statuses=_EXPLAINED_STATUSES)
        if raw.status >= 400:
            raise ProviderHTTPError(
                self.name,
                ITEMS_ENDPOINT,
                raw.status,
                self.client.scrub(_error_text(raw.status, raw.body)),
            )
        data = self.client.decode_json(ITEMS_ENDPOINT, raw)
        if not isinstance(data, list):
            raise ProviderResponseError(
                self.name, ITEMS_ENDPOINT, f"expected a JSON array, got {type(data).__name__}"
            )
        for index, item in enumerate(data):
            if not isinstance(item, dict):
                raise ProviderResponseError(
                    self.name,
                    ITEMS_ENDPOINT,
                    f"item {index} is a {type(item).__name__}, not an object",
                )
        return data


def _error_text(status: int, body: bytes) -> str:
    """``id: message`` pairs from Skinport's error body, or the start of the body."""
    try:
        errors = json.loads(body)["errors"]
        text = "; ".join(f"{e.get('id')}: {e.get('message')}" for e in errors)
    except (ValueError, KeyError, AttributeError, TypeError):
        text = body[:200].decode("utf-8", "replace").strip()
    hints = {
        400: f"; check {CURRENCY_ENV} (one of {', '.join(CURRENCIES)})",
        404: "; check TRACERA_SKINPORT_BASE_URL",
        406: " (Skinport requires Accept-Encoding: br)",
        422: f"; check {CURRENCY_ENV} (one of {', '.join(CURRENCIES)})",
    }
    return (text or "(empty body)") + hints.get(status, "")


def items_to_frame(
    items: list[dict[str, Any]], observed: datetime, currency: str
) -> tuple[pl.DataFrame, dict[str, int]]:
    """Catalogue rows → one row per name (plus rows validation should reject)."""
    names, prices, raws, listings, reasons = [], [], [], [], []
    no_listing = 0
    for item in items:
        quantity = _quantity(item.get("quantity"))
        if item.get("min_price") is None and quantity == 0:
            no_listing += 1
            continue
        # A row in another currency would store euros as dollars: quarantine it
        # (no usable price, so it never merges with a good row of that name).
        foreign = item.get("currency") not in (None, currency)
        name = item.get("market_hash_name")
        names.append(name if isinstance(name, str) else None)
        cents = None if foreign else price_to_cents(item.get("min_price"))
        prices.append(cents)
        reasons.append(_reason(item, cents, currency, foreign))
        raws.append(raw_text(item.get("min_price")))
        listings.append(quantity)
    columns = {"market_hash_name": names, "price_cents": prices, "listings": listings}
    columns |= {"raw_price": raws, INVALID_REASON: reasons}
    rows = pl.DataFrame(columns, schema={name: SKINPORT_SCHEMA[name] for name in columns})
    frame = collapse_versions(rows).with_columns(
        pl.lit(observed, dtype=SKINPORT_SCHEMA["time"]).alias("time"),
        pl.lit(None, dtype=pl.Int32()).alias("volume"),
    )
    stats = {
        "items": len(items),
        "no_listing": no_listing,
        "merged_versions": rows.height - frame.height,
        "rows": frame.height,
    }
    return frame.select(SKINPORT_SCHEMA.keys()), stats


def _reason(item: dict[str, Any], cents: int | None, currency: str, foreign: bool) -> str | None:
    """Why a row is unusable, when the adapter knows better than "missing price"."""
    if foreign:
        return f"currency {item.get('currency')!r}, expected {currency}"
    if cents is None and item.get("min_price") is not None:
        return f"unparseable price: {raw_text(item.get('min_price'))!r}"
    return None


def skinport_issues(stats: dict[str, int]) -> list[FetchIssue]:
    """A catalogue answer with nothing to store is not a success."""
    if not stats["items"]:
        return [FetchIssue("empty_catalogue", "Skinport answered an empty catalogue")]
    if not stats["rows"]:
        message = f"Skinport listed none of its {stats['items']} items (quantity 0 everywhere)"
        return [FetchIssue("no_listings", message)]
    return []


def collapse_versions(rows: pl.DataFrame) -> pl.DataFrame:
    """One row per name: the lowest price, quantities summed over versions (null
    when no version reported one, rather than a made-up 0)."""
    listings = (
        pl.when(pl.col("listings").is_not_null().any())
        .then(pl.col("listings").sum())
        .otherwise(None)
        .cast(pl.Int32())
        .alias("listings")
    )
    return cheapest_per_name(rows, listings)


def build_skinport_provider(
    settings: SkinportSettings,
    *,
    http: HttpSettings | None = None,
    budget: RateBudget | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> SkinportProvider:
    client = ProviderHttpClient(
        "skinport",
        settings.base_url,
        settings=http,
        # Skinport answers 406 without brotli; httpx decodes br via the brotli package.
        headers={"Accept-Encoding": "br"},
        budget=budget,
        sleep=sleep,
    )
    return SkinportProvider(settings, client)
