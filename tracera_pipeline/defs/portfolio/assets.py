"""``portfolio/portfolio_snapshots``: every portfolio valued at each partition end."""

from collections import Counter
from collections.abc import Sequence
from datetime import UTC, datetime

import dagster as dg

from tracera_pipeline.defs.partitions import (
    BACKFILL_POLICY,
    DOWNSTREAM_AUTOMATION,
    DOWNSTREAM_RETRY_POLICY,
    FRESHNESS,
    HOURLY,
    partition_windows,
    row_metadata,
)
from tracera_pipeline.defs.pricing import PricingResource
from tracera_pipeline.defs.resources import PostgresResource
from tracera_pipeline.portfolio.valuation import held_items, snapshot_portfolios


def build_portfolio_snapshots_asset(
    raw_keys: Sequence[dg.AssetKey], markets: Sequence[str]
) -> dg.AssetsDefinition:
    @dg.asset(
        key=dg.AssetKey(["portfolio", "portfolio_snapshots"]),
        group_name="portfolio",
        description="Value of every portfolio at each partition end, each held item priced by"
        " the reference rule (TRACERA_REFERENCE_RULE / _MARKETS) from the prices known then"
        " (point-in-time correct in backfills); reference_prices records which market priced"
        " each held item.",
        deps=list(raw_keys),
        partitions_def=HOURLY,
        automation_condition=DOWNSTREAM_AUTOMATION,
        retry_policy=DOWNSTREAM_RETRY_POLICY,
        backfill_policy=BACKFILL_POLICY,
        freshness_policy=FRESHNESS,
        kinds={"postgres"},
    )
    def portfolio_snapshots(
        context: dg.AssetExecutionContext, postgres: PostgresResource, pricing: PricingResource
    ) -> dg.MaterializeResult:
        # The open hour is valued as of now, not at its end in the future.
        now = datetime.now(UTC)
        ends = [min(window.end, now) for window in partition_windows(context)]
        policy = pricing.policy(markets)
        rows, priced_by = 0, Counter[str]()
        with postgres.connection() as conn:
            held = held_items(conn)  # once per run, not once per partition end
            for at in ends:
                result = snapshot_portfolios(conn, at, policy, held)
                rows += result.portfolios
                priced_by.update(result.priced_by)
            total = conn.execute(
                "SELECT coalesce(sum(value_cents), 0) FROM portfolio_snapshots WHERE time = %s",
                (ends[-1],),
            ).fetchone()[0]
        context.log.info(f"portfolio snapshots: {rows} rows for {len(ends)} time(s)")
        return dg.MaterializeResult(
            metadata={
                **row_metadata(context, rows),
                "snapshot_times": len(ends),
                "reference_rule": policy.describe(),
                "currency": pricing.currency_code(),
                "items_priced_by_market": dg.MetadataValue.json(dict(sorted(priced_by.items()))),
                "total_value_cents_last": int(total),
                "as_of_last": ends[-1].isoformat(),
            }
        )

    return portfolio_snapshots
