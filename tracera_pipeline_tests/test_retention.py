"""Retention drops only aggregated raw data; aggregates survive later refreshes."""

import threading
import time
from datetime import UTC, datetime, timedelta

import dagster as dg
import polars as pl
import psycopg
import pytest

from tracera_pipeline.defs.ingestion.assets import build_provider_asset
from tracera_pipeline.defs.resources import PostgresResource
from tracera_pipeline.defs.retention.jobs import raw_retention_job
from tracera_pipeline.defs.retention.sensors import raw_retention_sensor
from tracera_pipeline.providers.base import PRICE_SCHEMA
from tracera_pipeline.storage.aggregates import LEVELS, refresh_level
from tracera_pipeline.storage.flavor import Flavor
from tracera_pipeline.storage.native_partitions import ensure_partitions
from tracera_pipeline.storage.price_writer import write_price_window
from tracera_pipeline.storage.retention import (
    BeforeWatermarkError,
    apply_retention,
    guard_window,
    plan_retention,
    raw_watermark,
    retention_cutoff,
    unaggregated_hours,
)
from tracera_pipeline_tests.helpers import T0, key, load_synthetic, with_item_ids

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
    applied = apply_retention(conn, flavor, cutoff)
    assert applied.droppable == plan.droppable and applied.orphaned == {}
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
    assert apply_retention(conn, flavor, T0 + DAY).droppable == []


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


AK, AWP = "AK-47 | Redline (Field-Tested)", "AWP | Asiimov (Field-Tested)"


def _write_hour(conn, flavor, rows: list[tuple[int, str, int, int]]) -> None:
    """(minute, name, price_cents, volume) rows into the hour at T0, replacing it."""
    frame = pl.DataFrame(
        [(T0 + timedelta(minutes=m), name, price, volume, 1) for m, name, price, volume in rows],
        schema=PRICE_SCHEMA,
        orient="row",
    )
    write_price_window(
        conn,
        with_item_ids(conn, frame),
        flavor=flavor,
        provider_id=1,
        window_start=T0,
        window_end=T0 + timedelta(hours=1),
    )


ORIGINAL = [(0, AK, 100, 1), (30, AK, 200, 1), (0, AWP, 300, 1)]
# Same row count and price sum as ORIGINAL in every case: what count + sum missed.
REINGESTED = {
    "price moved to another item": [(0, AK, 300, 1), (30, AK, 200, 1), (0, AWP, 100, 1)],
    "prices swapped in time": [(0, AK, 200, 1), (30, AK, 100, 1), (0, AWP, 300, 1)],
    "volume changed": [(0, AK, 100, 5), (30, AK, 200, 1), (0, AWP, 300, 1)],
    "prices changed, sum kept": [(0, AK, 150, 1), (30, AK, 150, 1), (0, AWP, 300, 1)],
}


def test_a_reingested_hour_with_the_same_count_and_sum_waits_for_its_refresh(conn, flavor) -> None:
    hour = (T0, T0 + timedelta(hours=1))
    for case, rows in REINGESTED.items():
        _write_hour(conn, flavor, ORIGINAL)
        refresh_level(conn, flavor, LEVELS["1h"], *hour)
        assert unaggregated_hours(conn, T0, T0 + DAY) == [], case
        _write_hour(conn, flavor, rows)
        assert unaggregated_hours(conn, T0, T0 + DAY) == [T0], case
        plan = plan_retention(conn, flavor, T0 + DAY)
        assert plan.droppable == [] and "not aggregated" in plan.blocked[1], case
        refresh_level(conn, flavor, LEVELS["1h"], *hour)
        assert unaggregated_hours(conn, T0, T0 + DAY) == [], case


def _retained_first_day(conn, flavor) -> None:
    """Two days loaded and aggregated, the first dropped: watermark at T0 + 1 day."""
    load_synthetic(conn, flavor, T0, T0 + 2 * DAY, items=3, interval=3600)
    refresh_level(conn, flavor, LEVELS["1h"], T0, T0 + 2 * DAY)
    assert len(apply_retention(conn, flavor, T0 + DAY).droppable) == 1
    assert raw_watermark(conn) == T0 + DAY


