"""CSV portfolio files: a header ``portfolio,market_hash_name,quantity[,owner]``, one
holding per line; every bad line reported with its number (a quoted field spanning
lines counts from the line it starts on)."""

from __future__ import annotations

import csv
from collections.abc import Iterable, Iterator
from pathlib import Path

from tracera_pipeline.portfolio.fields import quantity_from_text, shown, text_problem
from tracera_pipeline.portfolio.model import (
    Portfolio,
    PortfolioFileError,
    Problems,
    add_holding,
    not_utf8,
)

CSV_COLUMNS = ("portfolio", "market_hash_name", "quantity", "owner")
_REQUIRED = CSV_COLUMNS[:3]


def parse_csv(path: Path) -> list[Portfolio]:
    """Read ``path`` as it streams (memory follows the holdings, not the file)."""
    problems = Problems(path.name)
    # Long fields reach our own checks, which say what is wrong with them.
    previous_limit = csv.field_size_limit(max(path.stat().st_size + 1, csv.field_size_limit()))
    try:
        with path.open(newline="", encoding="utf-8-sig") as handle:
            rows = _rows(handle, problems)
            _, header = next(rows, (1, []))
            if not header and not problems.total:
                raise PortfolioFileError.whole_file(
                    path.name, "the file is empty; give the header and one holding per line"
                )
            columns = _csv_header(header, problems)
            portfolios: dict[str, Portfolio] = {}
            owner_lines: dict[str, int] = {}
            for line, row in rows:
                if row and columns:  # a blank line holds nothing
                    _csv_row(row, columns, line, portfolios, owner_lines, problems)
    except UnicodeDecodeError:
        raise not_utf8(path) from None
    finally:
        csv.field_size_limit(previous_limit)
    problems.raise_if_any()
    return list(portfolios.values())


def _rows(lines: Iterable[str], problems: Problems) -> Iterator[tuple[int, list[str]]]:
    """Rows with the line each starts on; stops at broken CSV (the reader cannot resync)."""
    reader = csv.reader(lines, strict=True)
    line = 1
    while True:
        try:
            row = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            problems.add(line, _csv_error(exc))
            return
        yield line, row
        line = reader.line_num + 1


def _csv_header(header: list[str], problems: Problems) -> dict[str, int] | None:
    expected = "portfolio,market_hash_name,quantity[,owner]"
    unknown = [name for name in header if name not in CSV_COLUMNS]
    repeated = {name for name in header if header.count(name) > 1}
    missing = [name for name in _REQUIRED if name not in header]
    if unknown or repeated or missing:
        parts = [f"unknown column {shown(name)}" for name in unknown]
        parts += [f"column {name!r} given twice" for name in sorted(repeated)]
        parts += [f"column {name!r} missing" for name in missing]
        problems.add(1, f"header: {', '.join(parts)}; the header must be {expected}")
        return None
    return {name: header.index(name) for name in header}


def _csv_error(exc: csv.Error) -> str:
    if "unexpected end of data" in str(exc):
        return "a quoted field opens here and is never closed; close the quote"
    return f"broken CSV ({exc}); quote fields that contain commas or quotes"


def _csv_row(
    row: list[str],
    columns: dict[str, int],
    line: int,
    portfolios: dict[str, Portfolio],
    owner_lines: dict[str, int],
    problems: Problems,
) -> None:
    if len(row) != len(columns):
        problems.add(
            line,
            f"{len(row)} field(s) where the header has {len(columns)}; quote fields that"
            " contain commas",
        )
        return
    values = {name: row[index] for name, index in columns.items()}
    owner = values.get("owner") or None
    found = [
        text_problem(values["portfolio"], "portfolio"),
        text_problem(values["market_hash_name"], "market_hash_name"),
        text_problem(owner, "owner") if owner is not None else None,
    ]
    quantity, quantity_problem = quantity_from_text(values["quantity"])
    for problem in [*found, quantity_problem]:
        if problem:
            problems.add(line, problem)
    if any(found) or quantity is None:
        return
    name = values["portfolio"]
    portfolio = portfolios.get(name)
    if portfolio is None:
        portfolio = portfolios[name] = Portfolio(name, owner)
        owner_lines[name] = line
    if portfolio.owner != owner:
        problems.add(
            line,
            f"owner {shown(owner or '')} differs from {shown(portfolio.owner or '')} given for"
            f" portfolio {shown(name)} on line {owner_lines[name]}; give one owner per portfolio",
        )
        return
    add_holding(portfolio, values["market_hash_name"], quantity, line, problems)
