"""What adapters share besides their own settings: HTTP settings, rate budgets, parsing
of list and rate-limit settings."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import redis

from tracera_pipeline.providers.errors import ProviderConfigError
from tracera_pipeline.providers.http_client import HttpSettings
from tracera_pipeline.providers.rate_budget import RateBudget

KNOWN_PROVIDERS = (
    "synthetic",
    "synthetic_steam",
    "synthetic_buff",
    "steam",
    "skinport",
    "csfloat",
    "pricempire",
)

# Markets whose adapter can return a whole closed hour after it closed (Steam:
# with its login cookie). Only these are asked again once an hour has closed;
# live-only markets have nothing more to give for it.
HISTORY_PROVIDERS = frozenset({"synthetic", "synthetic_steam", "synthetic_buff", "steam"})

# Currencies each market can quote in (None: any). Every market is asked in the
# one pipeline currency (TRACERA_CURRENCY); one that cannot quote in it fails
# its own step, so no number ever mixes two currencies.
QUOTE_CURRENCIES: dict[str, frozenset[str] | None] = {
    "synthetic": None,  # simulated: any unit
    "synthetic_steam": None,
    "synthetic_buff": None,
    "steam": None,  # 47 wallet currencies; the adapter maps and checks them
    "skinport": frozenset(
        [
            "AUD",
            "BRL",
            "CAD",
            "CHF",
            "CNY",
            "CZK",
            "DKK",
            "EUR",
            "GBP",
            "HRK",
            "NOK",
            "PLN",
            "RUB",
            "SEK",
            "TRY",
            "USD",
        ]
    ),
    "csfloat": frozenset({"USD"}),  # listings are priced in US cents only
    "pricempire": None,  # converts server-side; an unknown code is refused by the API
}

# Seller fee of each market as a fraction of the sale price (what a seller does
# not receive), for spreads net of fees; override with TRACERA_MARKET_FEES.
DEFAULT_SELLER_FEES: dict[str, float] = {
    "synthetic": 0.05,
    "synthetic_steam": 0.1304,
    "synthetic_buff": 0.025,
    # Steam: buyer pays 1.15x what the seller receives (5% Steam + 10% CS2 fee).
    "steam": 0.1304,
    "skinport": 0.08,  # standard seller fee
    "csfloat": 0.02,  # sale fee
    "pricempire": 0.025,  # the default source is Buff163: 2.5% seller fee
}
RATE_LIMITS_ENV = "TRACERA_PROVIDER_RATE_LIMITS"


class RateLimitSettingError(ProviderConfigError, ValueError):
    """A budget override that cannot be read (permanent; also a ValueError for
    callers validating settings at load)."""

    def __init__(self, message: str) -> None:
        super().__init__(
            "providers", "settings", f"{message}: set {RATE_LIMITS_ENV} like 'steam=20/60'"
        )


# Requests per window each provider tolerates (see the README); overridable.
DEFAULT_RATE_LIMITS = {
    "steam": "20/60",  # ~20 a minute per IP; 429s then last minutes to hours
    "skinport": "8/300",  # documented: 8 requests per 5 minutes
    "csfloat": "10/60",  # undocumented; headers steer the rest
    "pricempire": "6/3600",  # monthly quotas: a few catalogue calls an hour
}


@dataclass(frozen=True)
class RateLimit:
    requests: int
    seconds: float

    @classmethod
    def parse(cls, text: str) -> RateLimit:
        """``"20/60"``: 20 requests per 60 seconds."""
        try:
            requests, seconds = text.split("/")
            limit = cls(int(requests), float(seconds))
        except ValueError:
            raise RateLimitSettingError(
                f"rate limit {text!r} is not of the form REQUESTS/SECONDS"
            ) from None
        if limit.requests < 1 or not 0 < limit.seconds < float("inf"):
            raise RateLimitSettingError(
                f"rate limit {text!r} must allow at least 1 request per period"
            )
        return limit


def rate_limits(overrides: str) -> dict[str, RateLimit]:
    """Defaults, with ``"steam=10/60,skinport=8/300"`` style overrides applied."""
    merged = dict(DEFAULT_RATE_LIMITS)
    for entry in filter(None, (part.strip() for part in overrides.split(","))):
        name, _, limit = entry.partition("=")
        if name.strip() not in merged:
            raise RateLimitSettingError(f"rate limit for unknown provider {name.strip()!r}")
        merged[name.strip()] = limit.strip()
    return {name: RateLimit.parse(limit) for name, limit in merged.items()}


def unsupported_currency_message(provider: str, currency: str) -> str | None:
    """One sentence naming the fix when ``provider`` cannot quote in ``currency``."""
    supported = QUOTE_CURRENCIES.get(provider)
    if supported is None or currency in supported:
        return None
    return (
        f"cannot quote prices in {currency}"
        f" (it supports {', '.join(sorted(supported))});"
        f" set TRACERA_CURRENCY to one of those or remove {provider} from TRACERA_PROVIDERS"
    )


def seller_fees(overrides: str) -> dict[str, float]:
    """Defaults, with ``"steam=0.13,skinport=0.08"`` style overrides applied."""
    fees = dict(DEFAULT_SELLER_FEES)
    for entry in filter(None, (part.strip() for part in overrides.split(","))):
        name, _, value = (piece.strip() for piece in entry.partition("="))
        if name not in fees:
            raise ValueError(
                f"TRACERA_MARKET_FEES names unknown market {name!r};"
                f" use one of {', '.join(KNOWN_PROVIDERS)}"
            )
        try:
            fee = float(value)
        except ValueError:
            fee = -1.0
        if not 0 <= fee < 1:
            raise ValueError(
                f"TRACERA_MARKET_FEES: fee {value!r} for {name} must be a fraction in [0, 1),"
                " e.g. steam=0.1304"
            )
        fees[name] = fee
    return fees


def split_list(text: str) -> tuple[str, ...]:
    """One entry per line when ``text`` has a line break, else comma-separated.

    Names can contain commas (every music kit: ``Music Kit | Artist, Title``), so a
    list with line breaks is split on them alone; a one-line list keeps the
    comma form. Blank entries and repeats are dropped, order is kept.
    """
    parts = text.splitlines() if "\n" in text or "\r" in text else text.split(",")
    return tuple(dict.fromkeys(part.strip() for part in parts if part.strip()))


@dataclass(frozen=True)
class ProviderEnvironment:
    """Everything adapters need besides their own settings."""

    http: HttpSettings
    limits: Mapping[str, RateLimit]
    redis_client: redis.Redis | None = None
    key_prefix: str = ""

    def budget(self, provider: str) -> RateBudget | None:
        if self.redis_client is None:
            return None
        limit = self.limits[provider]
        return RateBudget(
            self.redis_client, provider, limit.requests, limit.seconds, prefix=self.key_prefix
        )


def unknown_provider_message(name: str) -> str:
    return f"provider {name!r} has no adapter; known providers: {', '.join(KNOWN_PROVIDERS)}"
