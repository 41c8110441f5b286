"""The one hourly partitions definition every partitioned asset shares."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta

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
_READY = (
    dg.AutomationCondition.any_deps_updated().since_last_handled()
    & ~dg.AutomationCondition.any_deps_in_progress()
    & ~dg.AutomationCondition.in_progress()
)
# The open hour is requested as soon as it is ready; an older hour one evaluation
# later (~5 s), with everything downstream of it in that same evaluation. When one
# evaluation requests more than one partition of an asset, Dagster makes it a
# backfill, and the backfill daemon picks backfills up every 30 s (not
# configurable): at each hour's first tick the closed hour's re-fetch and the open
# hour's landed together and fresh prices took 35-45 s instead of ~13. Delayed,
# the older hours become a run (or, for a backfilled range, a backfill under
# BACKFILL_POLICY) of their own and the open hour goes alone, as a plain run.
DOWNSTREAM_AUTOMATION = (
    _READY
    & (
        dg.AutomationCondition.in_latest_time_window()
        | ~_READY.newly_true()
        | dg.AutomationCondition.any_deps_match(dg.AutomationCondition.will_be_requested())
    )
).with_label("any_deps_updated_in_any_partition")

# Downstream steps read and write only PostgreSQL and Redis: a restart or failover
# of either (refused connections, a lost connection) heals, so they are tried again
# after 5, 15 and 35 s. No jitter: Dagster's (± the delay) would sometimes retry
# at once, before a restarting server is back, and a handful of steps retrying
# together is no load for it. What cannot heal — a wrong password or host, an
# edited migration, an unusable setting — fails at once: the resources raise those
# as dg.Failure(allow_retries=False).
DOWNSTREAM_RETRY_POLICY = dg.RetryPolicy(max_retries=3, delay=5, backoff=dg.Backoff.EXPONENTIAL)

# When several steps of a run are ready, those on the way to fresh Redis keys go
# first (Dagster's step priority, higher first): the latest prices, then the chain
# to the volatility rankings (price_1h, price_24h, item_volatility); spreads,
# portfolio snapshots and the 7d rollup after them.
LATEST_PRICES_PRIORITY = {"dagster/priority": "2"}
RANKINGS_PATH_PRIORITY = {"dagster/priority": "1"}

# Bounded ranges per run (fault isolation); one policy for the whole graph so a
# backfill of everything plans the same runs for every asset.
BACKFILL_POLICY = dg.BackfillPolicy.multi_run(max_partitions_per_run=24)


# The schedule ticks every 15 minutes: two missed ticks warn, an hour fails.
FRESHNESS = dg.FreshnessPolicy.time_window(
    fail_window=timedelta(hours=1), warn_window=timedelta(minutes=35)
)


def row_metadata(
    context: dg.AssetExecutionContext, rows: int, by_partition: Mapping[str, int] | None = None
) -> dict[str, object]:
    """Row counts the Dagster way. ``dagster/partition_row_count`` only where it is the
    partition's own count: a ranged run's metadata is copied to every partition it
    covers, so there it states the run's total and, when known, each partition's."""
    keys = context.partition_keys
    metadata: dict[str, object] = {"rows_in_run": rows, "partitions_in_run": len(keys)}
    if len(keys) == 1:
        metadata["dagster/partition_row_count"] = rows
    elif by_partition is not None:
        counts = {key: by_partition.get(key, 0) for key in keys}
        metadata["rows_by_partition"] = dg.MetadataValue.json(counts)
    return metadata
