"""Resources shared by every domain: PostgreSQL, Redis and the market providers."""

from __future__ import annotations

import functools
from collections.abc import Iterator
from contextlib import contextmanager

import dagster as dg
import psycopg
import redis
from psycopg_pool import ConnectionPool
from pydantic import Field, PrivateAttr

from tracera_pipeline import config
from tracera_pipeline.cache.redis_cache import PriceCache
from tracera_pipeline.providers.base import PriceProvider
from tracera_pipeline.providers.synthetic import SyntheticMarket
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
    """Settings of every provider adapter; ``provider(name)`` builds one."""

    synthetic_items: int = Field(default=200, description="items the synthetic market simulates")
    synthetic_interval_seconds: int = Field(default=300, description="seconds between samples")
    synthetic_seed: int = Field(default=7)

    def provider(self, name: str) -> PriceProvider:
        if name == "synthetic":
            return SyntheticMarket(
                items=self.synthetic_items,
                interval_seconds=self.synthetic_interval_seconds,
                seed=self.synthetic_seed,
            )
        raise dg.Failure(
            description=f"provider {name!r} has no adapter; known providers: synthetic",
            allow_retries=False,
        )


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
        ),
    }
