"""The ingestion job and its schedule: the current hour, every 15 minutes by default."""

import os
from collections.abc import Sequence

import dagster as dg

from tracera_pipeline.defs.ingestion.assets import RAW_GROUP
from tracera_pipeline.defs.partitions import HOURLY

INGEST_CRON = os.environ.get("TRACERA_INGEST_CRON", "*/15 * * * *")

INGEST_JOB = "ingest_prices"


def build_ingest_job(
    exclude_checks: Sequence[dg.AssetChecksDefinition] = (),
):  # -> an unresolved asset job (not exported by dagster)
    """One step per provider. Freshness checks stay out: their sensor evaluates them,
    and inside the job a failed provider would skip them for every provider."""
    return dg.define_asset_job(
        INGEST_JOB,
        selection=dg.AssetSelection.groups(RAW_GROUP) - dg.AssetSelection.checks(*exclude_checks),
        description="Fetch every enabled provider for a partition (one step per provider).",
    )


@dg.schedule(
    job_name=INGEST_JOB,
    cron_schedule=INGEST_CRON,
    execution_timezone="UTC",
    default_status=dg.DefaultScheduleStatus.RUNNING,
    description="Ingest the open hour (merging new snapshots) on TRACERA_INGEST_CRON.",
)
def ingest_current_window(context: dg.ScheduleEvaluationContext) -> dg.RunRequest:
    scheduled = context.scheduled_execution_time
    key = HOURLY.get_partition_key_for_timestamp(scheduled.timestamp())  # the open hour
    return dg.RunRequest(
        partition_key=key,
        run_key=f"{key}@{scheduled:%Y-%m-%dT%H:%M}",
        tags={"tracera/scheduled_at": scheduled.isoformat()},
    )
