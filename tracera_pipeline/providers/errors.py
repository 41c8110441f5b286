"""Errors raised by provider adapters. Messages name the provider and endpoint
(path only, never the query string or headers), so they are safe to log.

``permanent`` says whether trying again can help: a wrong key, a setting the API
refuses or a body cut off at the same byte every time fail the step at once
(no step retries), while timeouts, 5xx and rate limits are worth retrying.
"""

from __future__ import annotations


class ProviderError(RuntimeError):
    permanent = False

    def __init__(self, provider: str, endpoint: str, message: str):
        super().__init__(f"{provider} {endpoint}: {message}")
        self.provider = provider
        self.endpoint = endpoint


class ProviderHTTPError(ProviderError):
    """The API answered with an error status (after retries, where they apply)."""

    def __init__(self, provider: str, endpoint: str, status: int, message: str):
        super().__init__(provider, endpoint, f"HTTP {status}: {message}")
        self.status = status
        # 4xx is the request's fault (key, parameters): the same request fails
        # again. 408 and 429 are about timing, 5xx about the server.
        self.permanent = 400 <= status < 500 and status not in (408, 429)


class ProviderRateLimited(ProviderHTTPError):
    """Still rate limited when the retries or the time budget ran out."""


class ProviderResponseError(ProviderError):
    """The answer is not what the adapter expects (shape, type, size, encoding)."""

    def __init__(self, provider: str, endpoint: str, message: str, *, permanent: bool = False):
        super().__init__(provider, endpoint, message)
        self.permanent = permanent


class ProviderConfigError(ProviderError):
    """The provider is enabled but misconfigured (e.g. its secret is not set)."""

    permanent = True
