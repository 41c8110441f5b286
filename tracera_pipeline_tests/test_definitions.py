import subprocess
import sys

import dagster as dg

from tracera_pipeline.definitions import build_definitions, defs


def test_definitions_load_with_the_whole_graph() -> None:
    keys = {spec.key.to_user_string() for spec in defs.resolve_all_asset_specs()}
    assert keys == {
        "raw/prices/synthetic",
        "aggregates/price_1h",
        "aggregates/price_24h",
        "aggregates/price_7d",
        "analytics/item_volatility",
        "analytics/market_spreads",
        "cache/latest_prices",
        "cache/volatility_rankings",
        "portfolio/portfolio_snapshots",
    }
    assert defs.resolve_schedule_def("ingest_current_window")
    for sensor in ("raw_retention_sensor", "downstream_automation"):
        assert defs.resolve_sensor_def(sensor)
    assert defs.resolve_job_def("raw_retention_job")
    graph = defs.resolve_asset_graph()
    checks = {key.name for key in graph.asset_check_keys}
    assert {"positive_prices", "no_duplicate_rows", "matches_raw_rows"} <= checks
    # Raw-data checks stop bad data; freshness is a FreshnessPolicy on every asset.
    raw = dg.AssetKey(["raw", "prices", "synthetic"])
    blocking = {c.name: c.blocking for c in defs.resolve_assets_def(raw).check_specs}
    # fetched_expected_data is not blocking: one empty provider must not hold back
    # the other providers' downstream refresh.
    assert blocking == {
        "positive_prices": True,
        "no_duplicate_rows": True,
        "fetched_expected_data": False,
    }
    for spec in defs.resolve_all_asset_specs():
        assert spec.freshness_policy is not None, spec.key


def test_provider_factory_gives_each_provider_its_pool_and_policies() -> None:
    graph = build_definitions(["synthetic", "steam"]).resolve_asset_graph()
    for provider in ("synthetic", "steam"):
        node = graph.get(dg.AssetKey(["raw", "prices", provider]))
        assert node.pools == {f"provider_{provider}"}
        assert node.backfill_policy.max_partitions_per_run == 24
    downstream = graph.get(dg.AssetKey(["aggregates", "price_1h"]))
    assert downstream.automation_condition is not None
    assert {k.to_user_string() for k in downstream.parent_keys} == {
        "raw/prices/synthetic",
        "raw/prices/steam",
    }


def test_dagster_definitions_validate_passes() -> None:
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "dagster",
            "definitions",
            "validate",
            "-m",
            "tracera_pipeline.definitions",
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_way_to_fresh_redis_keys_is_short() -> None:
    """The automation polls at every pass of the daemon's 5 s loop (its spacing under
    the real daemon: test_daemon_backfill), and in a downstream run the steps
    feeding Redis go first: latest prices, then the chain to the rankings."""
    sensor = defs.get_sensor_def("downstream_automation")
    assert sensor.minimum_interval_seconds < 5
    job = defs.resolve_implicit_global_asset_job_def()
    priority = {
        node.name: int(node.definition.tags.get("dagster/priority", 0))
        for node in job.graph.node_dict.values()
    }
    assert priority["cache__latest_prices"] == 2
    for step in ("aggregates__price_1h", "aggregates__price_24h", "analytics__item_volatility",
                 "cache__volatility_rankings"):  # fmt: skip
        assert priority[step] == 1, step
    assert priority["aggregates__price_7d"] == priority["analytics__market_spreads"] == 0
