"""The Redis resource: one pooled client per process, checked before use."""

from __future__ import annotations

import dagster as dg
import redis
from pydantic import Field, PrivateAttr

from tracera_pipeline import config, settings
from tracera_pipeline.cache.connection import describe_error, url_problem
from tracera_pipeline.cache.redis_cache import PriceCache
from tracera_pipeline.defs.failures import ServiceFailure, require_settings


class RedisResource(dg.ConfigurableResource):
    """One pooled Redis client per process; every key is prefixed with ``key_prefix``.

    ``client()`` pings the server, so Redis being down or refusing the password fails
    the step with one sentence naming TRACERA_REDIS_URL (retried only when the
    server may come back), before any work that would need it.
    """

    redis_url: str = Field(default=config.DEFAULT_REDIS_URL)
    key_prefix: str = Field(default="", description="prepended to every key and channel")
    latest_price_ttl_seconds: int = Field(default=7200)

    _client: redis.Redis | None = PrivateAttr(default=None)

    def setting_problems(self) -> list[str]:
        checks = (
            url_problem(self.redis_url),
            settings.LATEST_PRICE_TTL.problem(self.latest_price_ttl_seconds),
        )
        return [problem for problem in checks if problem]

    def client(self) -> redis.Redis:
        if self._client is None:
            require_settings(self.setting_problems())
            self._client = redis.Redis.from_url(
                self.redis_url,
                socket_timeout=10,
                socket_connect_timeout=5,
                health_check_interval=30,
            )
        try:
            # One round trip per call (a few per step): a server that went away
            # since the last call is named here, not deep inside a cache write.
            self._client.ping()
        except redis.RedisError as exc:
            problem = describe_error(exc, self.redis_url)
            raise ServiceFailure(str(problem), permanent=problem.permanent) from None
        return self._client

    def cache(self) -> PriceCache:
        return PriceCache(self.client(), self.key_prefix, self.latest_price_ttl_seconds)

    def teardown_after_execution(self, context: dg.InitResourceContext) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None
