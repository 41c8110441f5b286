"""The one hourly partitions definition every partitioned asset shares."""

from __future__ import annotations

import dagster as dg

from tracera_pipeline import config

# end_offset=1: the in-progress hour is a partition too, so the 15-minute
# schedule ingests the open window and re-runs of it merge new snapshots.
HOURLY = dg.HourlyPartitionsDefinition(
    start_date=config.partition_start(), end_offset=1, timezone="UTC"
)


def partition_windows(context: dg.AssetExecutionContext) -> list[dg.TimeWindow]:
    """One time window per partition key of the run (a run may cover a range)."""
    return [HOURLY.time_window_for_partition_key(key) for key in context.partition_keys]


# Downstream assets refresh when any upstream partition updates, even if another
# provider's partition is missing or failed (one failing provider blocks nothing).
DOWNSTREAM_AUTOMATION = dg.AutomationCondition.eager().without(
    ~dg.AutomationCondition.any_deps_missing()
)

# Bounded ranges per run (fault isolation); one policy for the whole graph so a
# backfill of everything plans the same runs for every asset.
BACKFILL_POLICY = dg.BackfillPolicy.multi_run(max_partitions_per_run=24)
