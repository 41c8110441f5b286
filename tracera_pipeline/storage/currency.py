"""The one currency a database's prices are in.

Every provider is asked in the pipeline currency (``TRACERA_CURRENCY``); the
database records it on the first write and refuses writes in another one, so a
changed setting can never put euros beside dollars in one table.
"""

from __future__ import annotations

import re

import psycopg

CURRENCY_KEY = "currency"
_ISO_CODE = re.compile(r"^[A-Z]{3}$")


class CurrencyError(ValueError):
    pass


def normalized_currency(code: str) -> str:
    """An ISO 4217 code in upper case; one sentence naming the setting otherwise."""
    value = code.strip().upper()
    if not _ISO_CODE.match(value):
        raise CurrencyError(
            f"TRACERA_CURRENCY={code!r} is not an ISO 4217 currency code; set it to e.g. USD"
        )
    return value


def database_currency(conn: psycopg.Connection) -> str | None:
    row = conn.execute(
        "SELECT value FROM pipeline_state WHERE key = %s", (CURRENCY_KEY,)
    ).fetchone()
    return row[0] if row else None


def ensure_database_currency(conn: psycopg.Connection, currency: str) -> None:
    """Record ``currency`` for a database without one; refuse a different one."""
    with conn.transaction():
        conn.execute(
            "INSERT INTO pipeline_state (key, value) VALUES (%s, %s) ON CONFLICT (key) DO NOTHING",
            (CURRENCY_KEY, currency),
        )
    stored = database_currency(conn)
    if stored != currency:
        raise CurrencyError(
            f"this database holds prices in {stored} but TRACERA_CURRENCY={currency};"
            f" set TRACERA_CURRENCY={stored} or point TRACERA_DATABASE_URL at a new database"
        )