def test_writes_before_the_watermark_are_refused_with_the_fix(conn, flavor) -> None:
    _retained_first_day(conn, flavor)
    with pytest.raises(BeforeWatermarkError) as refused:
        load_synthetic(conn, flavor, T0, T0 + DAY, items=3, interval=3600)
    assert str(refused.value) == (
        "partition 2026-03-02-00:00 lies before the raw-retention watermark 2026-03-03 00:00"
        " UTC, where raw rows can never be aggregated again, so backfill from"
        " 2026-03-03-00:00 on (or raise TRACERA_RAW_RETENTION_DAYS before retention reaches"
        " the days you want to re-ingest)"
    )
    assert _count(conn, "price_history", T0, T0 + DAY) == 0
    load_synthetic(conn, flavor, T0 + DAY, T0 + 2 * DAY, items=3, interval=3600)  # from it: fine


def test_a_provider_step_before_the_watermark_fails_once_without_fetching(
    conn, flavor, resources
) -> None:
    _retained_first_day(conn, flavor)
    asset = build_provider_asset("synthetic")
    result = dg.materialize(
        [asset],
        resources=resources,
        partition_key=key(T0 + timedelta(hours=5)),
        instance=dg.DagsterInstance.ephemeral(),
        raise_on_error=False,
    )
    assert not result.success
    failures = [e for e in result.all_events if e.event_type_value == "STEP_FAILURE"]
    assert len(failures) == 1  # no step retries: it cannot heal
    message = failures[0].step_failure_data.user_failure_data.description
    assert message.startswith("partition 2026-03-02-05:00 lies before the raw-retention")
    assert not [e for e in result.all_events if e.event_type_value == "STEP_UP_FOR_RETRY"]
    assert _count(conn, "price_history", T0, T0 + DAY) == 0


def _insert_orphans(conn, flavor, start: datetime, rows: int) -> None:
    """Raw rows before the watermark, as a backfill made before the guard left them."""
    if flavor is Flavor.NATIVE:
        ensure_partitions(conn, start, start + DAY)
    (item_id,) = conn.execute("SELECT min(item_id) FROM items").fetchone()
    conn.execute(
        "INSERT INTO price_history (time, item_id, provider_id, price_cents, volume, listings)"
        " SELECT %s + make_interval(mins => n), %s, 1, 100 + n, 1, 1"
        " FROM generate_series(0, %s - 1) AS n",
        (start, item_id, rows),
    )


def test_orphaned_raw_rows_before_the_watermark_no_longer_stop_retention(conn, flavor) -> None:
    _retained_first_day(conn, flavor)
    hourly_before = conn.execute("SELECT count(*), sum(sum_cents) FROM price_1h").fetchone()
    _insert_orphans(conn, flavor, T0, rows=7)
    # Day 2 is aggregated; the orphaned day 1 used to block it for good.
    plan = apply_retention(conn, flavor, T0 + 2 * DAY)
    assert len(plan.droppable) == 2 and plan.blocked is None
    assert list(plan.orphaned.values()) == [7]
    assert _count(conn, "price_history", T0, T0 + 2 * DAY) == 0
    assert raw_watermark(conn) == T0 + 2 * DAY
    assert conn.execute("SELECT count(*), sum(sum_cents) FROM price_1h").fetchone() == (
        hourly_before
    )


def test_retention_waits_for_a_write_in_flight_and_keeps_what_it_wrote(
    conn, flavor, database_url
) -> None:
    load_synthetic(conn, flavor, T0, T0 + DAY, items=3, interval=3600)
    refresh_level(conn, flavor, LEVELS["1h"], T0, T0 + DAY)
    (item_id,) = conn.execute("SELECT min(item_id) FROM items").fetchone()
    outcome: list[object] = []
    with psycopg.connect(database_url, autocommit=True) as writer:
        with writer.transaction():
            guard_window(writer, T0)  # a late write into the day retention is about to drop
            writer.execute(
                "INSERT INTO price_history (time, item_id, provider_id, price_cents)"
                " VALUES (%s, %s, 1, 4242)",
                (T0 + timedelta(minutes=7), item_id),
            )

            def retain() -> None:
                with psycopg.connect(database_url, autocommit=True) as other:
                    outcome.append(apply_retention(other, flavor, T0 + DAY))

            thread = threading.Thread(target=retain)
            thread.start()
            _wait_for_lock_waiter(conn)
        thread.join(timeout=30)
    (plan,) = outcome
    assert plan.droppable == [] and "not aggregated" in plan.blocked[1]
    assert _count(conn, "price_history", T0, T0 + DAY) == 3 * 24 + 1


def _wait_for_lock_waiter(conn, timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        waiting = conn.execute(
            "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted"
        ).fetchone()[0]
        if waiting:
            return
        time.sleep(0.02)
    raise AssertionError("retention never waited for the write in flight")
