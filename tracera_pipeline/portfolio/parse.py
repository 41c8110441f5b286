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
from tracera_pipeline.portfolio.model import Portfolio, PortfolioFileError

__all__ = ["Portfolio", "PortfolioFileError", "parse_portfolio_file"]


def _read_text(path: Path) -> str:
    try:
        data = path.read_bytes()
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        raise PortfolioFileError.whole_file(
            path.name, f"cannot read {path} ({reason}); check the path"
        ) from None
    try:
        return data.decode("utf-8-sig")  # a byte-order mark is fine and not part of the header
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise PortfolioFileError.whole_file(
            path.name, f"line {line}: byte 0x{data[exc.start]:02x} is not UTF-8; save it as UTF-8"
        ) from None


def parse_portfolio_file(path: Path) -> list[Portfolio]:
    suffix = path.suffix.lower()
    if suffix not in (".csv", ".json"):
        raise PortfolioFileError.whole_file(
            path.name, "expected a .csv or .json file; give the file one of those endings"
        )
    text = _read_text(path)
    if not text.strip():
        raise PortfolioFileError.whole_file(
            path.name, "the file is empty; give a CSV header or a JSON list"
        )
    return parse_csv(path.name, text) if suffix == ".csv" else parse_json(path.name, text)
