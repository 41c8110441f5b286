"""Resources shared by every domain: PostgreSQL, Redis and the market providers."""

from __future__ import annotations

import functools
import os
from collections.abc import Collection

import dagster as dg
import redis
from pydantic import Field

from tracera_pipeline import config, settings
from tracera_pipeline.defs.failures import require_settings
from tracera_pipeline.defs.postgres_resource import PostgresResource
from tracera_pipeline.defs.pricing import PricingResource
from tracera_pipeline.defs.redis_resource import RedisResource
from tracera_pipeline.providers.base import PriceProvider
from tracera_pipeline.providers.errors import ProviderConfigError
from tracera_pipeline.providers.http_client import HttpSettings
from tracera_pipeline.providers.item_names import catalogue_size
from tracera_pipeline.providers.registry import (
    KNOWN_PROVIDERS,
    ProviderEnvironment,
    RateLimitSettingError,
    rate_limits,
    split_list,
    unknown_provider_message,
    unsupported_currency_message,
)
from tracera_pipeline.providers.synthetic import SYNTHETIC_MARKETS, SyntheticMarket

__all__ = ["MarketDataResource", "PostgresResource", "PricingResource", "RedisResource"]


class MarketDataResource(dg.ConfigurableResource):
    """Settings of every provider adapter; ``provider(name)`` builds one.

    Secrets (API keys, the Steam login cookie) are ``EnvVar``s in ``Definitions``:
    resolved at run time, masked in the UI, and scrubbed from adapter errors.
    """

    synthetic_items: int = Field(default=200, description="items the synthetic market simulates")
    synthetic_interval_seconds: int = Field(default=300, description="seconds between samples")
    synthetic_seed: int = Field(default=7)

    steam_base_url: str = "https://steamcommunity.com"
    steam_watchlist: str = Field(default="", description="market_hash_names, comma/newline list")
    # Superseded by the one pipeline currency (TRACERA_CURRENCY); still read so a
    # conflicting old setting fails loudly instead of being ignored.
    steam_currency: str | None = None
    steam_login_secure: str | None = Field(default=None, description="secret: history cookie")
    skinport_base_url: str = "https://api.skinport.com/v1"
    skinport_currency: str | None = None
    csfloat_base_url: str = "https://csfloat.com/api/v1"
    csfloat_api_key: str | None = Field(default=None, description="secret")
    pricempire_base_url: str = "https://api.pricempire.com"
    pricempire_api_key: str | None = Field(default=None, description="secret")
    pricempire_source: str = Field(default="buff163", description="price source to take")

    rate_limits: str = Field(default="", description="overrides, e.g. steam=10/60,skinport=8/300")
    http_connect_timeout_seconds: float = 5.0
    http_read_timeout_seconds: float = 30.0
    http_total_timeout_seconds: float = 300.0
    http_max_retries: int = 4
    http_max_response_mb: int = 128

    def setting_problems(self) -> list[str]:
        items = settings.IntSetting(
            "TRACERA_SYNTHETIC_ITEMS",
            200,
            minimum=1,
            maximum=catalogue_size(),
            note="the synthetic catalogue's size",
        )
        checks = [
            items.problem(self.synthetic_items),
            settings.SYNTHETIC_INTERVAL.problem(self.synthetic_interval_seconds),
            settings.HTTP_MAX_RESPONSE_MB.problem(self.http_max_response_mb),
        ]
        try:
            rate_limits(self.rate_limits)
        except RateLimitSettingError as exc:
            checks.append(str(exc))
        return [problem for problem in checks if problem]

    def missing_keys(self, providers: list[str]) -> list[str]:
        """Enabled providers whose API key is not set, one sentence each. Runs find
        out in that provider's step alone (the others still land); the CLI asks
        before it starts, so a demo does not stop half-way with a step failure."""
        keys = {"csfloat": "csfloat_api_key", "pricempire": "pricempire_api_key"}
        return [
            f"{name} is enabled but TRACERA_{name.upper()}_API_KEY is not set; set it, or"
            f" remove {name} from TRACERA_PROVIDERS"
            for name in providers
            if name in keys and not getattr(self, keys[name])
        ]

    def http_settings(self) -> HttpSettings:
        return HttpSettings(
            connect_timeout=self.http_connect_timeout_seconds,
            read_timeout=self.http_read_timeout_seconds,
            total_timeout=self.http_total_timeout_seconds,
            max_retries=self.http_max_retries,
            max_response_bytes=self.http_max_response_mb * 1024 * 1024,
        )

    def provider(
        self,
        name: str,
        *,
        currency: str = "USD",
        redis_client: redis.Redis | None = None,
        key_prefix: str = "",
    ) -> PriceProvider:
        """The adapter for ``name``, asked for prices in ``currency`` (the pipeline's);
        HTTP providers share a Redis rate budget when given one."""
        if name not in KNOWN_PROVIDERS:
            raise dg.Failure(description=unknown_provider_message(name), allow_retries=False)
        require_settings(self.setting_problems())
        _check_currency(name, currency, self.steam_currency, self.skinport_currency)
        if name in SYNTHETIC_MARKETS:
            return SyntheticMarket.for_market(
                name,
                items=self.synthetic_items,
                interval_seconds=self.synthetic_interval_seconds,
                seed=self.synthetic_seed,
            )
        env = ProviderEnvironment(
            self.http_settings(), rate_limits(self.rate_limits), redis_client, key_prefix
        )
        kwargs = {"http": env.http, "budget": env.budget(name)}
        # Adapters are imported on demand: a location pays only for what it enables.
        if name == "steam":
            from tracera_pipeline.providers.steam import SteamSettings, build_steam_provider

            return build_steam_provider(
                SteamSettings(
                    base_url=self.steam_base_url,
                    currency=currency,
                    watchlist=split_list(self.steam_watchlist),
                    login_secure=self.steam_login_secure or None,
                ),
                **kwargs,
            )
        if name == "skinport":
            from tracera_pipeline.providers.skinport import (
                SkinportSettings,
                build_skinport_provider,
            )

            return build_skinport_provider(
                SkinportSettings(base_url=self.skinport_base_url, currency=currency),
                **kwargs,
            )
        if name == "csfloat":
            from tracera_pipeline.providers.csfloat import CsfloatSettings, build_csfloat_provider

            return build_csfloat_provider(
                CsfloatSettings(
                    base_url=self.csfloat_base_url, api_key=self.csfloat_api_key or None
                ),
                **kwargs,
            )
        from tracera_pipeline.providers.pricempire import (
            PricempireSettings,
            build_pricempire_provider,
        )

        return build_pricempire_provider(
            PricempireSettings(
                base_url=self.pricempire_base_url,
                api_key=self.pricempire_api_key or None,
                source=self.pricempire_source,
                currency=currency,
            ),
            **kwargs,
        )


