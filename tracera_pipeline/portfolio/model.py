"""What a portfolio file holds, and how its problems are collected and reported."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from tracera_pipeline.portfolio.fields import shown

SHOWN_PROBLEMS = 50


class PortfolioFileError(ValueError):
    """Every problem found in a file (the first ``SHOWN_PROBLEMS`` listed), nothing loaded."""

    def __init__(self, file_name: str, problems: list[str], total: int | None = None) -> None:
        total = total if total is not None else len(problems)
        listed = "\n".join(f"  {problem}" for problem in problems)
        more = f"\n  … and {total - len(problems):,} more" if total > len(problems) else ""
        super().__init__(
            f"{file_name}: {total:,} problem(s), nothing was loaded; fix each one and load the"
            f" file again:\n{listed}{more}"
        )
        self.problems, self.total = problems, total

    @classmethod
    def whole_file(cls, file_name: str, message: str) -> PortfolioFileError:
        """A problem with the file as a whole: one line."""
        error = cls(file_name, [message])
        error.args = (f"{file_name}: {message}",)
        return error


@dataclass
class Portfolio:
    name: str
    owner: str | None = None
    holdings: dict[str, int] = field(default_factory=dict)
    # The line each holding was given on, to report unknown names there.
    origins: dict[str, int] = field(default_factory=dict)


class Problems:
    """Every problem of a file, counted; the first ``SHOWN_PROBLEMS`` kept to show."""

    def __init__(self, file_name: str) -> None:
        self.file_name, self.shown, self.total = file_name, [], 0

    def add(self, line: int | None, message: str) -> None:
        self.total += 1
        if len(self.shown) < SHOWN_PROBLEMS:
            where = f"{self.file_name}:{line}" if line is not None else self.file_name
            self.shown.append(f"{where}: {message}")

    def raise_if_any(self) -> None:
        if self.total:
            raise PortfolioFileError(self.file_name, self.shown, self.total)


def add_holding(
    portfolio: Portfolio, name: str, quantity: int, line: int, problems: Problems
) -> None:
    """One holding more; an item the portfolio already holds is a problem, never summed."""
    if name in portfolio.holdings:
        problems.add(
            line,
            f"{shown(name)} is already held by portfolio {shown(portfolio.name)} (line"
            f" {portfolio.origins[name]}); give each item once per portfolio, with the total",
        )
        return
    portfolio.holdings[name], portfolio.origins[name] = quantity, line


def not_utf8(path: Path) -> PortfolioFileError:
    """Where the file stops being UTF-8 (found again from its bytes: a decoder reading
    ahead in blocks does not know the line)."""
    data = path.read_bytes()
    try:
        data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        return PortfolioFileError.whole_file(
            path.name, f"line {line}: byte 0x{data[exc.start]:02x} is not UTF-8; save it as UTF-8"
        )
    return PortfolioFileError.whole_file(path.name, "the file is not UTF-8; save it as UTF-8")
