"""The HTTP layer every provider adapter shares (httpx).

* timeouts: connect/read per request, and a total budget for a call with retries;
* retries with exponential backoff and full jitter for transient failures
  (connection errors, timeouts, truncated bodies, 5xx), none for other 4xx;
* 429: waits ``Retry-After`` (seconds or HTTP date) or ``X-Ratelimit-Reset``
  (epoch seconds), else backs off; the wait is shared through the rate budget;
* a cap on response size, checked while streaming;
* JSON only, with errors that name the provider and endpoint and never carry
  secrets (they travel in headers; messages show the path, not the query).
"""

from __future__ import annotations

import json
import logging
import random
import time
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from typing import Any

import httpx

from tracera_pipeline.providers.errors import (
    ProviderError,
    ProviderHTTPError,
    ProviderRateLimited,
    ProviderResponseError,
)
from tracera_pipeline.providers.rate_budget import BudgetExhausted, RateBudget

log = logging.getLogger(__name__)

_TRANSIENT = (httpx.TransportError,)  # connect/read errors, timeouts, truncated bodies
BROWSER_USER_AGENT = (
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko)"
    " Chrome/130.0 Safari/537.36"
)


@dataclass(frozen=True)
class HttpSettings:
    connect_timeout: float = 5.0
    read_timeout: float = 30.0
    total_timeout: float = 120.0  # one call, retries and waits included
    max_retries: int = 4
    backoff_base: float = 1.0
    backoff_max: float = 60.0
    max_response_bytes: int = 64 * 1024 * 1024
    user_agent: str = BROWSER_USER_AGENT


@dataclass(frozen=True)
class RawResponse:
    status: int
    body: bytes
    headers: httpx.Headers
    seconds: float  # the whole call, retries and waits included


@dataclass(frozen=True)
class JsonResponse:
    status: int
    data: Any
    headers: httpx.Headers
    seconds: float


def _retry_after(headers: httpx.Headers, now: float) -> float | None:
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


