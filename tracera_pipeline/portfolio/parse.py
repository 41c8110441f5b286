"""Read a portfolio file (CSV or JSON) into portfolios, reporting every bad row.

CSV: a header ``portfolio,market_hash_name,quantity`` (and optional ``owner``), one
holding per line. JSON: ``[{"name": …, "owner": …, "holdings": [{"market_hash_name":
…, "quantity": n}]}]``. UTF-8, with or without a byte-order mark.

Nothing is merged or reshaped: a portfolio given twice, an item held twice by one
portfolio, two owners for one portfolio, an unknown column or field are reported
with their lines, like bad values. Any problem loads nothing.
"""

from __future__ import annotations

from pathlib import Path

from tracera_pipeline.portfolio.csv_file import parse_csv
from tracera_pipeline.portfolio.json_file import parse_json
from tracera_pipeline.portfolio.model import Portfolio, PortfolioFileError, not_utf8

__all__ = ["Portfolio", "PortfolioFileError", "parse_portfolio_file"]


def _read_text(path: Path) -> str:
    try:
        return path.read_bytes().decode("utf-8-sig")  # a byte-order mark is fine
    except UnicodeDecodeError:
        raise not_utf8(path) from None


def parse_portfolio_file(path: Path) -> list[Portfolio]:
    suffix = path.suffix.lower()
    if suffix not in (".csv", ".json"):
        raise PortfolioFileError.whole_file(
            path.name, "expected a .csv or .json file; give the file one of those endings"
        )
    try:
        if suffix == ".csv":
            return parse_csv(path)
        text = _read_text(path)
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        raise PortfolioFileError.whole_file(
            path.name, f"cannot read {path} ({reason}); check the path"
        ) from None
    if not text.strip():
        raise PortfolioFileError.whole_file(
            path.name, "the file is empty; give a JSON list of portfolios"
        )
    return parse_json(path.name, text)
