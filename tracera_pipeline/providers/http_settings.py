"""Settings and answer types of the shared provider HTTP client."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx

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
    max_response_bytes: int = 128 * 1024 * 1024
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
