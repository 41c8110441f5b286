"""The graph through Dagster: range backfills, re-runs, failure isolation, schedule."""

import json
from datetime import UTC, datetime, timedelta

import dagster as dg
import pytest

from tracera_pipeline.cache.redis_cache import PriceCache
from tracera_pipeline.definitions import build_assets, build_definitions
from tracera_pipeline.defs.resources import MarketDataResource
from tracera_pipeline.portfolio.loader import Portfolio, load_portfolios
from tracera_pipeline.providers.item_names import item_names
from tracera_pipeline.providers.synthetic import SyntheticMarket
from tracera_pipeline.storage.flavor import Flavor
from tracera_pipeline_tests.helpers import T0, key, open_and_closed_hour

RANGE_TAGS = {
    "dagster/asset_partition_range_start": key(T0),
    "dagster/asset_partition_range_end": key(T0 + timedelta(hours=5)),
}


def _counts(conn) -> dict[str, int]:
    tables = (
        "price_history",
        "price_1h",
        "price_24h",
        "price_7d",
        "item_volatility",
        "portfolio_snapshots",
    )
    return {t: conn.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in tables}


def test_a_range_backfill_materializes_every_partition_and_reruns_are_idempotent(
    conn, resources, redis_client, redis_prefix
) -> None:
    load_portfolios(
        conn, [Portfolio("p", holdings={n: 2 for n in item_names(3)})], add_unknown_items=True
    )
    # A market an earlier setup ingested (the demo's three) left its rankings behind.
    stale = PriceCache(redis_client, redis_prefix)
    assert stale.replace_ranking("24h", {1: 0.5}, T0 - timedelta(hours=1), market="synthetic_buff")
    instance = dg.DagsterInstance.ephemeral()
    for _ in range(2):
        result = dg.materialize(
            build_assets(["synthetic"]), resources=resources, instance=instance, tags=RANGE_TAGS
        )
        assert result.success
    assert not redis_client.exists(stale.ranking_key("24h", "synthetic_buff"))
    counts = _counts(conn)
    assert counts["price_history"] == 20 * 6 * 6  # items × samples an hour × hours
    assert counts["price_1h"] == 20 * 6
    assert counts["portfolio_snapshots"] == 6
    assert counts["item_volatility"] > 0
    raw = dg.AssetKey(["raw", "prices", "synthetic"])
    materialized = instance.get_materialized_partitions(raw)
    assert materialized == {key(T0 + timedelta(hours=h)) for h in range(6)}
    event = instance.get_latest_materialization_event(raw).asset_materialization
    # A ranged run: the run's total and each partition's own count, no per-partition
    # claim (dagster/partition_row_count) that would be copied to all six partitions.
    assert event.metadata["rows_in_run"].value == 720
    assert event.metadata["partitions_in_run"].value == 6
    assert set(event.metadata["rows_by_partition"].value.values()) == {120}
    assert "dagster/partition_row_count" not in event.metadata
    assert "dagster/row_count" not in event.metadata
    assert event.metadata["rows_rejected"].value == 0
    latest = list(redis_client.scan_iter(match=f"{redis_prefix}price:latest:*"))
    assert len(latest) == 20
    payload = json.loads(redis_client.get(latest[0]))
    assert payload["time"] == (T0 + timedelta(hours=5, minutes=50)).isoformat()
    assert redis_client.zcard(f"{redis_prefix}rankings:volatile:1h") == 20
    rankings = dg.AssetKey(["cache", "volatility_rankings"])
    fresh = instance.get_latest_materialization_event(rankings).asset_materialization.metadata
    assert fresh["rankings_replaced"].value == 6 and fresh["rankings_kept_newer"].value == []
    # An older hour afterwards (a backfill): Redis keeps the newer rankings, and says so.
    older = dg.materialize(
        build_assets(["synthetic"]),
        selection=[rankings],
        resources=resources,
        instance=instance,
        partition_key=key(T0 + timedelta(hours=1)),
    )
    assert older.success
    kept = instance.get_latest_materialization_event(rankings).asset_materialization.metadata
    assert kept["rankings_replaced"].value == 0
    assert kept["rankings_kept_newer"].value == ["1h:synthetic", "1h", "24h:synthetic", "24h",
                                                 "7d:synthetic", "7d"]  # fmt: skip
    assert json.loads(redis_client.get(f"{redis_prefix}rankings:volatile:1h:as_of")) == int(
        (T0 + timedelta(hours=6)).timestamp() * 1_000_000
    )


class _SteamDown(MarketDataResource):
    """Steam is 'down': its step fails; synthetic plays a second, healthy provider."""

    def provider(self, name: str, **kwargs):
        if name == "steam":
            raise dg.Failure(description="steam: HTTP 503 from priceoverview", allow_retries=False)
        return super().provider(name, **kwargs)