def _check_currency(
    provider: str, currency: str, steam_currency: str | None, skinport_currency: str | None
) -> None:
    """Fail the provider's step, naming the setting, if it would quote another currency."""
    superseded = {"steam": steam_currency, "skinport": skinport_currency}.get(provider)
    if superseded and superseded.strip().upper() != currency:
        variable = f"TRACERA_{provider.upper()}_CURRENCY"
        raise ProviderConfigError(
            provider,
            "settings",
            f"{variable}={superseded} conflicts with TRACERA_CURRENCY={currency}: every market"
            f" is asked in the one pipeline currency; remove {variable} or set TRACERA_CURRENCY",
        )
    message = unsupported_currency_message(provider, currency)
    if message:
        raise ProviderConfigError(provider, "settings", message)


# MarketDataResource field → (environment variable, default; None: optional)
_MARKET_SETTINGS: dict[str, tuple[str, str | None]] = {
    "steam_base_url": ("TRACERA_STEAM_BASE_URL", "https://steamcommunity.com"),
    "steam_watchlist": ("TRACERA_STEAM_WATCHLIST", ""),
    "steam_currency": ("TRACERA_STEAM_CURRENCY", None),
    "steam_login_secure": ("TRACERA_STEAM_LOGIN_SECURE", None),
    "skinport_base_url": ("TRACERA_SKINPORT_BASE_URL", "https://api.skinport.com/v1"),
    "skinport_currency": ("TRACERA_SKINPORT_CURRENCY", None),
    "csfloat_base_url": ("TRACERA_CSFLOAT_BASE_URL", "https://csfloat.com/api/v1"),
    "csfloat_api_key": ("TRACERA_CSFLOAT_API_KEY", None),
    "pricempire_base_url": ("TRACERA_PRICEMPIRE_BASE_URL", "https://api.pricempire.com"),
    "pricempire_api_key": ("TRACERA_PRICEMPIRE_API_KEY", None),
    "pricempire_source": ("TRACERA_PRICEMPIRE_SOURCE", "buff163"),
    "rate_limits": ("TRACERA_PROVIDER_RATE_LIMITS", ""),
}


