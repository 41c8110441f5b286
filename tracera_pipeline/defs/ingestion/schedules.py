"""The ingestion job and its schedule: the open hour on every tick, and each hour
once more after it closes, so every sample of every hour lands."""

from collections.abc import Sequence
from datetime import timedelta

import dagster as dg

from tracera_pipeline import config
from tracera_pipeline.defs.ingestion.assets import RAW_GROUP, provider_asset_key
from tracera_pipeline.defs.partitions import HOURLY
from tracera_pipeline.providers.registry import HISTORY_PROVIDERS

INGEST_JOB = "ingest_prices"
SCHEDULED_AT_TAG = "tracera/scheduled_at"
CLOSED_HOUR_TAG = "tracera/closed_hour"


def _closed_hour_requested(context: dg.ScheduleEvaluationContext, hour: str) -> bool:
    """Whether a run already ingests (or ingested) the closed ``hour``."""
    runs = context.instance.get_run_records(
        filters=dg.RunsFilter(tags={CLOSED_HOUR_TAG: hour}), limit=1
    )
    return bool(runs)


def build_ingest_job(executor: dg.ExecutorDefinition | None = None):  # -> an unresolved job
    """One step per provider (freshness is a FreshnessPolicy, evaluated by the daemon)."""
    return dg.define_asset_job(
        INGEST_JOB,
        selection=dg.AssetSelection.groups(RAW_GROUP),
        executor_def=executor,
        description="Fetch every enabled provider for a partition (one step per provider).",
    )


def build_ingest_schedule(providers: Sequence[str]) -> dg.ScheduleDefinition:
    history = [provider_asset_key(p) for p in providers if p in HISTORY_PROVIDERS]

    @dg.schedule(
        name="ingest_current_window",
        job_name=INGEST_JOB,
        cron_schedule=config.ingest_cron(),
        execution_timezone="UTC",
        default_status=dg.DefaultScheduleStatus.RUNNING,
        description="Every tick (TRACERA_INGEST_CRON): the open hour, merging new snapshots."
        " The first tick after an hour closes also ingests that hour once more, for the"
        " providers with history, so samples after the last tick of the hour land too.",
    )
    def ingest_current_window(context: dg.ScheduleEvaluationContext) -> list[dg.RunRequest]:
        scheduled = context.scheduled_execution_time
        tags = {SCHEDULED_AT_TAG: scheduled.isoformat()}
        open_hour = HOURLY.get_partition_key_for_timestamp(scheduled.timestamp())
        requests = [
            dg.RunRequest(
                partition_key=open_hour,
                run_key=f"{open_hour}@{scheduled:%Y-%m-%dT%H:%M}",
                tags=tags,
            )
        ]
        closed = HOURLY.get_partition_key_for_timestamp(
            (scheduled - timedelta(hours=1)).timestamp()
        )
        if history and closed != open_hour and not _closed_hour_requested(context, closed):
            # Once per closed hour, at the first tick after it (also after missed ticks).
            # A run key alone would not do: the daemon dedupes run keys per tick only.
            requests.append(
                dg.RunRequest(
                    partition_key=closed,
                    run_key=f"closed:{closed}",
                    asset_selection=history,
                    tags={**tags, CLOSED_HOUR_TAG: closed},
                )
            )
        return requests

    return ingest_current_window
