"""item_volatility keeps TRACERA_VOLATILITY_RETENTION_DAYS of per-hour as-of rows."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import dagster as dg
import pytest

from tracera_pipeline.analytics.volatility_retention import (
    oldest_as_of,
    prune_volatility,
    volatility_cutoff,
)
from tracera_pipeline.defs.resources import PostgresResource
from tracera_pipeline.defs.retention.jobs import raw_retention_job
from tracera_pipeline.defs.retention.sensors import raw_retention_sensor
from tracera_pipeline.storage.items import resolve_item_ids

DAY = timedelta(days=1)


def _volatility_rows(conn, start: datetime, hours: int) -> None:
    """One row per hour, window and item (two items, market 1) from ``start``."""
    ids = resolve_item_ids(conn, ["a", "b"]).get_column("item_id").to_list()
    conn.execute(
        "INSERT INTO item_volatility (window_name, as_of, item_id, provider_id, samples,"
        " mean_cents, stddev_cents, bollinger_upper_cents, bollinger_lower_cents)"
        " SELECT w, %s + make_interval(hours => h), i, 1, 2, 100, 1, 102, 98"
        " FROM unnest(ARRAY['1h', '24h', '7d']) AS w,"
        " generate_series(0, %s - 1) AS h, unnest(%s::int[]) AS i",
        (start, hours, ids),
    )


def _count(conn) -> int:
    return conn.execute("SELECT count(*) FROM item_volatility").fetchone()[0]


def test_prune_keeps_rows_from_the_cutoff_on(conn) -> None:
    start = datetime(2026, 3, 2, tzinfo=UTC)
    _volatility_rows(conn, start - 400 * DAY, 2)  # an old stray pair of hours
    _volatility_rows(conn, start, 72)
    cutoff = start + 2 * DAY
    pruned = prune_volatility(conn, cutoff)
    assert pruned.rows_deleted == 3 * 2 * (2 + 48)
    assert pruned.oldest_kept == oldest_as_of(conn) == cutoff
    assert _count(conn) == 3 * 2 * 24
    assert prune_volatility(conn, cutoff).rows_deleted == 0  # idempotent


def test_zero_days_is_refused_naming_the_setting() -> None:
    with pytest.raises(ValueError, match="set TRACERA_VOLATILITY_RETENTION_DAYS to a whole"):
        volatility_cutoff(datetime.now(UTC), 0)


def test_sensor_requests_a_run_for_old_volatility_alone(database_url, flavor, conn) -> None:
    now = datetime.now(UTC)
    cutoff = volatility_cutoff(now, 10)
    _volatility_rows(conn, cutoff - DAY, 48)  # a day before the cutoff, a day after
    postgres = PostgresResource(
        database_url=database_url, storage_flavor=flavor.value, volatility_retention_days=10
    )
    with dg.build_sensor_context(resources={"postgres": postgres}) as context:
        result = raw_retention_sensor(context)
    (request,) = result.run_requests  # no raw data at all: volatility alone asks
    run = raw_retention_job.execute_in_process(
        run_config=request.run_config, resources={"postgres": postgres}
    )
    assert run.success
    assert run.output_for_node("prune_item_volatility") == 3 * 2 * 24
    assert oldest_as_of(conn) == cutoff
    with dg.build_sensor_context(resources={"postgres": postgres}) as context:
        assert isinstance(raw_retention_sensor(context), dg.SkipReason)