def default_resources(
    *, resolve: bool = False, services: Collection[str] | None = None
) -> dict[str, dg.ConfigurableResource]:
    """Resources configured from the environment (see the README for every variable).

    In ``Definitions`` set variables stay ``EnvVar``s, resolved by Dagster at run
    time; ``resolve=True`` reads them now, for the CLI, which uses resources directly.
    """
    env, env_int = (
        functools.partial(config.env_or_default, resolve=resolve),
        functools.partial(config.env_int_or_default, resolve=resolve),
    )

    def _wants(service: str) -> bool:
        # Only the servers the caller will use may be started as embedded ones.
        return services is None or service in services

    return {
        "postgres": PostgresResource(
            database_url=env(
                "TRACERA_DATABASE_URL", config.DEFAULT_DATABASE_URL, embedded=_wants("postgres")
            ),
            storage_flavor=env("TRACERA_STORAGE_FLAVOR", "auto"),
            pool_max_size=env_int("TRACERA_DB_POOL_MAX_SIZE", 4),
            copy_chunk_rows=env_int("TRACERA_COPY_CHUNK_ROWS", 100_000),
            raw_retention_days=env_int("TRACERA_RAW_RETENTION_DAYS", 90),
            connect_timeout_seconds=env_int("TRACERA_DB_CONNECT_TIMEOUT_SECONDS", 10),
            keepalives_idle_seconds=env_int("TRACERA_DB_KEEPALIVES_IDLE_SECONDS", 30),
            statement_timeout_seconds=env_int("TRACERA_DB_STATEMENT_TIMEOUT_SECONDS", 600),
            idle_in_transaction_timeout_seconds=env_int(
                "TRACERA_DB_IDLE_IN_TRANSACTION_TIMEOUT_SECONDS", 300
            ),
            volatility_retention_days=env_int("TRACERA_VOLATILITY_RETENTION_DAYS", 30),
        ),
        "redis": RedisResource(
            redis_url=env("TRACERA_REDIS_URL", config.DEFAULT_REDIS_URL, embedded=_wants("redis")),
            key_prefix=env("TRACERA_REDIS_PREFIX", ""),
            latest_price_ttl_seconds=env_int("TRACERA_LATEST_PRICE_TTL_SECONDS", 7200),
        ),
        "market": MarketDataResource(
            synthetic_items=env_int("TRACERA_SYNTHETIC_ITEMS", 200),
            synthetic_interval_seconds=env_int("TRACERA_SYNTHETIC_INTERVAL_SECONDS", 300),
            synthetic_seed=env_int("TRACERA_SYNTHETIC_SEED", 7),
            http_max_response_mb=env_int("TRACERA_HTTP_MAX_RESPONSE_MB", 128),
            **{
                field: env(variable, default)
                for field, (variable, default) in _MARKET_SETTINGS.items()
                if default is not None or os.environ.get(variable)
            },
        ),
        "pricing": PricingResource(
            currency=env("TRACERA_CURRENCY", "USD"),
            reference_rule=env("TRACERA_REFERENCE_RULE", "priority"),
            reference_markets=env("TRACERA_REFERENCE_MARKETS", ""),
            reference_max_age_seconds=env_int("TRACERA_REFERENCE_MAX_AGE_SECONDS", 7200),
            market_fees=env("TRACERA_MARKET_FEES", ""),
        ),
    }


def checked_resources(
    services: Collection[str] | None = None,
) -> dict[str, dg.ConfigurableResource]:
    """The resources from the environment, read now, after checking every setting:
    one ``SettingError`` names each unusable one (for the CLI and for loading
    ``Definitions``, whose resources Dagster only resolves at run time)."""
    resources = default_resources(resolve=True, services=services)
    settings.raise_problems(
        problem for resource in resources.values() for problem in resource.setting_problems()
    )
    return resources
