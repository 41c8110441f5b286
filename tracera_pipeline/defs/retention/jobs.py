"""The retention job: drop raw days/chunks that are past retention and aggregated, and
item_volatility rows past theirs."""

from datetime import datetime

import dagster as dg

from tracera_pipeline.analytics.volatility_retention import prune_volatility
from tracera_pipeline.defs.resources import PostgresResource
from tracera_pipeline.storage.retention import apply_retention, raw_watermark


class RetentionConfig(dg.Config):
    cutoff: str  # ISO time; raw data wholly before it may go


@dg.op(description="Drop raw price_history segments before the cutoff that are fully aggregated.")
def drop_expired_raw_data(
    context: dg.OpExecutionContext, config: RetentionConfig, postgres: PostgresResource
) -> dg.Output[int]:
    cutoff = datetime.fromisoformat(config.cutoff)
    with postgres.connection() as conn:
        # Planned again at run time, under the retention lock: data may have
        # changed since the sensor looked.
        plan = apply_retention(conn, postgres.flavor, cutoff)
        watermark = raw_watermark(conn)
    dropped = plan.droppable
    if plan.orphaned:
        rows = sum(plan.orphaned.values())
        context.log.warning(
            f"dropped {rows} raw row(s) in {', '.join(plan.orphaned)} that landed before the"
            " retention watermark (a backfill older than the watermark, from before such"
            " backfills were refused): no refresh could ever aggregate them; the aggregates"
            " of those hours are kept as they were"
        )
    if plan.blocked:
        segment, reason = plan.blocked
        context.log.warning(f"kept {segment.name} and later segments: {reason}")
    context.log.info(f"dropped {len(dropped)} raw segment(s) before {cutoff.isoformat()}")
    return dg.Output(
        len(dropped),
        metadata={
            "dropped_segments": dg.MetadataValue.json([s.name for s in dropped]),
            "orphaned_rows_dropped": dg.MetadataValue.json(plan.orphaned),
            "cutoff": cutoff.isoformat(),
            "raw_retained_from": watermark.isoformat() if watermark else None,
            "blocked_reason": plan.blocked[1] if plan.blocked else None,
        },
    )


class VolatilityRetentionConfig(dg.Config):
    cutoff: str  # ISO time; item_volatility rows as of before it go


@dg.op(description="Delete item_volatility rows as of before the cutoff (recomputable).")
def prune_item_volatility(
    context: dg.OpExecutionContext, config: VolatilityRetentionConfig, postgres: PostgresResource
) -> dg.Output[int]:
    with postgres.connection() as conn:
        pruned = prune_volatility(conn, datetime.fromisoformat(config.cutoff))
    context.log.info(f"deleted {pruned.rows_deleted} item_volatility row(s) before {config.cutoff}")
    return dg.Output(
        pruned.rows_deleted,
        metadata={
            "rows_deleted": pruned.rows_deleted,
            "cutoff": pruned.cutoff.isoformat(),
            "oldest_as_of_kept": pruned.oldest_kept.isoformat() if pruned.oldest_kept else None,
        },
    )


@dg.job(
    description="Apply retention: raw prices and item_volatility (launched by the"
    " raw_retention sensor)."
)
def raw_retention_job() -> None:
    drop_expired_raw_data()
    prune_item_volatility()