class ProviderHttpClient:
    """One provider's HTTP client: base URL, default headers (secrets included), budget."""

    def __init__(
        self,
        provider: str,
        base_url: str,
        *,
        settings: HttpSettings | None = None,
        headers: Mapping[str, str] | None = None,
        budget: RateBudget | None = None,
        secrets: Iterable[str] = (),
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.provider = provider
        self._secrets = [secret for secret in secrets if secret]
        self.settings = settings or HttpSettings()
        self.budget = budget
        self.sleep = sleep
        self._client = httpx.Client(
            base_url=base_url.rstrip("/") + "/",
            headers={
                "User-Agent": self.settings.user_agent,
                "Accept": "application/json",
                **(headers or {}),
            },
            timeout=httpx.Timeout(
                self.settings.read_timeout, connect=self.settings.connect_timeout
            ),
            follow_redirects=True,
        )

    def close(self) -> None:
        self._client.close()

    def __enter__(self) -> ProviderHttpClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _backoff(self, attempt: int) -> float:
        cap = min(self.settings.backoff_max, self.settings.backoff_base * 2**attempt)
        return random.uniform(cap / 2, cap)  # jittered, never zero

    def _read(self, endpoint: str, response: httpx.Response) -> bytes:
        cap = self.settings.max_response_bytes
        declared = response.headers.get("content-length")
        if declared and declared.isdigit() and int(declared) > cap:
            raise ProviderResponseError(
                self.provider,
                endpoint,
                f"response of {int(declared)} bytes exceeds the {cap}-byte cap",
            )
        chunks, size = [], 0
        for chunk in response.iter_bytes():
            size += len(chunk)
            if size > cap:
                raise ProviderResponseError(
                    self.provider, endpoint, f"response exceeds the {cap}-byte cap"
                )
            chunks.append(chunk)
        return b"".join(chunks)

    def scrub(self, text: str) -> str:
        """``text`` with every configured secret masked."""
        for secret in self._secrets:
            text = text.replace(secret, "***")
        return text

    def get_json(
        self, path: str, params: Mapping[str, Any] | None = None, *, ok_statuses: Iterable[int] = ()
    ) -> JsonResponse:
        """GET and decode JSON (see ``get``)."""
        raw = self.get(path, params, ok_statuses=ok_statuses)
        endpoint = "/" + path.lstrip("/")
        return JsonResponse(raw.status, self.decode_json(endpoint, raw), raw.headers, raw.seconds)

    def require_json(self, endpoint: str, raw: RawResponse) -> None:
        """Refuse a non-JSON answer (e.g. an HTML error or login page from a proxy)."""
        content_type = raw.headers.get("content-type", "")
        if "json" not in content_type.lower():
            raise ProviderResponseError(
                self.provider,
                endpoint,
                f"expected JSON, got content-type {content_type or 'none'!r}"
                f" ({len(raw.body)} bytes starting {self.scrub(repr(raw.body[:60]))})",
            )

    def decode_json(self, endpoint: str, raw: RawResponse) -> Any:
        self.require_json(endpoint, raw)
        try:
            return json.loads(raw.body)
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise ProviderResponseError(self.provider, endpoint, f"malformed JSON: {exc}") from None

    def get(
        self, path: str, params: Mapping[str, Any] | None = None, *, ok_statuses: Iterable[int] = ()
    ) -> RawResponse:
        """GET ``path``, retrying what is worth retrying; the body is read under the cap.

        ``ok_statuses``: error statuses whose body the adapter interprets itself.
        """
        endpoint = "/" + path.lstrip("/")
        accepted = set(ok_statuses)
        started = time.monotonic()
        deadline = started + self.settings.total_timeout
        attempt = 0
        while True:
            if self.budget is not None:
                try:
                    self.budget.acquire(deadline)
                except BudgetExhausted as exc:
                    raise ProviderRateLimited(self.provider, endpoint, 429, str(exc)) from None
            wait: float | None = None
            status: int | None = None
            try:
                with self._client.stream("GET", path.lstrip("/"), params=params) as response:
                    body = self._read(endpoint, response)
                    status = response.status_code
                    if status < 400 or status in accepted:
                        return RawResponse(
                            status, body, response.headers, time.monotonic() - started
                        )
                    failure = f"HTTP {status}"
                    if status == 429:
                        wait = _retry_after(response.headers, time.time())
                        if wait is not None and self.budget is not None:
                            self.budget.block_until(time.time() + wait)
                    elif status < 500:
                        raise ProviderHTTPError(
                            self.provider, endpoint, status, self.scrub(_excerpt(body))
                        )
            except _TRANSIENT as exc:
                failure = self.scrub(f"{type(exc).__name__}: {exc}")
            attempt += 1
            wait = wait if wait is not None else self._backoff(attempt - 1)
            if attempt > self.settings.max_retries or time.monotonic() + wait > deadline:
                if status == 429:
                    raise ProviderRateLimited(
                        self.provider,
                        endpoint,
                        429,
                        f"still rate limited after {attempt} attempt(s)",
                    )
                raise ProviderError(
                    self.provider, endpoint, f"gave up after {attempt} attempt(s): {failure}"
                )
            log.warning(
                "%s %s: %s; retry %d/%d in %.1fs",
                self.provider,
                endpoint,
                failure,
                attempt,
                self.settings.max_retries,
                wait,
            )
            self.sleep(wait)

    def get_many(
        self,
        requests: list[tuple[str, Mapping[str, Any]]],
        *,
        max_workers: int,
        ok_statuses: Iterable[int] = (),
    ) -> list[JsonResponse | ProviderError]:
        """Fetch many requests concurrently (bounded); failures come back as errors in place."""

        def one(request: tuple[str, Mapping[str, Any]]) -> JsonResponse | ProviderError:
            try:
                return self.get_json(request[0], request[1], ok_statuses=ok_statuses)
            except ProviderError as exc:
                return exc

        with ThreadPoolExecutor(max_workers=max(1, max_workers)) as pool:
            return list(pool.map(one, requests))


def _excerpt(body: bytes, limit: int = 200) -> str:
    text = body[:limit].decode("utf-8", "replace").strip()
    return text or "(empty body)"
