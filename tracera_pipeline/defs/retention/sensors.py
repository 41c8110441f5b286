"""The retention sensor: asks for a retention run when raw data or volatility can go."""

import json
from datetime import UTC, datetime

import dagster as dg

from tracera_pipeline.analytics.volatility_retention import volatility_cutoff, volatility_expired
from tracera_pipeline.defs.resources import PostgresResource
from tracera_pipeline.defs.retention.jobs import raw_retention_job
from tracera_pipeline.storage.retention import plan_retention, retention_cutoff


@dg.sensor(
    job=raw_retention_job,
    minimum_interval_seconds=3600,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Hourly: request raw_retention_job when raw days past TRACERA_RAW_RETENTION_DAYS"
    " are fully aggregated, or item_volatility holds rows older than"
    " TRACERA_VOLATILITY_RETENTION_DAYS (one run per cutoff day).",
)
def raw_retention_sensor(
    context: dg.SensorEvaluationContext, postgres: PostgresResource
) -> dg.SensorResult | dg.SkipReason:
    now = datetime.now(UTC)
    cutoff = retention_cutoff(now, postgres.raw_retention_days)
    volatility_before = volatility_cutoff(now, postgres.volatility_retention_days)
    with postgres.connection() as conn:
        plan = plan_retention(conn, postgres.flavor, cutoff)
        volatility_due = volatility_expired(conn, volatility_before)
    if not plan.droppable and not volatility_due:
        why = f"; blocked: {plan.blocked[1]}" if plan.blocked else ""
        return dg.SkipReason(
            f"nothing to drop before {cutoff.date()} (raw) or {volatility_before.date()}"
            f" (item_volatility){why}"
        )
    return dg.SensorResult(
        run_requests=[
            dg.RunRequest(
                # One run per cutoff day: re-evaluations the same day ask again only
                # if that run never happened.
                run_key=f"retention:{cutoff.date().isoformat()}",
                run_config=dg.RunConfig(
                    ops={
                        "drop_expired_raw_data": {"config": {"cutoff": cutoff.isoformat()}},
                        "prune_item_volatility": {
                            "config": {"cutoff": volatility_before.isoformat()}
                        },
                    }
                ),
                tags={"tracera/retention_cutoff": cutoff.isoformat()},
            )
        ],
        cursor=json.dumps(
            {
                "cutoff": cutoff.isoformat(),
                "segments": len(plan.droppable),
                "volatility_cutoff": volatility_before.isoformat(),
            }
        ),
    )
