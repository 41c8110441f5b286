"""Fixtures: real PostgreSQL and Redis, a fresh database and key prefix per test.

Each flavour's schema is migrated once per session into a template database;
every test gets its own copy (``CREATE DATABASE … TEMPLATE``), dropped afterwards.
TimescaleDB tests skip, with the server's reason, where the extension is unusable.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import psycopg
import pytest
import redis
from psycopg import sql

from tracera_pipeline import config
from tracera_pipeline.defs.pricing import PricingResource
from tracera_pipeline.defs.resources import MarketDataResource, PostgresResource, RedisResource
from tracera_pipeline.services.embedded import service_url
from tracera_pipeline.storage.database import ensure_database, maintenance_url
from tracera_pipeline.storage.flavor import Flavor, FlavorRequest, timescaledb_usable
from tracera_pipeline.storage.migrations import migrate

# The servers on localhost, or where none answers the embedded ones (started on demand).
SERVER_URL = os.environ.get("TRACERA_TEST_SERVER_URL") or psycopg.conninfo.make_conninfo(
    service_url("postgres", "postgresql://postgres@127.0.0.1:5432/postgres"), dbname="postgres"
)
REDIS_URL = os.environ.get("TRACERA_TEST_REDIS_URL") or service_url(
    "redis", "redis://127.0.0.1:6379/15"
)
RUN_ID = uuid.uuid4().hex[:8]


def _url(dbname: str) -> str:
    return psycopg.conninfo.make_conninfo(SERVER_URL, dbname=dbname)


def _drop(dbname: str) -> None:
    with psycopg.connect(maintenance_url(SERVER_URL), autocommit=True) as conn:
        name = sql.Identifier(dbname)
        if conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (dbname,)).fetchone():
            conn.execute(sql.SQL("ALTER DATABASE {} IS_TEMPLATE false").format(name))
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(name))


def _freeze_as_template(dbname: str) -> None:
    """No one may connect, so it can be copied: TimescaleDB's scheduler worker
    would otherwise sit in it and make ``CREATE DATABASE … TEMPLATE`` fail."""
    with psycopg.connect(maintenance_url(SERVER_URL), autocommit=True) as conn:
        conn.execute(
            sql.SQL("ALTER DATABASE {} WITH IS_TEMPLATE true ALLOW_CONNECTIONS false").format(
                sql.Identifier(dbname)
            )
        )
        conn.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s", (dbname,)
        )


@pytest.fixture(scope="session")
def timescaledb_status() -> tuple[bool, str]:
    probe = f"tracera_test_{RUN_ID}_probe"
    ensure_database(_url(probe))
    try:
        with psycopg.connect(_url(probe), autocommit=True) as conn:
            return timescaledb_usable(conn)
    finally:
        _drop(probe)


_templates: dict[Flavor, str] = {}


def _template(flavor: Flavor) -> str:
    if flavor not in _templates:
        name = f"tracera_test_{RUN_ID}_tmpl_{flavor.value}"
        ensure_database(_url(name))
        with psycopg.connect(_url(name), autocommit=True) as conn:
            migrate(conn, config.sql_dir(), FlavorRequest(flavor.value))
        _freeze_as_template(name)
        _templates[flavor] = name
    return _templates[flavor]


@pytest.fixture(scope="session", autouse=True)
def _drop_templates() -> Iterator[None]:
    yield
    for name in _templates.values():
        _drop(name)


@pytest.fixture(params=[Flavor.NATIVE, Flavor.TIMESCALEDB], ids=["native", "timescaledb"])
def flavor(request: pytest.FixtureRequest, timescaledb_status: tuple[bool, str]) -> Flavor:
    if request.param is Flavor.TIMESCALEDB and not timescaledb_status[0]:
        pytest.skip(f"TimescaleDB unusable on this server: {timescaledb_status[1]}")
    return request.param


@pytest.fixture
def database_url(flavor: Flavor) -> Iterator[str]:
    """A fresh, migrated database of the test's flavour."""
    name = f"tracera_test_{RUN_ID}_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(maintenance_url(SERVER_URL), autocommit=True) as conn:
        conn.execute(
            sql.SQL("CREATE DATABASE {} TEMPLATE {}").format(
                sql.Identifier(name), sql.Identifier(_template(flavor))
            )
        )
    yield _url(name)
    _drop(name)


@pytest.fixture
def conn(database_url: str) -> Iterator[psycopg.Connection]:
    with psycopg.connect(database_url, autocommit=True) as connection:
        yield connection


@pytest.fixture
def redis_prefix() -> Iterator[str]:
    prefix = f"tracera_test:{RUN_ID}:{uuid.uuid4().hex[:8]}:"
    yield prefix
    client = redis.Redis.from_url(REDIS_URL)
    keys = list(client.scan_iter(match=prefix + "*", count=1000))
    if keys:
        client.delete(*keys)
    client.close()


@pytest.fixture
def redis_client() -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(REDIS_URL)
    yield client
    client.close()


@pytest.fixture
def resources(database_url: str, flavor: Flavor, redis_prefix: str) -> dict[str, object]:
    return {
        "postgres": PostgresResource(database_url=database_url, storage_flavor=flavor.value),
        "redis": RedisResource(redis_url=REDIS_URL, key_prefix=redis_prefix),
        "market": MarketDataResource(synthetic_items=20, synthetic_interval_seconds=600),
        "pricing": PricingResource(),
    }


@pytest.fixture
def dagster_instance():
    """A persistent temporary Dagster instance: declarative-automation evaluation holds
    weak references to it that an ephemeral instance does not always outlive."""
    import dagster as dg

    with dg.instance_for_test() as instance:
        yield instance
