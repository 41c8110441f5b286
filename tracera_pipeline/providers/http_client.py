"""The HTTP layer every provider adapter shares (httpx).

* timeouts: connect/read per request, and a total budget for a call with retries;
* retries with exponential backoff and jitter for transient failures (connection
  errors, timeouts, truncated bodies, 5xx): retry *n* waits between half and all
  of ``backoff_base × 2^(n-1)`` seconds, at most ``backoff_max``;
* no retry for other 4xx: they are permanent (``ProviderError.permanent``), and an
  adapter's ``hints`` add the sentence naming the setting to fix (401 → the key);
* a body cut off at the same byte on two attempts in a row is permanent too;
* 429: waits ``Retry-After`` (seconds or HTTP date) or ``X-Ratelimit-Reset``
  (epoch seconds), else backs off; the wait is shared through the rate budget;
* every attempt takes a slot of the provider's rate budget, retries included;
* a cap on response size, checked while streaming; ``stream`` hands the body to a
  consumer chunk by chunk, so a large answer is decoded without being held whole;
* errors name the provider and endpoint and never carry secrets (they travel in
  headers; messages show the path, not the query).
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

import httpx

from tracera_pipeline.providers.errors import (
    ProviderError,
    ProviderHTTPError,
    ProviderRateLimited,
    ProviderResponseError,
)
from tracera_pipeline.providers.http_retry import Attempts, Truncation, retry_after
from tracera_pipeline.providers.http_settings import (
    BROWSER_USER_AGENT,
    HttpSettings,
    JsonResponse,
    RawResponse,
)
from tracera_pipeline.providers.rate_budget import BudgetExhausted, RateBudget

__all__ = [
    "BROWSER_USER_AGENT",
    "HttpSettings",
    "JsonResponse",
    "ProviderHttpClient",
    "RawResponse",
]

log = logging.getLogger(__name__)

T = TypeVar("T")
MAX_RESPONSE_ENV = "TRACERA_HTTP_MAX_RESPONSE_MB"
_TRANSIENT = (httpx.TransportError,)  # connect/read errors, timeouts, truncated bodies


class ProviderHttpClient:
    """One provider's HTTP client: base URL, default headers (secrets included), budget.

    ``hints``: per error status, the sentence telling the user what to fix (e.g.
    ``{401: "set the provider's API key variable to a valid key"}``); appended to the error.
    """

    def __init__(
        self,
        provider: str,
        base_url: str,
        *,
        settings: HttpSettings | None = None,
        headers: Mapping[str, str] | None = None,
        budget: RateBudget | None = None,
        secrets: Iterable[str] = (),
        hints: Mapping[int, str] | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.provider = provider
        self._secrets = [secret for secret in secrets if secret]
        self.settings = settings or HttpSettings()
        self.budget = budget
        self.hints = dict(hints or {})
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

    def scrub(self, text: str) -> str:
        """``text`` with every configured secret masked."""
        for secret in self._secrets:
            text = text.replace(secret, "***")
        return text

    # -- reading bodies -----------------------------------------------------------

    def _chunks(
        self, endpoint: str, response: httpx.Response, truncation: Truncation
    ) -> Iterator[bytes]:
        """The body in chunks, counted against the cap (and for truncation checks)."""
        cap = self.settings.max_response_bytes
        declared = response.headers.get("content-length")
        truncation.start(declared)
        if declared and declared.isdigit() and int(declared) > cap:
            raise self._over_cap(endpoint, f"{int(declared)} bytes")
        for chunk in response.iter_bytes():
            truncation.received += len(chunk)
            if truncation.received > cap:
                raise self._over_cap(endpoint, f"more than {cap} bytes")
            yield chunk

    def _over_cap(self, endpoint: str, size: str) -> ProviderResponseError:
        return ProviderResponseError(
            self.provider,
            endpoint,
            f"the response ({size}) exceeds the {self.settings.max_response_bytes}-byte cap;"
            f" raise {MAX_RESPONSE_ENV} (megabytes) if the answer is legitimately this large",
            permanent=True,
        )

    def require_json(self, endpoint: str, content_type: str, start: bytes, size: int) -> None:
        """Refuse a non-JSON answer (e.g. an HTML error or login page from a proxy)."""
        if "json" not in content_type.lower():
            raise ProviderResponseError(
                self.provider,
                endpoint,
                f"expected JSON, got content-type {content_type or 'none'!r}"
                f" ({size} bytes starting {self.scrub(repr(start[:60]))})",
            )

    def decode_json(self, endpoint: str, raw: RawResponse) -> Any:
        self.require_json(endpoint, raw.headers.get("content-type", ""), raw.body, len(raw.body))
        try:
            return json.loads(raw.body)
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise ProviderResponseError(self.provider, endpoint, f"malformed JSON: {exc}") from None

    # -- requests -----------------------------------------------------------------

    def get_json(
        self,
        path: str,
        params: Mapping[str, Any] | None = None,
        *,
        ok_statuses: Iterable[int] = (),
        answer: Callable[[int, bytes], bool] | None = None,
    ) -> JsonResponse:
        """GET and decode JSON (see ``get``)."""
        raw = self.get(path, params, ok_statuses=ok_statuses, answer=answer)
        endpoint = "/" + path.lstrip("/")
        return JsonResponse(raw.status, self.decode_json(endpoint, raw), raw.headers, raw.seconds)

    def get(
        self,
        path: str,
        params: Mapping[str, Any] | None = None,
        *,
        ok_statuses: Iterable[int] = (),
        answer: Callable[[int, bytes], bool] | None = None,
    ) -> RawResponse:
        """GET ``path``, retrying what is worth retrying; the body is read under the cap.

        ``ok_statuses``: error statuses whose body the adapter interprets itself;
        ``answer(status, body)``: True for an error response that is the API's
        answer rather than a failure (Steam's 500 ``{"success":false}``).
        """
        accepted = set(ok_statuses)

        def read(response: httpx.Response, chunks: Iterator[bytes]) -> tuple[bool, Any]:
            body = b"".join(chunks)
            status = response.status_code
            done = status < 400 or status in accepted or bool(answer and answer(status, body))
            return done, body

        def build(response: httpx.Response, body: bytes, seconds: float) -> RawResponse:
            return RawResponse(response.status_code, body, response.headers, seconds)

        return self._call(path, params, read, build)

    def stream(
        self,
        path: str,
        params: Mapping[str, Any] | None,
        consume: Callable[[Iterator[bytes]], T],
    ) -> T:
        """GET a JSON body and hand it to ``consume`` chunk by chunk as it arrives.

        A transport failure mid-body (timeout, truncation) retries the whole
        request, so ``consume`` must start from scratch each time it is called.
        """
        endpoint = "/" + path.lstrip("/")

        def read(response: httpx.Response, chunks: Iterator[bytes]) -> tuple[bool, Any]:
            if response.status_code >= 400:
                return False, b"".join(chunks)  # read under the cap, for the message
            self.require_json(endpoint, response.headers.get("content-type", ""), b"", 0)
            return True, consume(chunks)

        return self._call(path, params, read, lambda _response, value, _seconds: value)

    def _call(
        self,
        path: str,
        params: Mapping[str, Any] | None,
        read: Callable[[httpx.Response, Iterator[bytes]], tuple[bool, Any]],
        build: Callable[[httpx.Response, Any, float], T],
    ) -> T:
        """The retry loop. ``read`` gives (True, value) when done, or (False, the
        error body) for an error status, which is then retried or raised."""
        endpoint = "/" + path.lstrip("/")
        attempts = Attempts(self.provider, endpoint, self.settings)
        while True:
            token = self._take_slot(endpoint, attempts.deadline)
            truncation = Truncation()
            wait: float | None = None
            try:
                with self._client.stream("GET", path.lstrip("/"), params=params) as response:
                    done, value = read(response, self._chunks(endpoint, response, truncation))
                    if done:
                        return build(response, value, attempts.elapsed())
                    wait = self._failed_status(endpoint, response, value, attempts)
            except _TRANSIENT as exc:
                attempts.failed(self.scrub(f"{type(exc).__name__}: {exc}"), truncation=truncation)
            finally:
                if token is not None and self.budget is not None:
                    self.budget.finish(token)
            self.sleep(attempts.next_wait(wait))

    def _take_slot(self, endpoint: str, deadline: float) -> str | None:
        if self.budget is None:
            return None
        try:
            return self.budget.acquire(deadline)
        except BudgetExhausted as exc:
            raise ProviderRateLimited(self.provider, endpoint, 429, str(exc)) from None

    def _failed_status(
        self, endpoint: str, response: httpx.Response, body: bytes, attempts: Attempts
    ) -> float | None:
        """Raise for a permanent status; note a transient one and return its wait, if any."""
        status = response.status_code
        if status == 429:
            wait = retry_after(response.headers, time.time())
            if wait is not None and self.budget is not None:
                self.budget.block_until(time.time() + wait)
            attempts.failed("HTTP 429", status=429)
            return wait
        excerpt = self.scrub(_excerpt(body))
        if status < 500 and status != 408:
            hint = self.hints.get(status)
            raise ProviderHTTPError(
                self.provider, endpoint, status, f"{excerpt}; {hint}" if hint else excerpt
            )
        attempts.failed(f"HTTP {status}: {excerpt[:80]}", status=status)
        return None

    def get_many(
        self,
        requests: list[tuple[str, Mapping[str, Any]]],
        *,
        max_workers: int,
        ok_statuses: Iterable[int] = (),
        answer: Callable[[int, bytes], bool] | None = None,
    ) -> list[JsonResponse | ProviderError]:
        """Fetch many requests concurrently (bounded); failures come back as errors in place."""

        def one(request: tuple[str, Mapping[str, Any]]) -> JsonResponse | ProviderError:
            try:
                return self.get_json(request[0], request[1], ok_statuses=ok_statuses, answer=answer)
            except ProviderError as exc:
                return exc

        with ThreadPoolExecutor(max_workers=max(1, max_workers)) as pool:
            return list(pool.map(one, requests))


def _excerpt(body: bytes, limit: int = 200) -> str:
    text = body[:limit].decode("utf-8", "replace").strip()
    return text or "(empty body)"
