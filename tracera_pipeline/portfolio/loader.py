"""Load portfolios and holdings from CSV or JSON; re-loading replaces holdings.

CSV: a header with ``portfolio,market_hash_name,quantity`` (and optional ``owner``).
JSON: ``[{"name": ..., "owner": ..., "holdings": [{"market_hash_name": ..., "quantity": n}]}]``.
"""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass, field
from pathlib import Path

import psycopg

from tracera_pipeline.storage.items import resolve_item_ids


class PortfolioFileError(ValueError):
    pass


@dataclass
class Portfolio:
    name: str
    owner: str | None = None
    holdings: dict[str, int] = field(default_factory=dict)


def _quantity(value: object, where: str) -> int:
    try:
        quantity = int(str(value))
    except ValueError:
        raise PortfolioFileError(f"{where}: quantity {value!r} is not a whole number") from None
    if quantity <= 0:
        raise PortfolioFileError(f"{where}: quantity must be positive, got {quantity}")
    return quantity


def _add(portfolio: Portfolio, name: object, quantity: object, where: str) -> None:
    if not isinstance(name, str) or not name.strip():
        raise PortfolioFileError(f"{where}: market_hash_name is empty")
    portfolio.holdings[name] = portfolio.holdings.get(name, 0) + _quantity(quantity, where)


def _parse_csv(path: Path) -> list[Portfolio]:
    portfolios: dict[str, Portfolio] = {}
    with path.open(newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        required = {"portfolio", "market_hash_name", "quantity"}
        if not required <= set(reader.fieldnames or ()):
            raise PortfolioFileError(f"{path.name}: CSV header must contain {sorted(required)}")
        for line, row in enumerate(reader, start=2):
            where = f"{path.name}:{line}"
            name = (row["portfolio"] or "").strip()
            if not name:
                raise PortfolioFileError(f"{where}: portfolio name is empty")
            portfolio = portfolios.setdefault(name, Portfolio(name, (row.get("owner") or None)))
            _add(portfolio, row["market_hash_name"], row["quantity"], where)
    return list(portfolios.values())


def _parse_json(path: Path) -> list[Portfolio]:
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise PortfolioFileError(f"{path.name}: invalid JSON: {exc}") from None
    if not isinstance(document, list):
        raise PortfolioFileError(f"{path.name}: expected a JSON list of portfolios")
    portfolios = []
    for index, entry in enumerate(document):
        where = f"{path.name}[{index}]"
        if not isinstance(entry, dict) or not str(entry.get("name", "")).strip():
            raise PortfolioFileError(f"{where}: each portfolio needs a non-empty name")
        portfolio = Portfolio(str(entry["name"]).strip(), entry.get("owner"))
        for position, holding in enumerate(entry.get("holdings", [])):
            if not isinstance(holding, dict):
                raise PortfolioFileError(f"{where}.holdings[{position}]: expected an object")
            _add(
                portfolio,
                holding.get("market_hash_name"),
                holding.get("quantity"),
                f"{where}.holdings[{position}]",
            )
        portfolios.append(portfolio)
    return portfolios


def parse_portfolio_file(path: Path) -> list[Portfolio]:
    if path.suffix.lower() == ".csv":
        return _parse_csv(path)
    if path.suffix.lower() == ".json":
        return _parse_json(path)
    raise PortfolioFileError(f"{path.name}: expected a .csv or .json file")


def load_portfolios(conn: psycopg.Connection, portfolios: list[Portfolio]) -> int:
    """Upsert portfolios and replace their holdings, in one transaction; holdings loaded."""
    names = sorted({item for p in portfolios for item in p.holdings})
    ids = dict(resolve_item_ids(conn, names).iter_rows()) if names else {}
    loaded = 0
    with conn.transaction():
        for portfolio in portfolios:
            (portfolio_id,) = conn.execute(
                "INSERT INTO portfolios (name, owner) VALUES (%s, %s)"
                " ON CONFLICT (name) DO UPDATE SET owner = EXCLUDED.owner RETURNING portfolio_id",
                (portfolio.name, portfolio.owner),
            ).fetchone()
            conn.execute("DELETE FROM portfolio_holdings WHERE portfolio_id = %s", (portfolio_id,))
            with conn.cursor() as cur:
                cur.executemany(
                    "INSERT INTO portfolio_holdings (portfolio_id, item_id, quantity)"
                    " VALUES (%s, %s, %s)",
                    [(portfolio_id, ids[name], qty) for name, qty in portfolio.holdings.items()],
                )
            loaded += len(portfolio.holdings)
    return loaded
