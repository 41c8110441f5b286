"""Which storage flavour a database uses: TimescaleDB when it can, native otherwise."""

from __future__ import annotations

import enum
import logging

import psycopg

log = logging.getLogger(__name__)


class Flavor(enum.StrEnum):
    TIMESCALEDB = "timescaledb"
    NATIVE = "native"


class FlavorRequest(enum.StrEnum):
    AUTO = "auto"
    TIMESCALEDB = "timescaledb"
    NATIVE = "native"


def detect_flavor(conn: psycopg.Connection, requested: FlavorRequest) -> Flavor:
    """Install TimescaleDB if asked or possible; fall back to native with a reason.

    The extension can be *available* (files installed) yet unusable because it is
    not in ``shared_preload_libraries``; ``CREATE EXTENSION`` then fails and we
    fall back rather than half-install.
    """
    if requested is FlavorRequest.NATIVE:
        log.info("storage flavour: native PostgreSQL (requested)")
        return Flavor.NATIVE
    usable, reason = timescaledb_usable(conn)
    if usable:
        log.info("storage flavour: TimescaleDB")
        return Flavor.TIMESCALEDB
    if requested is FlavorRequest.TIMESCALEDB:
        raise RuntimeError(
            f"TRACERA_STORAGE_FLAVOR=timescaledb but the extension cannot be used: {reason}"
        )
    log.warning(
        "storage flavour: native PostgreSQL, because TimescaleDB is unusable here: %s", reason
    )
    return Flavor.NATIVE


def timescaledb_usable(conn: psycopg.Connection) -> tuple[bool, str]:
    """Whether ``CREATE EXTENSION timescaledb`` works here, and why not (for test skips)."""
    try:
        with conn.transaction():
            conn.execute("CREATE EXTENSION IF NOT EXISTS timescaledb")
    except psycopg.Error as exc:
        return False, exc.diag.message_primary or str(exc)
    return True, ""
