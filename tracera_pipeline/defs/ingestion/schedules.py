"""The ingestion job and its schedule: the current hour, every 15 minutes by default."""

import os

import dagster as dg

from tracera_pipeline.defs.ingestion.assets import RAW_GROUP
from tracera_pipeline.defs.partitions import HOURLY

INGEST_CRON = os.environ.get("TRACERA_INGEST_CRON", "*/15 * * * *")

ingest_prices_job = dg.define_asset_job(
    "ingest_prices",
    selection=dg.AssetSelection.groups(RAW_GROUP),
    description="Fetch every enabled provider for a partition (one step per provider).",
)


@dg.schedule(
    job=ingest_prices_job,
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
