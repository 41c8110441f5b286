"""JSON portfolio files: ``[{"name": …, "owner": …, "holdings": [{"market_hash_name": …,
"quantity": n}]}]``; every bad portfolio or holding reported with its line."""

from __future__ import annotations

import json

from tracera_pipeline.portfolio.fields import (
    json_kind,
    quantity_from_json,
    shown,
    text_problem,
)
from tracera_pipeline.portfolio.json_positions import JsonText, Located
from tracera_pipeline.portfolio.model import Portfolio, PortfolioFileError, Problems, add_holding

_PORTFOLIO_FIELDS = ("name", "owner", "holdings")
_HOLDING_FIELDS = ("market_hash_name", "quantity")


def parse_json(file_name: str, text: str) -> list[Portfolio]:
    try:
        json.loads(text)
    except json.JSONDecodeError as exc:
        raise PortfolioFileError.whole_file(
            file_name,
            f"line {exc.lineno}, column {exc.colno}: invalid JSON ({exc.msg});"
            " fix the syntax there",
        ) from None
    except (ValueError, RecursionError) as exc:  # 4,300+ digit numbers, absurd nesting
        raise PortfolioFileError.whole_file(
            file_name, f"unreadable JSON ({exc}); fix the file"
        ) from None
    problems, document = Problems(file_name), JsonText(text)
    root = document.root()
    if not isinstance(root.value, list):
        problems.add(root.line, f"expected a JSON list of portfolios, not {json_kind(root.value)}")
        problems.raise_if_any()
    portfolios: dict[str, Portfolio] = {}
    lines: dict[str, int] = {}
    for entry in document.elements(root):
        portfolio = _json_portfolio(entry, problems)
        if portfolio is None:
            continue
        if portfolio.name in portfolios:
            problems.add(
                entry.line,
                f"portfolio {shown(portfolio.name)} is given again (first on line"
                f" {lines[portfolio.name]}); merge the two into one entry",
            )
            continue
        portfolios[portfolio.name], lines[portfolio.name] = portfolio, entry.line
        for holding in document.elements(entry.members["holdings"]):
            _json_holding(holding, portfolio, problems)
    problems.raise_if_any()
    return list(portfolios.values())


def _fields(entry: Located, allowed: tuple[str, ...], what: str, problems: Problems) -> bool:
    if not isinstance(entry.value, dict):
        problems.add(entry.line, f"expected a {what} object, not {json_kind(entry.value)}")
        return False
    for key in entry.repeated_keys:
        problems.add(entry.line, f"field {key!r} is given twice in this {what}; keep one")
    for key in entry.members.keys() - set(allowed):
        problems.add(
            entry.members[key].line,
            f"unknown field {shown(key)} in a {what}; the fields are {', '.join(allowed)}",
        )
    return not entry.repeated_keys and entry.members.keys() <= set(allowed)


def _line(entry: Located, key: str) -> int:
    """The line of a member's value, or of the object when the member is missing."""
    return entry.members[key].line if key in entry.members else entry.line


def _json_portfolio(entry: Located, problems: Problems) -> Portfolio | None:
    if not _fields(entry, _PORTFOLIO_FIELDS, "portfolio", problems):
        return None
    value = entry.value
    found = [
        ("name", "name is missing; give the portfolio a name" if "name" not in value
         else text_problem(value["name"], "portfolio name")),
        ("owner", None if value.get("owner") is None else text_problem(value["owner"], "owner")),
        ("holdings", "holdings is missing; give a list of holdings (it may be empty)"
         if "holdings" not in value else None if isinstance(value["holdings"], list)
         else f"holdings must be a list, not {json_kind(value['holdings'])}"),
    ]  # fmt: skip
    for key, problem in found:
        if problem:
            problems.add(_line(entry, key), problem)
    if any(problem for _, problem in found):
        return None
    return Portfolio(value["name"], value.get("owner"))


def _json_holding(holding: Located, portfolio: Portfolio, problems: Problems) -> None:
    if not _fields(holding, _HOLDING_FIELDS, "holding", problems):
        return
    value = holding.value
    name = value.get("market_hash_name")
    name_problem = (
        "market_hash_name is missing; give the item's name"
        if "market_hash_name" not in value
        else text_problem(name, "market_hash_name")
    )
    if "quantity" not in value:
        quantity, quantity_problem = None, "quantity is missing; give a whole number, e.g. 3"
    else:
        quantity, quantity_problem = quantity_from_json(value["quantity"])
    for key, problem in (("market_hash_name", name_problem), ("quantity", quantity_problem)):
        if problem:
            problems.add(_line(holding, key), problem)
    if name_problem is None and quantity is not None:
        add_holding(portfolio, name, quantity, _line(holding, "market_hash_name"), problems)
