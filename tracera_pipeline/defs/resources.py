"""Resources shared by every domain: PostgreSQL, Redis and the market providers."""

from __future__ import annotations

import functools
import os
from collections.abc import Iterator
from contextlib import contextmanager

import dagster as dg
import psycopg
import redis
from psycopg_pool import ConnectionPool
from pydantic import Field, PrivateAttr

from tracera_pipeline import config
from tracera_pipeline.cache.redis_cache import PriceCache
from tracera_pipeline.defs.pricing import PricingResource
from tracera_pipeline.providers.base import PriceProvider
from tracera_pipeline.providers.errors import ProviderConfigError
from tracera_pipeline.providers.http_client import HttpSettings
from tracera_pipeline.providers.registry import (
    KNOWN_PROVIDERS,
    ProviderEnvironment,
    rate_limits,
    split_list,
    unknown_provider_message,
    unsupported_currency_message,
)
from tracera_pipeline.providers.synthetic import SYNTHETIC_MARKETS, SyntheticMarket
from tracera_pipeline.storage.database import ensure_database, redact
from tracera_pipeline.storage.flavor import Flavor, FlavorRequest
from tracera_pipeline.storage.migrations import current_flavor, migrate


class PostgresResource(dg.ConfigurableResource):
    """PostgreSQL/TimescaleDB: a small connection pool per process, opened lazily.

    On first use it creates the database when missing and applies pending
    migrations (cheap when there are none), so a fresh machine just works.
    """

    database_url: str = Field(default=config.DEFAULT_DATABASE_URL, description="libpq URL")
    storage_flavor: str = Field(default="auto", description="auto, timescaledb or native")
    pool_max_size: int = Field(default=4, description="connections per process")
    copy_chunk_rows: int = Field(default=100_000, description="rows per COPY chunk")
    raw_retention_days: int = Field(default=90, description="days of raw prices kept")
    volatility_retention_days: int = Field(
        default=30, description="days of per-hour item_volatility rows kept"
    )
    auto_migrate: bool = Field(default=True, description="apply migrations on first use")

    _pool: ConnectionPool | None = PrivateAttr(default=None)
    _flavor: Flavor | None = PrivateAttr(default=None)

    def _open(self) -> ConnectionPool:
        if self._pool is None:
            ensure_database(self.database_url)
            with psycopg.connect(self.database_url, autocommit=True) as conn:
                if self.auto_migrate:
                    report = migrate(conn, config.sql_dir(), FlavorRequest(self.storage_flavor))
                    self._flavor = report.flavor
                else:
                    self._flavor = current_flavor(conn)
            # autocommit: every transaction in this code base is explicit.
            pool = ConnectionPool(
                self.database_url,
                min_size=1,
                max_size=self.pool_max_size,
                kwargs={"autocommit": True},
                open=False,
                name="tracera",
            )
            pool.open(wait=True, timeout=30)
            self._pool = pool
        return self._pool

    @contextmanager
    def connection(self) -> Iterator[psycopg.Connection]:
        with self._open().connection() as conn:
            yield conn

    @property
    def flavor(self) -> Flavor:
        self._open()
        assert self._flavor is not None
        return self._flavor

    @property
    def display_url(self) -> str:
        return redact(self.database_url)

    def teardown_after_execution(self, context: dg.InitResourceContext) -> None:
        if self._pool is not None:
            self._pool.close()
            self._pool = None


class RedisResource(dg.ConfigurableResource):
    """One pooled Redis client per process; every key is prefixed with ``key_prefix``."""

    redis_url: str = Field(default=config.DEFAULT_REDIS_URL)
    key_prefix: str = Field(default="", description="prepended to every key and channel")
    latest_price_ttl_seconds: int = Field(default=7200)

    _client: redis.Redis | None = PrivateAttr(default=None)

    def client(self) -> redis.Redis:
        if self._client is None:
            self._client = redis.Redis.from_url(
                self.redis_url,
                socket_timeout=10,
                socket_connect_timeout=5,
                health_check_interval=30,
            )
        return self._client

    def cache(self) -> PriceCache:
        return PriceCache(self.client(), self.key_prefix, self.latest_price_ttl_seconds)

    def teardown_after_execution(self, context: dg.InitResourceContext) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None


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


def default_resources(*, resolve: bool = False) -> dict[str, dg.ConfigurableResource]:
    """Resources configured from the environment (see the README for every variable).

    In ``Definitions`` set variables stay ``EnvVar``s, resolved by Dagster at run
    time; ``resolve=True`` reads them now, for the CLI, which uses resources directly.
    """
    env, env_int = (
        functools.partial(config.env_or_default, resolve=resolve),
        functools.partial(config.env_int_or_default, resolve=resolve),
    )
    return {
        "postgres": PostgresResource(
            database_url=env("TRACERA_DATABASE_URL", config.DEFAULT_DATABASE_URL),
            storage_flavor=env("TRACERA_STORAGE_FLAVOR", "auto"),
            pool_max_size=env_int("TRACERA_DB_POOL_MAX_SIZE", 4),
            copy_chunk_rows=env_int("TRACERA_COPY_CHUNK_ROWS", 100_000),
            raw_retention_days=env_int("TRACERA_RAW_RETENTION_DAYS", 90),
            volatility_retention_days=env_int("TRACERA_VOLATILITY_RETENTION_DAYS", 30),
        ),
        "redis": RedisResource(
            redis_url=env("TRACERA_REDIS_URL", config.DEFAULT_REDIS_URL),
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
