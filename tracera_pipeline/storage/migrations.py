"""A small migration runner for the numbered files in ``sql/``.

File names: ``NNN_name.sql`` applies to both flavours; ``NNN_name.native.sql`` and
``NNN_name.timescaledb.sql`` are the two flavours of one version. Each applied
version is recorded with its checksum; a changed, already-applied file is refused.
"""

from __future__ import annotations

import hashlib
import logging
import re
from dataclasses import dataclass
from pathlib import Path

import psycopg

from tracera_pipeline.storage.flavor import Flavor, FlavorRequest, detect_flavor

log = logging.getLogger(__name__)

_FILE_NAME = re.compile(
    r"^(?P<version>\d{3})_(?P<name>[a-z0-9_]+)(?:\.(?P<flavor>native|timescaledb))?\.sql$"
)
# Serialises concurrent migrators (parallel steps all start by migrating).
_LOCK_KEY = 0x7472_6163_6572_6131  # "tracera1"

_CREATE_LEDGER = """
CREATE TABLE IF NOT EXISTS schema_migrations (
    version    integer PRIMARY KEY,
    name       text NOT NULL,
    flavor     text NOT NULL,
    checksum   text NOT NULL,
    applied_at timestamptz NOT NULL DEFAULT now()
)
"""


class MigrationError(RuntimeError):
    pass


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    flavor: Flavor | None  # None: applies to both flavours
    path: Path

    @property
    def checksum(self) -> str:
        return hashlib.sha256(self.path.read_bytes()).hexdigest()


@dataclass(frozen=True)
class MigrationReport:
    flavor: Flavor
    applied: tuple[str, ...]


def discover(sql_dir: Path) -> dict[int, list[Migration]]:
    """Migration files grouped by version; raises on malformed names or layouts."""
    by_version: dict[int, list[Migration]] = {}
    for path in sorted(sql_dir.glob("*.sql")):
        match = _FILE_NAME.match(path.name)
        if not match:
            raise MigrationError(f"{path.name}: not a migration file name (NNN_name[.flavor].sql)")
        flavor = Flavor(match["flavor"]) if match["flavor"] else None
        by_version.setdefault(int(match["version"]), []).append(
            Migration(int(match["version"]), match["name"], flavor, path)
        )
    for version, files in by_version.items():
        flavors = {m.flavor for m in files}
        if len(files) == 1 and None in flavors:
            continue
        if flavors != {Flavor.NATIVE, Flavor.TIMESCALEDB}:
            names = ", ".join(m.path.name for m in files)
            raise MigrationError(
                f"version {version:03d} needs one common file or one file per flavour: {names}"
            )
    return by_version


def plan(sql_dir: Path, flavor: Flavor) -> list[Migration]:
    """The files this flavour applies, in version order."""
    chosen = []
    for version in sorted(versions := discover(sql_dir)):
        files = versions[version]
        chosen.append(next(m for m in files if m.flavor in (None, flavor)))
    return chosen


def _recorded_flavor(conn: psycopg.Connection) -> Flavor | None:
    row = conn.execute("SELECT flavor FROM schema_migrations ORDER BY version LIMIT 1").fetchone()
    return Flavor(row[0]) if row else None


def current_flavor(conn: psycopg.Connection) -> Flavor:
    """The flavour this database was migrated with."""
    flavor = _recorded_flavor(conn)
    if flavor is None:
        raise MigrationError("database is not migrated: run `tracera-pipeline migrate`")
    return flavor


def _current_flavor_if_up_to_date(conn: psycopg.Connection, sql_dir: Path) -> Flavor | None:
    """The recorded flavour when every file is applied unchanged, else None: one
    read instead of the lock, the ledger's DDL and the reads of a migration (every
    run and step process starts here). Applied versions are committed, so what this
    sees complete stays complete."""
    try:
        rows = conn.execute(
            "SELECT version, flavor, checksum FROM schema_migrations ORDER BY version"
        ).fetchall()
    except psycopg.errors.UndefinedTable:
        return None
    if not rows:
        return None
    flavor = Flavor(rows[0][1])
    applied = {version: checksum for version, _, checksum in rows}
    for migration in plan(sql_dir, flavor):
        if applied.get(migration.version) != migration.checksum:
            return None  # pending or changed: the full path applies or refuses it
    return flavor


def migrate(
    conn: psycopg.Connection, sql_dir: Path, requested: FlavorRequest = FlavorRequest.AUTO
) -> MigrationReport:
    """Apply pending migrations, each in its own transaction; idempotent.

    The TimescaleDB probe runs in its own connection (see ``flavor``), so ``conn``
    survives it; should the server close ``conn`` anyway, we stop at once with a
    ``MigrationError`` instead of using the dead connection again.
    """
    conn.autocommit = True
    current = _current_flavor_if_up_to_date(conn, sql_dir)
    if current is not None and requested in (FlavorRequest.AUTO, FlavorRequest(current.value)):
        return MigrationReport(flavor=current, applied=())
    conn.execute("SELECT pg_advisory_lock(%s)", (_LOCK_KEY,))
    try:
        conn.execute(_CREATE_LEDGER)
        flavor = _recorded_flavor(conn) or detect_flavor(conn, requested)
        if requested is not FlavorRequest.AUTO and requested.value != flavor.value:
            raise MigrationError(
                f"database was migrated as {flavor}, but {requested} was requested; "
                "use a new database to switch flavours"
            )
        applied = {
            version: (name, checksum)
            for version, name, checksum in conn.execute(
                "SELECT version, name, checksum FROM schema_migrations"
            )
        }
        done = []
        for migration in plan(sql_dir, flavor):
            if migration.version in applied:
                if applied[migration.version][1] != migration.checksum:
                    raise MigrationError(
                        f"{migration.path.name} changed after it was applied; "
                        "add a new numbered migration instead of editing an applied one"
                    )
                continue
            with conn.transaction():
                conn.execute(migration.path.read_text())
                conn.execute(
                    "INSERT INTO schema_migrations (version, name, flavor, checksum)"
                    " VALUES (%s, %s, %s, %s)",
                    (migration.version, migration.name, flavor.value, migration.checksum),
                )
            log.info("applied migration %s", migration.path.name)
            done.append(migration.path.name)
        return MigrationReport(flavor=flavor, applied=tuple(done))
    except psycopg.OperationalError as exc:
        if not conn.broken:
            raise
        raise MigrationError(
            f"the server closed the connection while migrating ({exc}): check the PostgreSQL "
            "log, then run `tracera-pipeline migrate` again (applied migrations are kept)"
        ) from exc
    finally:
        # The advisory lock ends with its session: a dead connection has nothing to
        # unlock, and trying would hide the real error behind "the connection is closed".
        if not conn.closed:
            conn.execute("SELECT pg_advisory_unlock(%s)", (_LOCK_KEY,))
