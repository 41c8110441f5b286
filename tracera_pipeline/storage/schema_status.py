"""Whether a database's schema matches this code's ``sql/`` migrations, read-only.

``migrate`` applies what is pending and refuses edited files; this also catches the
cases it cannot heal: a database migrated by a newer release (versions this code
does not have), and, where migrations are not applied on first use, pending or
edited ones.
"""

from __future__ import annotations

from pathlib import Path

import psycopg

from tracera_pipeline.storage.flavor import Flavor
from tracera_pipeline.storage.migrations import discover, plan


def schema_problem(
    conn: psycopg.Connection, sql_dir: Path, flavor: Flavor, *, after_migrate: bool
) -> str | None:
    """One sentence naming the fix, or None when the schema is what the code expects."""
    applied = dict(conn.execute("SELECT version, checksum FROM schema_migrations").fetchall())
    unknown = sorted(set(applied) - set(discover(sql_dir)))
    if unknown:
        versions = ", ".join(f"{v:03d}" for v in unknown)
        return (
            f"this database has migration(s) {versions} that this code does not have (a newer"
            " tracera-pipeline migrated it); upgrade tracera-pipeline, or point"
            " TRACERA_DATABASE_URL at another database"
        )
    if after_migrate:
        return None
    files = plan(sql_dir, flavor)
    edited = [m.path.name for m in files if applied.get(m.version, m.checksum) != m.checksum]
    if edited:
        return (
            f"{edited[0]} changed after it was applied; restore it and add a new numbered"
            " migration instead of editing an applied one"
        )
    pending = [m.path.name for m in files if m.version not in applied]
    if pending:
        return (
            f"the database schema is behind by {len(pending)} migration(s) ({', '.join(pending)});"
            " run `tracera-pipeline migrate`"
        )
    return None