def test_a_failing_provider_fails_alone_and_downstream_still_refreshes(
    conn, resources, dagster_instance
) -> None:
    resources = {
        **resources,
        "market": _SteamDown(synthetic_items=20, synthetic_interval_seconds=600),
    }
    defs = build_definitions(["synthetic", "steam"], resources=resources)
    now = datetime.now(UTC)
    current = key(now)
    instance = dagster_instance
    baseline = dg.evaluate_automation_conditions(defs=defs, instance=instance)
    run = defs.resolve_job_def("ingest_prices").execute_in_process(
        partition_key=current, instance=instance, raise_on_error=False
    )
    assert not run.success
    failed = {e.step_key for e in run.all_events if e.event_type_value == "STEP_FAILURE"}
    assert failed == {"raw__prices__steam"}
    landed = conn.execute("SELECT count(*) FROM price_history").fetchone()[0]
    assert landed > 0

    evaluation = dg.evaluate_automation_conditions(
        defs=defs, instance=instance, cursor=baseline.cursor
    )
    # Steam's partition is missing (failed), yet the whole downstream graph is requested.
    requested = {r.key for r in evaluation.results if r.true_subset.size > 0}
    raw_keys = {dg.AssetKey(["raw", "prices", p]) for p in ("synthetic", "steam")}
    assert requested == set(defs.resolve_asset_graph().get_all_asset_keys()) - raw_keys
    assert all(evaluation.get_requested_partitions(k) == {current} for k in requested)
    downstream = dg.materialize(
        build_assets(["synthetic", "steam"]),
        resources=resources,
        instance=instance,
        partition_key=current,
        selection=list(requested),
    )
    assert downstream.success
    samples = conn.execute("SELECT coalesce(sum(samples), 0) FROM price_1h").fetchone()[0]
    assert samples == landed


def test_the_open_hour_is_requested_alone_and_the_closed_hour_one_evaluation_later(
    resources, dagster_instance
) -> None:
    """At an hour's first tick the closed hour's re-fetch lands beside the open hour's.
    Requested in one evaluation, the two would be one backfill, which Dagster's
    backfill daemon picks up only every 30 s; the open hour goes at once, alone."""
    defs = build_definitions(["synthetic"], resources=resources)
    instance = dagster_instance
    open_hour, closed_hour = open_and_closed_hour(needed_seconds=30)
    baseline = dg.evaluate_automation_conditions(defs=defs, instance=instance)
    job = defs.resolve_job_def("ingest_prices")
    for partition in (closed_hour, open_hour):
        assert job.execute_in_process(partition_key=partition, instance=instance).success
    raw = dg.AssetKey(["raw", "prices", "synthetic"])
    downstream = set(defs.resolve_asset_graph().get_all_asset_keys()) - {raw}

    first = dg.evaluate_automation_conditions(defs=defs, instance=instance, cursor=baseline.cursor)
    assert {r.key for r in first.results if r.true_subset.size > 0} == downstream
    assert all(first.get_requested_partitions(k) == {open_hour} for k in downstream)
    second = dg.evaluate_automation_conditions(defs=defs, instance=instance, cursor=first.cursor)
    assert all(second.get_requested_partitions(k) == {closed_hour} for k in downstream)
    third = dg.evaluate_automation_conditions(defs=defs, instance=instance, cursor=second.cursor)
    assert [r.key for r in third.results if r.true_subset.size > 0] == []


def test_live_only_provider_records_zero_rows_with_a_flag_for_history(conn, resources) -> None:
    class _LiveOnly(MarketDataResource):
        def provider(self, name: str, **kwargs):
            market = SyntheticMarket(items=5, interval_seconds=600, name="synthetic")
            market.supports_history = False
            return market

    resources = {**resources, "market": _LiveOnly()}
    instance = dg.DagsterInstance.ephemeral()
    result = dg.materialize(
        build_assets(["synthetic"])[:1], resources=resources, instance=instance, tags=RANGE_TAGS
    )
    assert result.success
    event = instance.get_latest_materialization_event(
        dg.AssetKey(["raw", "prices", "synthetic"])
    ).asset_materialization
    assert event.metadata["history_unavailable"].value is True
    assert event.metadata["history_unavailable_partitions"].value == 6
    assert event.metadata["rows_in_run"].value == 0
    assert set(event.metadata["rows_by_partition"].value.values()) == {0}
    assert conn.execute("SELECT count(*) FROM price_history").fetchone()[0] == 0


