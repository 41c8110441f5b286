"""Connection helpers: create the database when missing, open pools."""

from __future__ import annotations

import logging

import psycopg
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict, make_conninfo

log = logging.getLogger(__name__)


def database_name(url: str) -> str:
    name = conninfo_to_dict(url).get("dbname")
    if not name:
        raise ValueError("the database URL names no database (expected …/<dbname>)")
    return str(name)


def maintenance_url(url: str) -> str:
    """The same server, connected to the ``postgres`` maintenance database."""
    return make_conninfo(url, dbname="postgres")


def redact(url: str) -> str:
    """The URL without its password, safe for logs and metadata."""
    try:
        params = conninfo_to_dict(url)
    except psycopg.Error:
        return "(unreadable TRACERA_DATABASE_URL)"  # the parser's message quotes it
    if "password" in params:
        params["password"] = "***"
    return make_conninfo("", **params)


def ensure_database(url: str) -> bool:
    """Create the database named in ``url`` if it does not exist; True if created.

    Safe when many processes start on a new database at once (parallel provider
    steps, several ``migrate``): exactly one creates it, the others carry on.
    """
    name = database_name(url)
    with psycopg.connect(maintenance_url(url), autocommit=True) as conn:
        if _exists(conn, name):
            return False
        try:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        except (psycopg.errors.DuplicateDatabase, psycopg.errors.UniqueViolation):
            # Two CREATE DATABASE racing: the loser waits on the catalogue's unique
            # index for the winner's commit, then fails with UniqueViolation (not
            # DuplicateDatabase, which only the pre-check path raises). Either way
            # the database is there, created by someone else — unless the violation
            # was about something else, which the re-check tells.
            if _exists(conn, name):
                return False
            raise
    log.info("created database %s", name)
    return True


def connect_creating(url: str) -> tuple[psycopg.Connection, bool]:
    """An autocommit connection to ``url``'s database, created first if missing
    (then True). The maintenance database is asked only when the connection
    fails: every run and step opens this, and the database is rarely new."""
    try:
        return psycopg.connect(url, autocommit=True), False
    except psycopg.OperationalError:
        # Missing, or something else: then creating it fails with the real cause,
        # or the second attempt raises it.
        created = ensure_database(url)
    return psycopg.connect(url, autocommit=True), created


def _exists(conn: psycopg.Connection, name: str) -> bool:
    row = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone()
    return row is not None
