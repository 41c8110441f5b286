"""Retention drops only aggregated raw data; aggregates survive later refreshes."""

from datetime import UTC, datetime, timedelta

import dagster as dg

from tracera_pipeline.defs.resources import PostgresResource
from tracera_pipeline.defs.retention.jobs import raw_retention_job
from tracera_pipeline.defs.retention.sensors import raw_retention_sensor
from tracera_pipeline.storage.aggregates import LEVELS, refresh_level
from tracera_pipeline.storage.retention import (
    apply_retention,
    plan_retention,
    raw_watermark,
    retention_cutoff,
)
from tracera_pipeline_tests.helpers import T0, load_synthetic

DAY = timedelta(days=1)


def _count(conn, table: str, start: datetime, end: datetime, column: str = "time") -> int:
    return conn.execute(
        f"SELECT count(*) FROM {table} WHERE {column} >= %s AND {column} < %s",
        (start, end),
    ).fetchone()[0]


def test_never_drops_unaggregated_data_and_refresh_keeps_aggregates(conn, flavor) -> None:
    load_synthetic(conn, flavor, T0, T0 + 3 * DAY, items=4, interval=1800)
    cutoff = T0 + 3 * DAY
    plan = plan_retention(conn, flavor, cutoff)
    assert plan.droppable == [] and plan.blocked is not None
    assert "not aggregated" in plan.blocked[1]

    refresh_level(conn, flavor, LEVELS["1h"], T0, T0 + 2 * DAY)  # days 1 and 2 aggregated
    refresh_level(conn, flavor, LEVELS["24h"], T0, T0 + DAY)
    # Late rows in day 2 that no aggregate has seen yet block day 2 (and day 3 behind it).
    load_synthetic(conn, flavor, T0 + DAY, T0 + 2 * DAY, items=5, interval=1800)
    plan = plan_retention(conn, flavor, cutoff)
    assert [(s.start, s.end) for s in plan.droppable] == [(T0, T0 + DAY)]
    dropped = apply_retention(conn, flavor, plan)
    assert len(dropped) == 1
    assert raw_watermark(conn) == T0 + DAY
    assert _count(conn, "price_history", T0, T0 + DAY) == 0
    assert _count(conn, "price_history", T0 + DAY, T0 + 3 * DAY) == 5 * 48 + 4 * 48

    hourly_before = _count(conn, "price_1h", T0, T0 + DAY, "bucket")
    assert hourly_before == 4 * 24
    result = refresh_level(conn, flavor, LEVELS["1h"], T0, T0 + 2 * DAY)  # a backfill re-run
    assert result.clamped_by_retention
    assert _count(conn, "price_1h", T0, T0 + DAY, "bucket") == hourly_before
    refresh_level(conn, flavor, LEVELS["24h"], T0, T0 + 2 * DAY)
    daily = conn.execute("SELECT samples FROM price_24h WHERE bucket = %s", (T0,)).fetchall()
    assert daily and all(samples == 48 for (samples,) in daily)
    assert apply_retention(conn, flavor, plan_retention(conn, flavor, T0 + DAY)) == []


def test_sensor_skips_then_requests_one_run_per_cutoff_day(database_url, flavor, conn) -> None:
    now = datetime.now(UTC)
    old = retention_cutoff(now, 30) - 2 * DAY
    load_synthetic(conn, flavor, old, old + 2 * DAY, items=3, interval=3600)
    postgres = PostgresResource(
        database_url=database_url, storage_flavor=flavor.value, raw_retention_days=30
    )
    with dg.build_sensor_context(resources={"postgres": postgres}) as context:
        skipped = raw_retention_sensor(context)
    assert isinstance(skipped, dg.SkipReason) and "not aggregated" in skipped.skip_message

    refresh_level(conn, flavor, LEVELS["1h"], old, old + 2 * DAY)
    with dg.build_sensor_context(resources={"postgres": postgres}) as context:
        result = raw_retention_sensor(context)
    (request,) = result.run_requests
    cutoff = retention_cutoff(now, 30)
    assert request.run_key == f"retention:{cutoff.date().isoformat()}"

    run = raw_retention_job.execute_in_process(
        run_config=request.run_config, resources={"postgres": postgres}
    )
    assert run.success
    assert _count(conn, "price_history", old, old + 2 * DAY) == 0
    assert _count(conn, "price_1h", old, old + 2 * DAY, "bucket") == 3 * 48
    with dg.build_sensor_context(resources={"postgres": postgres}) as context:
        assert isinstance(raw_retention_sensor(context), dg.SkipReason)
