"""Retry bookkeeping for the shared HTTP client: waits, the time budget, and
telling a one-off truncated body from one that is cut at the same byte every time."""

from __future__ import annotations

import logging
import random
import time
from dataclasses import dataclass
from email.utils import parsedate_to_datetime

import httpx

from tracera_pipeline.providers.errors import (
    ProviderError,
    ProviderRateLimited,
    ProviderResponseError,
)
from tracera_pipeline.providers.http_settings import HttpSettings

log = logging.getLogger("tracera_pipeline.providers.http_client")


def retry_after(headers: httpx.Headers, now: float) -> float | None:
    """Seconds to wait from ``Retry-After`` or ``X-Ratelimit-Reset``, if present."""
    value = headers.get("retry-after")
    if value:
        try:
            return max(0.0, float(value))
        except ValueError:
            try:
                return max(0.0, parsedate_to_datetime(value).timestamp() - now)
            except (TypeError, ValueError):
                pass
    reset = headers.get("x-ratelimit-reset")
    if reset and headers.get("x-ratelimit-remaining", "0").strip() in ("0", ""):
        try:
            return max(0.0, float(reset) - now)
        except ValueError:
            return None
    return None


def backoff(settings: HttpSettings, retry: int) -> float:
    """Wait before retry ``retry`` (1-based): between half and all of
    ``backoff_base × 2^(retry-1)``, capped at ``backoff_max``; never zero."""
    cap = min(settings.backoff_max, settings.backoff_base * 2 ** (retry - 1))
    return random.uniform(cap / 2, cap)


@dataclass
class Truncation:
    """How much of one attempt's body arrived, against what the headers declared."""

    received: int = 0
    declared: str | None = None

    def start(self, declared: str | None) -> None:
        self.received, self.declared = 0, declared

    def signature(self) -> tuple[int, str | None] | None:
        return (self.received, self.declared) if self.received else None


class Attempts:
    """One call's attempts: counts them, computes waits, decides when to give up."""

    def __init__(self, provider: str, endpoint: str, settings: HttpSettings) -> None:
        self.provider, self.endpoint, self.settings = provider, endpoint, settings
        self.started = time.monotonic()
        self.deadline = self.started + settings.total_timeout
        self.count = 0
        self.failure = ""
        self.status: int | None = None
        self._last_cut: tuple[int, str | None] | None = None

    def elapsed(self) -> float:
        return time.monotonic() - self.started

    def failed(
        self, failure: str, *, status: int | None = None, truncation: Truncation | None = None
    ) -> None:
        """Record a transient failure; a body cut at the same byte twice is permanent."""
        self.count += 1
        self.failure, self.status = failure, status
        # Any transport failure after part of the body arrived (connection closed
        # early, or stalled until the read timeout) at the very same byte as the
        # previous attempt is no accident.
        cut = truncation.signature() if truncation else None
        if cut is not None and cut == self._last_cut:
            raise ProviderResponseError(
                self.provider,
                self.endpoint,
                f"the body was cut off after {cut[0]} bytes (of {cut[1] or 'unknown'}) on two"
                " attempts in a row, so something between Tracera and the API truncates it"
                " at that size; lift that proxy or firewall limit",
                permanent=True,
            )
        self._last_cut = cut

    def next_wait(self, wait: float | None) -> float:
        """The wait before the next attempt, or raise when retries or time ran out."""
        wait = wait if wait is not None else backoff(self.settings, self.count)
        if self.count > self.settings.max_retries or time.monotonic() + wait > self.deadline:
            if self.status == 429:
                raise ProviderRateLimited(
                    self.provider,
                    self.endpoint,
                    429,
                    f"still rate limited after {self.count} attempt(s)",
                )
            raise ProviderError(
                self.provider,
                self.endpoint,
                f"gave up after {self.count} attempt(s): {self.failure}",
            )
        log.warning(
            "%s %s: %s; retry %d/%d in %.1fs",
            self.provider,
            self.endpoint,
            self.failure,
            self.count,
            self.settings.max_retries,
            wait,
        )
        return wait
