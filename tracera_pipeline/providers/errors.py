"""Errors raised by provider adapters. Messages name the provider and endpoint
(path only, never the query string or headers), so they are safe to log."""

from __future__ import annotations


class ProviderError(RuntimeError):
    def __init__(self, provider: str, endpoint: str, message: str):
        super().__init__(f"{provider} {endpoint}: {message}")
        self.provider = provider
        self.endpoint = endpoint


class ProviderHTTPError(ProviderError):
    """The API answered with an error status (after retries, where they apply)."""

    def __init__(self, provider: str, endpoint: str, status: int, message: str):
        super().__init__(provider, endpoint, f"HTTP {status}: {message}")
        self.status = status


class ProviderRateLimited(ProviderHTTPError):
    """Still rate limited when the retries or the time budget ran out."""


class ProviderResponseError(ProviderError):
    """The answer is not what the adapter expects (shape, type, size, encoding)."""


class ProviderConfigError(ProviderError):
    """The provider is enabled but misconfigured (e.g. its secret is not set)."""
