"""Load parsed portfolios into the database; re-loading a portfolio replaces its holdings.

Item names the catalogue does not know are refused unless the caller asks to add
them (``tracera-pipeline load-portfolios --add-unknown-items``), and then at most
``max_new_items`` of them: a file of misspelt or invented names would otherwise
fill the catalogue with items no market ever prices. Everything happens in one
transaction: a refused or failed load leaves the database as it was.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import psycopg

from tracera_pipeline.portfolio.fields import DEFAULT_MAX_NEW_ITEMS, shown
from tracera_pipeline.portfolio.model import SHOWN_PROBLEMS, Portfolio, PortfolioFileError
from tracera_pipeline.portfolio.parse import parse_portfolio_file
from tracera_pipeline.storage.items import add_missing_items, existing_item_ids

__all__ = [
    "DEFAULT_MAX_NEW_ITEMS",
    "LoadResult",
    "Portfolio",
    "PortfolioFileError",
    "load_portfolios",
    "parse_portfolio_file",
]


_BATCH = 10_000  # names per catalogue lookup


@dataclass(frozen=True)
class LoadResult:
    portfolios: int
    holdings: int
    items_added: int


def _first_use(portfolios: list[Portfolio]) -> dict[str, int]:
    """Each item name with the line it is first held on, in file order."""
    lines: dict[str, int] = {}
    for portfolio in portfolios:
        for name, line in portfolio.origins.items():
            lines.setdefault(name, line)
        for name in portfolio.holdings:  # built in code, without lines
            lines.setdefault(name, 0)
    return lines


def _loose(name: str) -> str:
    return re.sub(r"\s+", " ", name).strip().casefold()


def _known_ids(conn: psycopg.Connection, names: list[str]) -> dict[str, int]:
    """Catalogue ids of ``names``, asked in batches: a huge file costs no huge query."""
    known: dict[str, int] = {}
    for start in range(0, len(names), _BATCH):
        known.update(existing_item_ids(conn, names[start : start + _BATCH]).iter_rows())
    return known


def _suggestions(conn: psycopg.Connection, unknown: list[str]) -> dict[str, str]:
    """Catalogue names equal to an unknown one but for case and spacing."""
    wanted = {_loose(name): name for name in unknown}
    found: dict[str, str] = {}
    for (known,) in conn.execute("SELECT market_hash_name FROM items"):
        if (name := wanted.get(_loose(known))) is not None:
            found.setdefault(name, known)
    return found


def _refuse_unknown(
    conn: psycopg.Connection, source: str, unknown: list[str], lines: dict[str, int]
) -> PortfolioFileError:
    shown_names = unknown[:SHOWN_PROBLEMS]
    close = _suggestions(conn, shown_names)
    problems = []
    for name in shown_names:
        where = f"{source}:{lines[name]}" if lines[name] else source
        hint = f" (did you mean {shown(close[name])}?)" if name in close else ""
        problems.append(f"{where}: {shown(name)}{hint}")
    error = PortfolioFileError(source, problems, len(unknown))
    more = (
        f"\n  … and {len(unknown) - len(shown_names):,} more"
        if len(unknown) > SHOWN_PROBLEMS
        else ""
    )
    error.args = (
        f"{source}: {len(unknown):,} item name(s) are not in the catalogue, nothing was loaded;"
        " check their spelling (a market_hash_name must match exactly), or load again with"
        " --add-unknown-items to add them:\n" + "\n".join(f"  {p}" for p in problems) + more,
    )
    return error


def load_portfolios(
    conn: psycopg.Connection,
    portfolios: list[Portfolio],
    *,
    add_unknown_items: bool = False,
    max_new_items: int = DEFAULT_MAX_NEW_ITEMS,
    source: str = "portfolios",
) -> LoadResult:
    """Upsert ``portfolios`` and replace their holdings, in one transaction."""
    lines = _first_use(portfolios)
    with conn.transaction():
        known = _known_ids(conn, list(lines))
        unknown = [name for name in lines if name not in known]
        if unknown and not add_unknown_items:
            raise _refuse_unknown(conn, source, unknown, lines)
        if len(unknown) > max_new_items:
            raise PortfolioFileError.whole_file(
                source,
                f"{len(unknown):,} item names are not in the catalogue, more than the"
                f" {max_new_items:,} --add-unknown-items may add at once; check that this is"
                " the right file, or raise --max-new-items",
            )
        added = add_missing_items(conn, unknown) if unknown else 0
        if unknown:
            known.update(_known_ids(conn, unknown))
        holdings = sum(_replace(conn, portfolio, known) for portfolio in portfolios)
    return LoadResult(len(portfolios), holdings, added)


def _replace(conn: psycopg.Connection, portfolio: Portfolio, ids: dict[str, int]) -> int:
    (portfolio_id,) = conn.execute(
        "INSERT INTO portfolios (name, owner) VALUES (%s, %s)"
        " ON CONFLICT (name) DO UPDATE SET owner = EXCLUDED.owner RETURNING portfolio_id",
        (portfolio.name, portfolio.owner),
    ).fetchone()
    conn.execute("DELETE FROM portfolio_holdings WHERE portfolio_id = %s", (portfolio_id,))
    names = list(portfolio.holdings)
    conn.execute(
        "INSERT INTO portfolio_holdings (portfolio_id, item_id, quantity)"
        " SELECT %s, unnest(%s::int[]), unnest(%s::int[])",
        (portfolio_id, [ids[name] for name in names], [portfolio.holdings[n] for n in names]),
    )
    return len(names)
