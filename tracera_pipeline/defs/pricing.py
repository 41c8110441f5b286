"""Pipeline-wide pricing settings: the currency, the reference rule, seller fees."""

from __future__ import annotations

from collections.abc import Sequence

import dagster as dg
from pydantic import Field

from tracera_pipeline.analytics.reference import ReferencePolicy
from tracera_pipeline.defs.failures import settings_checked
from tracera_pipeline.providers.registry import KNOWN_PROVIDERS, seller_fees, split_list
from tracera_pipeline.storage.currency import normalized_currency


class PricingResource(dg.ConfigurableResource):
    """How numbers from several markets are kept apart and, where asked, combined.

    * ``currency`` — every market is asked in it; the database records it.
    * the reference rule — which market's price stands for an item where one
      number is needed (``price:latest:<item_id>``, portfolio valuation).
    * seller fees — for cross-market spreads net of fees.
    """

    currency: str = Field(default="USD", description="ISO code every market is asked in")
    reference_rule: str = Field(default="priority", description="priority or median")
    reference_markets: str = Field(
        default="", description="markets in priority order; empty: the enabled providers"
    )
    reference_max_age_seconds: int = Field(
        default=7200, description="a market's price older than this is not fresh"
    )
    market_fees: str = Field(default="", description="fee overrides, e.g. steam=0.13")

    # Each reader below fails its step at once (no retries) with the parser's
    # one sentence naming the variable.

    def currency_code(self) -> str:
        with settings_checked():
            return normalized_currency(self.currency)

    def policy(self, enabled: Sequence[str]) -> ReferencePolicy:
        markets = split_list(self.reference_markets) or tuple(enabled)
        with settings_checked():
            if problem := self._unknown_markets():
                raise ValueError(problem)
            return ReferencePolicy.parse(
                self.reference_rule, markets, self.reference_max_age_seconds
            )

    def fees(self) -> dict[str, float]:
        with settings_checked():
            return seller_fees(self.market_fees)

    def setting_problems(self) -> list[str]:
        """Every unusable pricing setting, one sentence each (checked when loading)."""
        problems = []
        for read in (self.currency_code, lambda: self.policy(["synthetic"]), self.fees):
            try:
                read()
            except ValueError as exc:
                problems.append(str(exc))
        return problems

    def _unknown_markets(self) -> str | None:
        # A misspelt market would never be fresh: no reference price, silently.
        names = split_list(self.reference_markets)
        unknown = [name for name in names if name.strip().lower() not in KNOWN_PROVIDERS]
        if not unknown:
            return None
        return (
            f"TRACERA_REFERENCE_MARKETS names unknown market(s) {', '.join(map(repr, unknown))};"
            f" list markets from: {', '.join(KNOWN_PROVIDERS)}"
        )
