"""Pricempire (paid, v4): one marketplace's prices for the whole catalogue.

``GET /v4/paid/items/prices?sources=<source>&currency=USD`` returns a bare JSON array
of every item (~39k items, ~33 MB) with a ``prices`` list per item; we keep the entry
whose ``provider_key`` is the configured source (default ``buff163``).

* Auth: ``Authorization: Bearer <key>`` (never the ``api_key`` query parameter, so
  the key cannot leak through a logged URL). Without a key, ``fetch`` raises
  ``ProviderConfigError`` naming ``TRACERA_PRICEMPIRE_API_KEY``; building does not,
  so a missing key fails only this provider's step.
* ``price_cents`` = the entry's ``price`` (integer cents); ``listings`` = its
  ``count`` (an integer or a numeric string); ``volume`` stays null.
* Items without an entry for the source give no row. Entries with a missing or
  non-integer price are kept (original text in ``raw_price``) for quarantine.
* ``time`` is the snapshot time, not the entry's ``updated_at``: that can be hours
  old (outside the partition being filled) or a placeholder (Skinport entries
  carried ``2025-01-01T00:00:00.000Z``).
* The ~33 MB body is decoded with a ``json`` object hook that drops every dict we do
  not need (other sources' entries, ``meta``…) the moment it is parsed, so the full
  tree never exists: peak memory stays near the size of the body. (Measured on a
  40 MB body: ~50 MiB peak over the body, against ~160 MiB for a plain
  ``json.loads`` tree and ~340 MiB for ``polars.read_json`` with a narrow schema.)
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, NamedTuple

import polars as pl

from tracera_pipeline.providers.base import PRICE_SCHEMA
from tracera_pipeline.providers.errors import ProviderConfigError, ProviderResponseError
from tracera_pipeline.providers.http_client import HttpSettings, ProviderHttpClient
from tracera_pipeline.providers.rate_budget import RateBudget
from tracera_pipeline.providers.snapshot import cheapest_per_name, raw_text, snapshot_time
from tracera_pipeline.storage.price_writer import WriteMode

log = logging.getLogger(__name__)

API_KEY_ENV = "TRACERA_PRICEMPIRE_API_KEY"
PRICES_ENDPOINT = "/v4/paid/items/prices"
PRICEMPIRE_SCHEMA: dict[str, pl.DataType] = {**PRICE_SCHEMA, "raw_price": pl.String()}


@dataclass(frozen=True)
class PricempireSettings:
    base_url: str = "https://api.pricempire.com"
    api_key: str | None = None
    source: str = "buff163"
    currency: str = "USD"


class _Entry(NamedTuple):
    """A ``prices[]`` entry of the configured source (raw values, not yet checked)."""

    price: Any
    count: Any


class _Item(NamedTuple):
    name: Any
    prices: Any  # a list of _Entry/None once decoded, unless the shape is wrong


def _decode(body: bytes, source: str) -> Any:
    """JSON with only what we read kept: entries of ``source`` and the items' names."""

    def keep(obj: dict[str, Any]) -> Any:
        if "provider_key" in obj:
            if obj["provider_key"] != source:
                return None
            return _Entry(obj.get("price"), obj.get("count"))
        if "prices" in obj or "market_hash_name" in obj:
            return _Item(obj.get("market_hash_name"), obj.get("prices"))
        return None  # meta and anything else nested we never read

    try:
        return json.loads(body, object_hook=keep)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ProviderResponseError(
            "pricempire", PRICES_ENDPOINT, f"malformed JSON: {exc}"
        ) from None


def _whole_number(value: Any) -> int | None:
    """An integer, an integral float or a digit string as an int, else None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str) and value.strip().isdigit():
        return int(value)
    return None


def _count(value: Any) -> int | None:
    """A count given as 9060, "9060" or null; anything else (or beyond Int32) is None."""
    count = _whole_number(value)
    return count if count is not None and abs(count) < 2**31 else None


def parse_prices(body: bytes, source: str) -> tuple[pl.DataFrame, dict[str, int]]:
    """The catalogue body → one row per item priced by ``source`` (no ``time`` yet)."""
    data = _decode(body, source)
    if not isinstance(data, list):
        raise ProviderResponseError("pricempire", PRICES_ENDPOINT, "expected a JSON array")
    names, prices, listings, raws = [], [], [], []
    with_source = 0
    for index, item in enumerate(data):
        if not isinstance(item, _Item) or not isinstance(item.prices, list | None):
            raise ProviderResponseError(
                "pricempire",
                PRICES_ENDPOINT,
                f"unexpected item at index {index}: not an object with a prices list",
            )
        entries = [entry for entry in item.prices or () if isinstance(entry, _Entry)]
        with_source += bool(entries)
        for entry in entries:
            names.append(item.name if isinstance(item.name, str) else None)
            prices.append(_whole_number(entry.price))
            listings.append(_count(entry.count))
            raws.append(raw_text(entry.price))
    entries_frame = pl.DataFrame(
        {"market_hash_name": names, "price_cents": prices, "listings": listings, "raw_price": raws},
        schema={
            "market_hash_name": pl.String(),
            "price_cents": pl.Int64(),
            "listings": pl.Int32(),
            "raw_price": pl.String(),
        },
    )
    # Repeated names are not expected; if they come, the cheapest entry stays.
    rows = cheapest_per_name(entries_frame)
    stats = {"items": len(data), "without_source": len(data) - with_source, "rows": rows.height}
    return rows, stats


class PricempireProvider:
    """One source's live prices for the whole catalogue (one request per fetch)."""

    name = "pricempire"
    supports_history = False
    write_mode = WriteMode.MERGE

    def __init__(self, settings: PricempireSettings, client: ProviderHttpClient) -> None:
        self.settings = settings
        self.client = client
        self.last_stats: dict[str, int] = {}

    def fetch(self, window_start: datetime, window_end: datetime) -> pl.DataFrame:
        if not self.settings.api_key:
            raise ProviderConfigError(self.name, PRICES_ENDPOINT, f"no API key: set {API_KEY_ENV}")
        body = self._get_body()
        observed = snapshot_time(window_start, window_end)
        rows, stats = parse_prices(body, self.settings.source)
        self.last_stats = stats
        log.info("pricempire: %s", ", ".join(f"{k}={v}" for k, v in stats.items()))
        return rows.with_columns(
            pl.lit(observed, dtype=PRICEMPIRE_SCHEMA["time"]).alias("time"),
            pl.lit(None, dtype=pl.Int32()).alias("volume"),
        ).select(PRICEMPIRE_SCHEMA.keys())

    def _get_body(self) -> bytes:
        params = {"sources": self.settings.source, "currency": self.settings.currency}
        raw = self.client.get(PRICES_ENDPOINT, params)
        content_type = raw.headers.get("content-type", "")
        self.client.require_json(PRICES_ENDPOINT, content_type, raw.body, len(raw.body))
        return raw.body


def build_pricempire_provider(
    settings: PricempireSettings,
    *,
    http: HttpSettings | None = None,
    budget: RateBudget | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> PricempireProvider:
    # The key travels only in this header; the client masks it in every message.
    headers = {"Authorization": f"Bearer {settings.api_key}"} if settings.api_key else {}
    client = ProviderHttpClient(
        "pricempire",
        settings.base_url,
        settings=http,
        headers=headers,
        budget=budget,
        secrets=[settings.api_key or ""],
        sleep=sleep,
    )
    return PricempireProvider(settings, client)
