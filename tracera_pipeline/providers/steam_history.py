"""Steam ``pricehistory`` points → rows: dates, exact cents, volumes.

A point is ``["Nov 24 2025 01: +0", 1.08, "3514"]``: the hour (UTC), the median
price of that hour (or day, for older points) in the wallet currency's major
units, and the volume as text.
"""

from __future__ import annotations

import logging
import re
from datetime import UTC, datetime
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any

from tracera_pipeline.providers.base import INVALID_REASON
from tracera_pipeline.providers.steam_prices import parse_volume
from tracera_pipeline.providers.steam_settings import PRICEHISTORY

log = logging.getLogger(__name__)

_INT32_MAX = 2**31 - 1
_MONTHS = {
    m: i
    for i, m in enumerate(
        ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"), 1
    )
}
# "Nov 24 2025 01: +0": month, day, year, hour, always UTC. Parsed by hand because
# strptime's %b follows the process locale.
_HISTORY_DATE = re.compile(r"([A-Z][a-z]{2}) +(\d{1,2}) (\d{4}) (\d{1,2}): \+0")


def parse_history_time(text: str) -> datetime:
    """``"Nov 24 2025 01: +0"`` → 2025-11-24 01:00 UTC; ``ValueError`` otherwise."""
    match = _HISTORY_DATE.fullmatch(text.strip()) if isinstance(text, str) else None
    if match is None or match.group(1) not in _MONTHS:
        raise ValueError(f"unexpected pricehistory date {text!r}")
    month, day, year, hour = match.groups()
    return datetime(int(year), _MONTHS[month], int(day), int(hour), tzinfo=UTC)


def history_price_cents(value: Any) -> int:
    """A pricehistory price (float, or numeric text) in major units → exact cents.

    ``Decimal(str(x))``: a float's ``str`` is its shortest repr, so 1.13 → 113 where
    ``int(1.13 * 100)`` gives 112. Sub-cent medians round half up.
    """
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise ValueError(f"unexpected price {value!r}")
    try:
        amount = Decimal(str(value).strip())
    except InvalidOperation:
        raise ValueError(f"unexpected price {value!r}") from None
    if not amount.is_finite():
        raise ValueError(f"unexpected price {value!r}")
    return int((amount * 100).quantize(Decimal(1), rounding=ROUND_HALF_UP))


def volume_or_none(value: Any, name: str) -> int | None:
    """A sales count, or None (logged) when Steam's text cannot be read."""
    if value is None:
        return None
    try:
        volume = parse_volume(value)
    except (ValueError, TypeError):
        log.warning("steam: %s: unreadable volume %r, stored as null", name, value)
        return None
    return volume if volume <= _INT32_MAX else None


def history_rows(
    name: str,
    points: list[Any],
    window_start: datetime,
    window_end: datetime,
    stats: dict[str, int],
) -> list[dict[str, Any]]:
    """Rows of one item's points inside the window; unreadable prices stay, with
    their text and reason, for the quarantine; malformed points are counted."""
    rows, malformed = [], 0
    for point in points:
        try:
            when = parse_history_time(point[0])
            raw, volume = point[1], point[2]
        except (ValueError, TypeError, IndexError, KeyError):
            malformed += 1
            continue
        if not window_start <= when < window_end:
            continue
        reason = None
        try:
            cents: int | None = history_price_cents(raw)
        except ValueError as exc:
            cents, reason = None, f"unparseable price: {exc}"
            stats["history_unparseable"] += 1
        rows.append(
            {
                "time": when,
                "market_hash_name": name,
                "price_cents": cents,
                "volume": volume_or_none(volume, name),
                "listings": None,
                "raw_price": None if raw is None else str(raw),
                INVALID_REASON: reason,
            }
        )
    if malformed:
        stats["history_bad_points"] += malformed
        log.warning("steam %s: %r: skipped %d malformed point(s)", PRICEHISTORY, name, malformed)
    return rows
