"""The PostgreSQL/TimescaleDB resource: settings checked at first use, a pool with
client-side limits, and every connection problem as one scrubbed sentence."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import dagster as dg
import psycopg
from psycopg_pool import ConnectionPool, PoolTimeout
from pydantic import Field, PrivateAttr

from tracera_pipeline import config, settings
from tracera_pipeline.defs.failures import ServiceFailure, require_settings
from tracera_pipeline.storage.connections import (
    ConnectionLimits,
    DatabaseConnectionError,
    describe_error,
    scrub,
    url_problem,
)
from tracera_pipeline.storage.database import connect_creating, redact
from tracera_pipeline.storage.flavor import Flavor, FlavorError, FlavorRequest
from tracera_pipeline.storage.migrations import MigrationError, current_flavor, migrate
from tracera_pipeline.storage.schema_status import schema_problem


@dataclass(frozen=True)
class Prepared:
    created: bool
    flavor: Flavor
    applied: tuple[str, ...]


class PostgresResource(dg.ConfigurableResource):
    """PostgreSQL/TimescaleDB: a small connection pool per process, opened lazily.

    On first use it checks its settings, creates the database when missing and
    applies pending migrations (cheap when there are none), so a fresh machine just
    works. Connection trouble surfaces as a ``ServiceFailure``: one sentence naming
    the setting to fix, never the password, retried only when it can heal.
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
    connect_timeout_seconds: int = Field(default=10, description="give up connecting after")
    keepalives_idle_seconds: int = Field(
        default=30, description="TCP keepalive probes after this much silence (dead in +30 s)"
    )
    statement_timeout_seconds: int = Field(default=600, description="per statement; 0: none")
    idle_in_transaction_timeout_seconds: int = Field(
        default=300, description="server ends a transaction idle this long; 0: never"
    )

    _pool: ConnectionPool | None = PrivateAttr(default=None)
    _flavor: Flavor | None = PrivateAttr(default=None)

    def setting_problems(self) -> list[str]:
        checks = (
            url_problem(self.database_url),
            settings.choice_problem(
                "TRACERA_STORAGE_FLAVOR", self.storage_flavor, [f.value for f in FlavorRequest]
            ),
            settings.DB_POOL_MAX_SIZE.problem(self.pool_max_size),
            settings.COPY_CHUNK_ROWS.problem(self.copy_chunk_rows),
            settings.RAW_RETENTION_DAYS.problem(self.raw_retention_days),
            settings.VOLATILITY_RETENTION_DAYS.problem(self.volatility_retention_days),
            settings.DB_CONNECT_TIMEOUT.problem(self.connect_timeout_seconds),
            settings.DB_KEEPALIVES_IDLE.problem(self.keepalives_idle_seconds),
            settings.DB_STATEMENT_TIMEOUT.problem(self.statement_timeout_seconds),
            settings.DB_IDLE_IN_TRANSACTION_TIMEOUT.problem(
                self.idle_in_transaction_timeout_seconds
            ),
        )
        return [problem for problem in checks if problem]

    @property
    def limits(self) -> ConnectionLimits:
        return ConnectionLimits(
            connect_timeout=self.connect_timeout_seconds,
            keepalives_idle=self.keepalives_idle_seconds,
            statement_timeout=self.statement_timeout_seconds,
            idle_in_transaction_timeout=self.idle_in_transaction_timeout_seconds,
        )

    def _failure(self, exc: BaseException) -> ServiceFailure:
        problem = describe_error(exc, self.database_url, self.limits)
        return ServiceFailure(scrub(str(problem), self.database_url), permanent=problem.permanent)

    @contextmanager
    def _prepare_failures(self) -> Iterator[None]:
        """Creating, migrating and checking the database: connection errors and schema
        errors become one sentence (``from None``: the driver's text may hold the URL)."""
        try:
            yield
        except dg.Failure:
            raise
        except (psycopg.OperationalError, psycopg.errors.InsufficientPrivilege) as exc:
            raise self._failure(exc) from None
        except (MigrationError, FlavorError) as exc:
            cause = exc.__cause__
            if isinstance(cause, psycopg.OperationalError):
                # The server went away while migrating or probing: like any lost connection.
                raise self._failure(cause) from None
            # An edited migration, a flavour mismatch, TimescaleDB unusable when required.
            raise ServiceFailure(scrub(str(exc), self.database_url), permanent=True) from None

    @contextmanager
    def _connection_failures(self) -> Iterator[None]:
        """During a step: a lost connection, a pool that gave out, a statement or idle
        transaction timeout. Other database errors (SQL, constraints) pass unchanged."""
        try:
            yield
        except (psycopg.OperationalError, psycopg.errors.IdleInTransactionSessionTimeout) as exc:
            raise self._failure(exc) from None
        except PoolTimeout:
            raise ServiceFailure(
                f"no PostgreSQL connection became available within 30 s (TRACERA_DB_POOL_MAX_SIZE="
                f"{self.pool_max_size}); the step is tried again (check the server's load)",
                permanent=False,
            ) from None
        except DatabaseConnectionError as exc:
            raise ServiceFailure(str(exc), permanent=exc.permanent) from None

    def prepare(self) -> Prepared:
        """Create the database if missing, apply pending migrations (without
        ``auto_migrate``: check none is pending) and learn the flavour; also what
        ``tracera-pipeline migrate`` runs."""
        require_settings(self.setting_problems())
        conninfo = self.limits.conninfo(self.database_url)
        with self._prepare_failures():
            # No statement timeout here: an upgrade may rightly run long.
            conn, created = connect_creating(conninfo)
            with conn:
                applied: tuple[str, ...] = ()
                if self.auto_migrate:
                    report = migrate(conn, config.sql_dir(), FlavorRequest(self.storage_flavor))
                    flavor, applied = report.flavor, report.applied
                else:
                    flavor = current_flavor(conn)
                problem = schema_problem(
                    conn, config.sql_dir(), flavor, after_migrate=self.auto_migrate
                )
            if problem:
                raise ServiceFailure(problem, permanent=True)
        self._flavor = flavor
        return Prepared(created, flavor, applied)

    def _open(self) -> ConnectionPool:
        if self._pool is None:
            self.prepare()
            # autocommit: every transaction in this code base is explicit.
            pool = ConnectionPool(
                self.limits.conninfo(self.database_url),
                min_size=1,
                max_size=self.pool_max_size,
                kwargs={"autocommit": True},
                configure=self.limits.apply_session_limits,
                # A connection that died with a server restart is replaced, not handed out.
                check=ConnectionPool.check_connection,
                open=False,
                name="tracera",
            )
            try:
                with self._connection_failures():
                    pool.open(wait=True, timeout=30)
            except BaseException:
                pool.close()  # its workers would keep trying to connect
                raise
            self._pool = pool
        return self._pool

    @contextmanager
    def connection(self) -> Iterator[psycopg.Connection]:
        pool = self._open()
        with self._connection_failures(), pool.connection() as conn:
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
