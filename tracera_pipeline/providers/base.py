"""What every provider adapter returns, and the protocol it implements."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Literal, Protocol

import polars as pl

from tracera_pipeline.storage.price_writer import WriteMode

# The one schema every adapter produces (rows are validated before writing).
PRICE_SCHEMA: dict[str, pl.DataType] = {
    "time": pl.Datetime("us", "UTC"),
    "market_hash_name": pl.String(),
    "price_cents": pl.Int64(),
    "volume": pl.Int32(),
    "listings": pl.Int32(),
}


# Optional column an adapter sets on rows it knows are unusable, with the reason;
# validation quarantines them under that reason. (``raw_price`` may carry the
# provider's original value for the quarantine too.)
INVALID_REASON = "invalid_reason"


@dataclass(frozen=True)
class FetchIssue:
    """Something a fetch that did not fail still got wrong: it should have brought
    prices and brought none, or fewer than it should (adapters list them in
    ``last_issues``; the ingest asset turns them into a failing check)."""

    cause: str  # short, stable: "no_prices", "source_missing", "unparseable_prices"…
    message: str  # one sentence: what happened, with counts, and what to do
    severity: Literal["error", "warn"] = "error"

    def as_dict(self) -> dict[str, str]:
        return asdict(self)


class PriceProvider(Protocol):
    """Turns a market API into price rows for a time window."""

    name: str
    # False: only live snapshots; historical windows are recorded as 0 rows + a flag.
    supports_history: bool
    # REPLACE for sources that return a whole window, MERGE for live snapshots.
    write_mode: WriteMode

    def fetch(self, window_start: datetime, window_end: datetime) -> pl.DataFrame:
        """Rows observed in ``[window_start, window_end)``, shaped like ``PRICE_SCHEMA``."""
        ...
