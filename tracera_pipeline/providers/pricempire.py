"""Pricempire (paid, v4): one marketplace's prices for the whole catalogue.

``GET /v4/paid/items/prices?sources=<source>&currency=USD`` returns a bare JSON array
of every item (~39k items, ~33 MB) with a ``prices`` list per item; we keep the entry
whose ``provider_key`` is the configured source (default ``buff163``).

* Auth: ``Authorization: Bearer <key>`` (never the ``api_key`` query parameter, so
  the key cannot leak through a logged URL). Without a key, ``fetch`` raises
  ``ProviderConfigError`` naming ``TRACERA_PRICEMPIRE_API_KEY``; building does not,
  so a missing key fails only this provider's step. A 401/403 names it too.
* ``price_cents`` = the entry's ``price`` (integer cents); ``listings`` = its
  ``count`` (an integer or a numeric string); ``volume`` stays null.
* Items without an entry for the source give no row. An entry with ``price:
  null`` means "no price from this source right now": counted (``no_price``),
  not quarantined. A price that is not whole cents is kept, with its text and the
  reason, for the quarantine.
* ``time`` is the snapshot time, not the entry's ``updated_at``: that can be hours
  old (outside the partition being filled) or a placeholder (Skinport entries
  carried ``2025-01-01T00:00:00.000Z``).
* Memory: the body is parsed *while it downloads*, one catalogue item at a time
  (``pricempire_parse``); only the kept values are held, never the body or its
  parsed tree (measured on a 300 MB answer: see the README's Providers section).
* A source the API does not return (plans and its whitelist decide; ``steam``
  was dropped silently on one account) yields no rows: ``last_issues`` says so,
  with the sources the answer did carry.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime

import polars as pl

from tracera_pipeline.providers.base import FetchIssue
from tracera_pipeline.providers.errors import ProviderConfigError
from tracera_pipeline.providers.http_client import HttpSettings, ProviderHttpClient
from tracera_pipeline.providers.pricempire_parse import PRICEMPIRE_SCHEMA, CatalogueParse
from tracera_pipeline.providers.rate_budget import RateBudget
from tracera_pipeline.providers.snapshot import snapshot_time
from tracera_pipeline.storage.price_writer import WriteMode

log = logging.getLogger(__name__)

API_KEY_ENV = "TRACERA_PRICEMPIRE_API_KEY"
SOURCE_ENV = "TRACERA_PRICEMPIRE_SOURCE"
PRICES_ENDPOINT = "/v4/paid/items/prices"


@dataclass(frozen=True)
class PricempireSettings:
    base_url: str = "https://api.pricempire.com"
    api_key: str | None = None
    source: str = "buff163"
    currency: str = "USD"


def parse_prices(chunks: Iterable[bytes], source: str) -> CatalogueParse:
    """The catalogue body, in chunks → the configured source's rows and counts."""
    parse = CatalogueParse(source)
    for chunk in chunks:
        parse.feed(chunk)
    parse.close()
    return parse


def _issues(parse: CatalogueParse, source: str) -> list[FetchIssue]:
    stats = parse.stats()
    seen = ", ".join(sorted(parse.other_sources)[:10]) or "none"
    if not stats["items"]:
        return [FetchIssue("empty_catalogue", "Pricempire answered an empty catalogue")]
    if stats["items"] == stats["without_source"]:
        message = (
            f"none of the {stats['items']} items carries a price from source {source!r}, so"
            f" the API dropped it (sources in the answer: {seen}); set {SOURCE_ENV} to a"
            " source your plan returns"
        )
        return [FetchIssue("source_missing", message)]
    issues = []
    if not stats["rows"] - stats["unparseable"]:
        message = (
            f"source {source!r} answered for {stats['items'] - stats['without_source']} items"
            " without a usable price for any of them"
        )
        issues.append(FetchIssue("no_prices", message))
    if stats["unparseable"]:
        message = (
            f"{stats['unparseable']} {source!r} price(s) were not whole cents and were"
            " quarantined (see rejected_price_points)"
        )
        issues.append(FetchIssue("unparseable_prices", message, "warn"))
    return issues


class PricempireProvider:
    """One source's live prices for the whole catalogue (one request per fetch)."""

    name = "pricempire"
    supports_history = False
    write_mode = WriteMode.MERGE

    def __init__(self, settings: PricempireSettings, client: ProviderHttpClient) -> None:
        self.settings = settings
        self.client = client
        self.last_stats: dict[str, int] = {}
        self.last_issues: list[FetchIssue] = []

    def close(self) -> None:
        self.client.close()

    def fetch(self, window_start: datetime, window_end: datetime) -> pl.DataFrame:
        if not self.settings.api_key:
            raise ProviderConfigError(self.name, PRICES_ENDPOINT, f"no API key: set {API_KEY_ENV}")
        self.last_stats, self.last_issues = {}, []
        source = self.settings.source
        params = {"sources": source, "currency": self.settings.currency}
        parse = self.client.stream(
            PRICES_ENDPOINT, params, lambda chunks: parse_prices(chunks, source)
        )
        observed = snapshot_time(window_start, window_end)
        self.last_stats, self.last_issues = parse.stats(), _issues(parse, source)
        log.info("pricempire: %s", ", ".join(f"{k}={v}" for k, v in self.last_stats.items()))
        return (
            parse.frame()
            .with_columns(
                pl.lit(observed, dtype=PRICEMPIRE_SCHEMA["time"]).alias("time"),
                pl.lit(None, dtype=pl.Int32()).alias("volume"),
            )
            .select(PRICEMPIRE_SCHEMA.keys())
        )


def build_pricempire_provider(
    settings: PricempireSettings,
    *,
    http: HttpSettings | None = None,
    budget: RateBudget | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> PricempireProvider:
    # The key travels only in this header; the client masks it in every message.
    headers = {"Authorization": f"Bearer {settings.api_key}"} if settings.api_key else {}
    rejected_key = f"the API key was refused: set {API_KEY_ENV} to a valid key"
    client = ProviderHttpClient(
        "pricempire",
        settings.base_url,
        settings=http,
        headers=headers,
        budget=budget,
        secrets=[settings.api_key or ""],
        hints={
            400: f"check {SOURCE_ENV} and the currency setting",
            401: rejected_key,
            403: f"{rejected_key} (or one whose plan includes this endpoint)",
            404: "check TRACERA_PRICEMPIRE_BASE_URL",
        },
        sleep=sleep,
    )
    return PricempireProvider(settings, client)
