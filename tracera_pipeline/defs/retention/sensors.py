"""The retention sensor: asks for a retention run when raw data can be dropped."""

import json
from datetime import UTC, datetime

import dagster as dg

from tracera_pipeline.defs.resources import PostgresResource
from tracera_pipeline.defs.retention.jobs import raw_retention_job
from tracera_pipeline.storage.retention import plan_retention, retention_cutoff


@dg.sensor(
    job=raw_retention_job,
    minimum_interval_seconds=3600,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Hourly: request raw_retention_job when raw days past TRACERA_RAW_RETENTION_DAYS"
    " are fully aggregated (one run per cutoff day).",
)
def raw_retention_sensor(
    context: dg.SensorEvaluationContext, postgres: PostgresResource
) -> dg.SensorResult | dg.SkipReason:
    cutoff = retention_cutoff(datetime.now(UTC), postgres.raw_retention_days)
    with postgres.connection() as conn:
        plan = plan_retention(conn, postgres.flavor, cutoff)
    if not plan.droppable:
        why = f"; blocked: {plan.blocked[1]}" if plan.blocked else ""
        return dg.SkipReason(f"nothing to drop before {cutoff.date()}{why}")
    return dg.SensorResult(
        run_requests=[
            dg.RunRequest(
                # One run per cutoff day: re-evaluations the same day ask again only
                # if that run never happened.
                run_key=f"retention:{cutoff.date().isoformat()}",
                run_config=dg.RunConfig(
                    ops={"drop_expired_raw_data": {"config": {"cutoff": cutoff.isoformat()}}}
                ),
                tags={"tracera/retention_cutoff": cutoff.isoformat()},
            )
        ],
        cursor=json.dumps({"cutoff": cutoff.isoformat(), "segments": len(plan.droppable)}),
    )
