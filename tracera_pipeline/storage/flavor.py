"""Which storage flavour a database uses: TimescaleDB when it can, native otherwise.

Probing means running ``CREATE EXTENSION timescaledb``. Where the library is
installed but not in ``shared_preload_libraries`` (what the distribution packages
leave before ``timescaledb-tune``), the server answers with FATAL and closes the
connection. So the probe always runs in a connection of its own: whatever happens
to it, the caller's connection stays usable.
"""

from __future__ import annotations

import enum
import logging
from dataclasses import dataclass

import psycopg
from psycopg.conninfo import make_conninfo

log = logging.getLogger(__name__)

_PRELOAD_FIX = (
    "add 'timescaledb' to shared_preload_libraries in postgresql.conf "
    "(e.g. run `timescaledb-tune`) and restart PostgreSQL"
)
_INSTALL_FIX = (
    "install the TimescaleDB package for this PostgreSQL version, add 'timescaledb' to "
    "shared_preload_libraries (e.g. with `timescaledb-tune`) and restart PostgreSQL"
)
_PRIVILEGE_FIX = (
    "let a superuser run `CREATE EXTENSION timescaledb` in this database "
    "(or run the first migration as a superuser)"
)
_GENERIC_FIX = "fix the server error above (see the PostgreSQL log)"


class Flavor(enum.StrEnum):
    TIMESCALEDB = "timescaledb"
    NATIVE = "native"


class FlavorRequest(enum.StrEnum):
    AUTO = "auto"
    TIMESCALEDB = "timescaledb"
    NATIVE = "native"


class FlavorError(RuntimeError):
    """The requested flavour cannot be used here; the message names the fix."""


@dataclass(frozen=True)
class Probe:
    usable: bool
    reason: str = ""  # the server's words, when unusable
    fix: str = ""  # what an operator does about it


def detect_flavor(conn: psycopg.Connection, requested: FlavorRequest) -> Flavor:
    """Install TimescaleDB if asked or possible; fall back to native with one log line.

    ``conn`` is only used to know where to connect: the probe has its own connection.
    """
    if requested is FlavorRequest.NATIVE:
        log.info("storage flavour: native PostgreSQL (requested)")
        return Flavor.NATIVE
    probe = probe_timescaledb(_conninfo_of(conn))
    if probe.usable:
        log.info("storage flavour: TimescaleDB")
        return Flavor.TIMESCALEDB
    if requested is FlavorRequest.TIMESCALEDB:
        raise FlavorError(
            f"TRACERA_STORAGE_FLAVOR=timescaledb, but TimescaleDB cannot be used on this server "
            f"({probe.reason}): {probe.fix}, or set TRACERA_STORAGE_FLAVOR=auto to run on "
            "native PostgreSQL"
        )
    log.warning(
        "storage flavour: native PostgreSQL, because TimescaleDB is unusable here (%s); "
        "to use TimescaleDB on a new database, %s",
        probe.reason,
        probe.fix,
    )
    return Flavor.NATIVE


def timescaledb_usable(conn: psycopg.Connection) -> tuple[bool, str]:
    """Whether ``CREATE EXTENSION timescaledb`` works here, and why not (for test skips)."""
    probe = probe_timescaledb(_conninfo_of(conn))
    return probe.usable, probe.reason


def probe_timescaledb(conninfo: str) -> Probe:
    """Run ``CREATE EXTENSION IF NOT EXISTS timescaledb`` in a throwaway connection."""
    try:
        probe_conn = psycopg.connect(conninfo, autocommit=True)
    except psycopg.Error as exc:
        # Choosing a flavour is permanent: never decide "native" on a passing failure.
        raise FlavorError(
            f"could not open a connection to probe TimescaleDB ({_first_line(exc)}): "
            "make sure the server accepts one more connection (max_connections), or set "
            "TRACERA_STORAGE_FLAVOR=native to skip the probe"
        ) from exc
    try:
        probe_conn.execute("CREATE EXTENSION IF NOT EXISTS timescaledb")
    except psycopg.Error as exc:
        return Probe(usable=False, reason=_first_line(exc), fix=_fix_for(exc, probe_conn))
    finally:
        probe_conn.close()
    return Probe(usable=True)


def _fix_for(exc: psycopg.Error, probe_conn: psycopg.Connection) -> str:
    message = _first_line(exc)
    if "must be preloaded" in message or probe_conn.broken:
        return _PRELOAD_FIX
    if isinstance(exc, psycopg.errors.InsufficientPrivilege):
        return _PRIVILEGE_FIX
    # PostgreSQL ≤ 15 cannot open the control file; 16+ says "is not available".
    if isinstance(exc, psycopg.errors.UndefinedFile) or "is not available" in message:
        return _INSTALL_FIX
    return _GENERIC_FIX


def _first_line(exc: BaseException) -> str:
    diag = getattr(exc, "diag", None)
    primary = diag.message_primary if diag is not None else None
    return primary or (str(exc).strip().splitlines() or [type(exc).__name__])[0]


def _conninfo_of(conn: psycopg.Connection) -> str:
    """Where ``conn`` is connected, password included (``info.dsn`` leaves it out)."""
    password = conn.info.password
    return make_conninfo(conn.info.dsn, password=password) if password else conn.info.dsn
