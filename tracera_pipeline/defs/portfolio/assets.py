"""``portfolio/portfolio_snapshots``: every portfolio valued at each partition end."""

from collections.abc import Sequence

import dagster as dg

from tracera_pipeline.defs.partitions import (
    BACKFILL_POLICY,
    DOWNSTREAM_AUTOMATION,
    HOURLY,
    partition_windows,
)
from tracera_pipeline.defs.resources import PostgresResource
from tracera_pipeline.portfolio.valuation import snapshot_portfolios


def build_portfolio_snapshots_asset(raw_keys: Sequence[dg.AssetKey]) -> dg.AssetsDefinition:
    @dg.asset(
        key=dg.AssetKey(["portfolio", "portfolio_snapshots"]),
        group_name="portfolio",
        description="Value of every portfolio at each partition end, from the held items'"
        " latest prices before that time (point-in-time correct in backfills).",
        deps=list(raw_keys),
        partitions_def=HOURLY,
        automation_condition=DOWNSTREAM_AUTOMATION,
        backfill_policy=BACKFILL_POLICY,
        kinds={"postgres"},
    )
    def portfolio_snapshots(
        context: dg.AssetExecutionContext, postgres: PostgresResource
    ) -> dg.MaterializeResult:
        ends = [window.end for window in partition_windows(context)]
        with postgres.connection() as conn:
            rows = sum(snapshot_portfolios(conn, at) for at in ends)
            total = conn.execute(
                "SELECT coalesce(sum(value_cents), 0) FROM portfolio_snapshots WHERE time = %s",
                (ends[-1],),
            ).fetchone()[0]
        context.log.info(f"portfolio snapshots: {rows} rows for {len(ends)} time(s)")
        return dg.MaterializeResult(
            metadata={
                "dagster/row_count": rows,
                "snapshot_times": len(ends),
                "total_value_cents_last": int(total),
                "as_of_last": ends[-1].isoformat(),
            }
        )

    return portfolio_snapshots
