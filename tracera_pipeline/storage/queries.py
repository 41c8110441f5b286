"""Load the ``.sql`` files that sit beside the code using them."""

from __future__ import annotations

from functools import cache
from pathlib import Path

from psycopg import sql


@cache
def load_sql(package_dir: str, name: str) -> str:
    return (Path(package_dir) / "sql" / name).read_text()


def compose(package_file: str, name: str, **identifiers: str) -> sql.Composed:
    """The SQL file ``sql/<name>`` next to ``package_file``, identifiers bound safely."""
    text = load_sql(str(Path(package_file).parent), name)
    return sql.SQL(text).format(**{k: sql.Identifier(v) for k, v in identifiers.items()})
