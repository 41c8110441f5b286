"""What a Steam fetch that did not fail can still have got wrong (``FetchIssue``s).

Steam answers ``success:true`` with no price fields for items without listings,
and for every item while it soft-rate-limits an IP: a run where every answer was
priceless "fetched nothing it should have", and must not look green.
"""

from __future__ import annotations

from tracera_pipeline.providers.base import FetchIssue
from tracera_pipeline.providers.steam_settings import WATCHLIST_ENV


def _live_issues(stats: dict[str, int], currency: str) -> list[FetchIssue]:
    priced, unreadable = stats["priced"], stats["unparseable"]
    answered = priced + unreadable + stats["no_price"]
    issues = []
    if answered and not priced and not unreadable:
        issues.append(
            FetchIssue(
                "no_prices",
                f"Steam answered all {answered} watchlist item(s) without a price, as it does"
                " while soft rate limiting (or when nothing is listed); if it persists, lower"
                " the steam budget in TRACERA_PROVIDER_RATE_LIMITS",
            )
        )
    if unreadable:
        issues.append(
            FetchIssue(
                "unparseable_prices",
                f"{unreadable} of {priced + unreadable} Steam price(s) are not written the way"
                f" Steam writes {currency} and were quarantined with their text and the reason"
                " (see rejected_price_points)",
                "warn" if priced else "error",
            )
        )
    return issues


def _shared_issues(stats: dict[str, int], prefix: str) -> list[FetchIssue]:
    issues = []
    if stats[prefix + "unknown"]:
        issues.append(
            FetchIssue(
                "unknown_items",
                f"{stats[prefix + 'unknown']} watchlist item(s) are unknown to Steam"
                f" (success:false); check their exact names, with the wear, in {WATCHLIST_ENV}",
                "warn",
            )
        )
    if stats[prefix + "failed"]:
        issues.append(
            FetchIssue(
                "failed_items",
                f"{stats[prefix + 'failed']} watchlist request(s) failed after retries and"
                " gave no price (see the step's log); the next run asks again",
                "warn",
            )
        )
    return issues


def _history_issues(stats: dict[str, int]) -> list[FetchIssue]:
    issues = []
    answered = stats["history_requested"] - stats["history_unknown"] - stats["history_failed"]
    if answered and stats["history_empty"] == answered:
        issues.append(
            FetchIssue(
                "empty_history",
                f"Steam returned an empty price history for all {answered} watchlist item(s);"
                " if it persists, check that the login cookie is current",
                "warn",
            )
        )
    if stats["history_unparseable"]:
        issues.append(
            FetchIssue(
                "unparseable_prices",
                f"{stats['history_unparseable']} history price(s) could not be read and were"
                " quarantined (see rejected_price_points)",
                "warn",
            )
        )
    return issues


def steam_issues(stats: dict[str, int], currency: str) -> list[FetchIssue]:
    """The issues of one fetch, from its ``last_stats``."""
    issues = []
    if stats["requested"]:
        issues += _live_issues(stats, currency) + _shared_issues(stats, "")
    if stats["history_requested"]:
        issues += _history_issues(stats) + _shared_issues(stats, "history_")
    return issues