@pytest.mark.parametrize("minute", [0, 15, 45])
def test_schedule_asks_for_the_open_hour_and_the_closed_one(minute: int) -> None:
    at = datetime(2026, 3, 2, 10, minute, tzinfo=UTC)
    defs = build_definitions(["synthetic", "skinport"])
    schedule = defs.resolve_schedule_def("ingest_current_window")
    # Both as context managers: the schedule context opens the instance from its ref,
    # which sets Dagster's current defs-state storage until the context is closed; an
    # unclosed one leaves it pointing at a dead instance for every later test.
    with (
        dg.instance_for_test() as instance,
        dg.build_schedule_context(
            scheduled_execution_time=at, repository_def=defs.get_repository_def(), instance=instance
        ) as context,
    ):
        current, closed = schedule.evaluate_tick(context).run_requests
    assert current.partition_key == "2026-03-02-10:00"
    assert current.run_key == f"2026-03-02-10:00@2026-03-02T10:{minute:02d}"
    assert current.asset_selection is None  # every provider
    # The closed hour: same run key on every tick (launched once), history providers only.
    assert (closed.partition_key, closed.run_key) == ("2026-03-02-09:00", "closed:2026-03-02-09:00")
    assert closed.asset_selection == [dg.AssetKey(["raw", "prices", "synthetic"])]


def test_a_historical_backfill_of_raw_alone_requests_exactly_that_range_downstream(
    conn, resources, dagster_instance
) -> None:
    defs = build_definitions(["synthetic"], resources=resources)
    instance = dagster_instance
    baseline = dg.evaluate_automation_conditions(defs=defs, instance=instance)
    raw = dg.AssetKey(["raw", "prices", "synthetic"])
    hours = {key(T0 + timedelta(hours=h)) for h in range(6)}  # months before "now"
    assert dg.materialize(
        build_assets(["synthetic"]), resources=resources, instance=instance,
        selection=[raw], tags=RANGE_TAGS,
    ).success  # fmt: skip
    # Hours before the open one wait one evaluation (see DOWNSTREAM_AUTOMATION).
    first = dg.evaluate_automation_conditions(defs=defs, instance=instance, cursor=baseline.cursor)
    assert [r.key for r in first.results if r.true_subset.size > 0] == []
    evaluation = dg.evaluate_automation_conditions(
        defs=defs, instance=instance, cursor=first.cursor
    )
    requested = {r.key for r in evaluation.results if r.true_subset.size > 0}
    assert requested == set(defs.resolve_asset_graph().get_all_asset_keys()) - {raw}
    assert all(evaluation.get_requested_partitions(k) == hours for k in requested)
    # A backfill of the whole graph computes nothing twice: nothing is requested after it.
    assert dg.materialize(
        build_assets(["synthetic"]), resources=resources, instance=instance, tags=RANGE_TAGS
    ).success
    after = dg.evaluate_automation_conditions(
        defs=defs, instance=instance, cursor=evaluation.cursor
    )
    assert [r.key for r in after.results if r.true_subset.size > 0] == []


# Schedule logic does not depend on the storage flavour: native only, to save time.
@pytest.mark.parametrize("flavor", [Flavor.NATIVE], ids=["native"], indirect=True)
def test_every_closed_hour_is_complete_through_the_schedule(conn, resources) -> None:
    """Six hours of 15-minute ticks, each run as the daemon would run its requests:
    each closed hour ends with all 12 five-minute samples of every item."""
    resources = {**resources, "market": MarketDataResource(synthetic_items=3)}
    defs = build_definitions(["synthetic"], resources=resources)
    schedule = defs.resolve_schedule_def("ingest_current_window")
    job = defs.resolve_job_def("ingest_prices")
    repository = defs.get_repository_def()
    closed_runs: list[str] = []
    # Persistent: the schedule looks up the runs it already asked for.
    with dg.instance_for_test() as instance:
        day = [T0 + timedelta(minutes=15 * n) for n in range(4 * 6 + 1)]
        for tick in day:
            with dg.build_schedule_context(  # closed: see the test above
                scheduled_execution_time=tick, instance=instance, repository_def=repository
            ) as context:
                requests = schedule.evaluate_tick(context).run_requests
            for request in requests:
                if request.run_key.startswith("closed:"):
                    closed_runs.append(request.partition_key)
                result = job.execute_in_process(
                    partition_key=request.partition_key,
                    tags=request.tags,
                    asset_selection=request.asset_selection,
                    instance=instance,
                )
                assert result.success
    per_hour = conn.execute(
        "SELECT date_trunc('hour', time), count(*) FROM price_history GROUP BY 1 ORDER BY 1"
    ).fetchall()
    # 23:00 the day before (closed at the first tick) to 05:00; 06:00 has just opened.
    assert [h for h, _ in per_hour] == [T0 + timedelta(hours=h) for h in range(-1, 6)]
    assert {n for _, n in per_hour} == {3 * 12}
    # Without the closed-hour runs the ticks alone would have missed :45–:55 of each hour;
    # each closed hour is asked for once, by the schedule itself (the daemon dedupes run
    # keys per tick only).
    assert closed_runs == [key(T0 + timedelta(hours=h)) for h in range(-1, 6)]
