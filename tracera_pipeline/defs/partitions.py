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


# Downstream assets refresh the partitions whose upstream partitions updated — in
# ANY time window, so a backfill of only the provider assets (or late data for an
# old hour) reaches aggregates, volatility, spreads, caches and snapshots for
# exactly that range. `eager()` would act in the latest time window only.
# * no `any_deps_missing` gate: one failing provider blocks nothing;
# * no `newly_missing`: a new empty hour is not computed before its data lands;
# * `any_deps_updated` ignores updates by a run that also targets the asset, so a
#   backfill of the whole graph computes nothing twice;
# * waits while an upstream partition is still in progress (one run per range).
DOWNSTREAM_AUTOMATION = (
    dg.AutomationCondition.any_deps_updated().since_last_handled()
    & ~dg.AutomationCondition.any_deps_in_progress()
    & ~dg.AutomationCondition.in_progress()
).with_label("any_deps_updated_in_any_partition")

# Bounded ranges per run (fault isolation); one policy for the whole graph so a
# backfill of everything plans the same runs for every asset.
BACKFILL_POLICY = dg.BackfillPolicy.multi_run(max_partitions_per_run=24)
