"""End-to-end scenarios: a backfill of the whole graph against the server's own
binary COPY of the same rows, downstream cost against table size, start-up."""

from __future__ import annotations

import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

import dagster as dg
import polars as pl
import psycopg
from psycopg import sql

from benchmarks.copy_writer import drop_database, recreate_database, write_copy_file
from benchmarks.serving import clear_prefix
from tracera_pipeline.analytics.spreads import refresh_spreads
from tracera_pipeline.analytics.volatility import WINDOWS, compute_volatility
from tracera_pipeline.definitions import build_assets
from tracera_pipeline.defs.pricing import PricingResource
from tracera_pipeline.defs.resources import MarketDataResource, PostgresResource, RedisResource
from tracera_pipeline.providers.synthetic import SYNTHETIC_MARKETS, SyntheticMarket
from tracera_pipeline.storage.aggregates import LEVELS, refresh_level
from tracera_pipeline.storage.binary_copy import iter_copy_payload
from tracera_pipeline.storage.flavor import Flavor
from tracera_pipeline.storage.items import provider_id, resolve_item_ids
from tracera_pipeline.storage.native_partitions import ensure_partitions
from tracera_pipeline.storage.price_writer import write_price_window

START = datetime(2026, 6, 1, tzinfo=UTC)  # a Monday
MARKETS = list(SYNTHETIC_MARKETS)
QUIET = {"loggers": {"console": {"config": {"log_level": "ERROR"}}}}
EVENT_BATCH_VARIABLE = "DAGSTER_EVENT_BATCH_SIZE"
DEPLOYED_EVENT_BATCH_SIZE = "100"  # as docker-compose.yml and deploy/k8s/dagster.yaml set it


def _url(server: str, database: str) -> str:
    return psycopg.conninfo.make_conninfo(server, dbname=database)


def _migrate(url: str, flavor: Flavor) -> None:
    """Create and migrate the database (the resource does it on first use)."""
    with PostgresResource(database_url=url, storage_flavor=flavor.value).connection():
        pass


def _resources(
    url: str, flavor: Flavor, items: int, redis_url: str, prefix: str
) -> dict[str, object]:
    return {
        "postgres": PostgresResource(database_url=url, storage_flavor=flavor.value),
        "redis": RedisResource(redis_url=redis_url, key_prefix=prefix),
        "market": MarketDataResource(synthetic_items=items),
        "pricing": PricingResource(),
    }


def _references(server: str, flavor: Flavor, days: int, items: int) -> dict[str, float]:
    """Rows/s of ``COPY price_history FROM 'file' (FORMAT binary)`` of the same rows,
    into a freshly migrated database of the same flavour (the reference), and of the
    price writer alone writing them per provider and day (what the raw steps do)."""
    database = f"tracera_bench_ref_{flavor.value}"
    recreate_database(server, database)
    url = _url(server, database)
    try:
        _migrate(url, flavor)
        with psycopg.connect(url, autocommit=True) as conn:
            end = START + timedelta(days=days)
            frames = []
            for name in MARKETS:
                frame = SyntheticMarket.for_market(name, items=items).fetch(START, end)
                ids = resolve_item_ids(conn, frame.get_column("market_hash_name").to_list())
                frames.append(
                    frame.join(ids, on="market_hash_name").select(
                        "time",
                        "item_id",
                        pl.lit(provider_id(conn, name), dtype=pl.Int16).alias("provider_id"),
                        "price_cents",
                        "volume",
                        "listings",
                    )
                )
            rows = pl.concat(frames)
            path = write_copy_file(list(iter_copy_payload(rows, 100_000)))
            if flavor is Flavor.NATIVE:
                ensure_partitions(conn, START, end)
            conn.execute("CHECKPOINT")
            started = time.perf_counter()
            with conn.transaction():
                conn.execute(
                    sql.SQL("COPY price_history FROM {} (FORMAT binary)").format(
                        sql.Literal(str(path))
                    )
                )
            copy_seconds = time.perf_counter() - started
            path.unlink()
            conn.execute("TRUNCATE price_history")
            conn.execute("VACUUM")
            conn.execute("CHECKPOINT")
            writer_seconds = 0.0
            for frame in frames:
                for day in range(days):
                    lo, hi = START + timedelta(days=day), START + timedelta(days=day + 1)
                    part = frame.filter((pl.col("time") >= lo) & (pl.col("time") < hi))
                    started = time.perf_counter()
                    write_price_window(
                        conn, part.drop("provider_id"), flavor=flavor,
                        provider_id=part.get_column("provider_id")[0],
                        window_start=lo, window_end=hi,
                    )  # fmt: skip
                    writer_seconds += time.perf_counter() - started
            return {
                "server_copy": rows.height / copy_seconds,
                "writer": rows.height / writer_seconds,
            }
    finally:
        drop_database(server, database)


def _peak_rss_mib() -> float:
    """This process's peak resident set (the in-process runs execute here)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


@contextmanager
def _run_storage(server: str, kind: str) -> Iterator[dg.DagsterInstance]:
    """Where the runs are recorded, on disk as a deployment records them (an
    in-memory instance would keep every run's events in this process): ``sqlite``
    (``dagster dev``'s default) or ``postgres`` (the compose and Kubernetes
    deployments', dagster-postgres in its own database on ``server``)."""
    with tempfile.TemporaryDirectory() as home:
        if kind == "sqlite":
            with dg.DagsterInstance.local_temp(home) as instance:
                yield instance
            return
        database = "tracera_bench_dagster"
        recreate_database(server, database)
        params = psycopg.conninfo.conninfo_to_dict(server)
        postgres_db = {
            "hostname": params.get("host", "127.0.0.1"),
            "port": int(params.get("port", 5432)),
            "username": params.get("user", "postgres"),
            "password": params.get("password", ""),
            "db_name": database,
            "scheme": "postgresql+psycopg2",  # as in docker/dagster.yaml
        }
        config = {"storage": {"postgres": {"postgres_db": postgres_db}}}
        Path(home, "dagster.yaml").write_text(json.dumps(config))  # JSON is YAML
        # The deployments' event batching too (docker-compose.yml, deploy/k8s).
        batch = os.environ.get(EVENT_BATCH_VARIABLE)
        os.environ[EVENT_BATCH_VARIABLE] = DEPLOYED_EVENT_BATCH_SIZE
        try:
            with dg.DagsterInstance.from_config(home) as instance:
                yield instance
        finally:
            if batch is None:
                os.environ.pop(EVENT_BATCH_VARIABLE)
            else:
                os.environ[EVENT_BATCH_VARIABLE] = batch
            drop_database(server, database)


def _idle_copy(asset: dg.AssetsDefinition) -> dg.AssetsDefinition:
    """``asset`` with a body that does nothing: the same key, deps, partitions, checks
    and backfill policy, so Dagster plans, records and checks exactly as much."""
    specs, checks = list(asset.specs), list(asset.check_specs)

    @dg.multi_asset(
        name=asset.op.name, specs=specs, check_specs=checks, backfill_policy=asset.backfill_policy
    )
    def _idle(context):  # annotated, Dagster would read a string (__future__)
        for spec in specs:
            yield dg.MaterializeResult(asset_key=spec.key, metadata={"rows_in_run": 0})
        for check in checks:
            yield dg.AssetCheckResult(asset_key=check.asset_key, check_name=check.name, passed=True)

    return _idle


def _step_seconds(result: dg.ExecuteInProcessResult) -> dict[str, float]:
    """Each step's duration in a run, by the asset's last key part."""
    return {
        event.step_key.split("__")[-1]: event.event_specific_data.duration_ms / 1000
        for event in result.all_events
        if event.event_type_value == "STEP_SUCCESS"
    }


def _range_tags(first: datetime, partitions: int) -> dict[str, str]:
    """The tags a backfill puts on a run of ``partitions`` hours from ``first``."""
    last = first + timedelta(hours=partitions - 1)
    return {
        "dagster/asset_partition_range_start": first.strftime("%Y-%m-%d-%H:%M"),
        "dagster/asset_partition_range_end": last.strftime("%Y-%m-%d-%H:%M"),
    }


def dagster_floor(
    server: str, days: int, run_storage: str = "sqlite", partitions_per_run: int = 24
) -> dict[str, object]:
    """Seconds Dagster itself spends per backfill run: the graph of the backfill with
    bodies that do nothing, over the same runs, recorded where the backfill records
    them. What no work of ours can take below."""
    assets = [_idle_copy(asset) for asset in build_assets(MARKETS)]
    runs = days * 24 // partitions_per_run
    seconds: list[float] = []
    steps: dict[str, list[float]] = {}
    with _run_storage(server, run_storage) as instance:
        for run in range(runs):
            first = START + timedelta(hours=run * partitions_per_run)
            tags = _range_tags(first, partitions_per_run)
            started = time.perf_counter()
            result = dg.materialize(assets, instance=instance, tags=tags, run_config=QUIET)
            seconds.append(time.perf_counter() - started)
            for step, step_seconds in _step_seconds(result).items():
                steps.setdefault(step, []).append(step_seconds)
    return {
        "runs": runs,
        "partitions_per_run": partitions_per_run,
        "seconds_per_run": round(statistics.median(seconds), 2),
        "step_seconds": {k: round(statistics.median(v), 3) for k, v in steps.items()},
        "seconds_per_asset_partition_ms": round(
            statistics.median(seconds) / (len(assets) * partitions_per_run) * 1000, 2
        ),
    }


def backfill(
    server: str,
    flavor: Flavor,
    days: int,
    items: int,
    run_storage: str = "sqlite",
    *,
    redis_url: str,
) -> dict[str, object]:
    """Every asset over ``days`` × ``items`` × 3 simulated markets, one run per 24
    partitions (what BackfillPolicy.multi_run(24) plans), in process.

    Besides the end-to-end rate: inside the raw steps, the write part's rate (the
    writer's own timing, from each step's metadata) against the writer alone, and
    the share of the step spent elsewhere; per-run overhead (run wall time minus
    its steps); peak RSS; and Dagster's floor — the same runs of the same graph with
    bodies that do nothing — with the ratio a pipeline doing nothing but the server's
    COPY could reach under it."""
    database = f"tracera_bench_e2e_{flavor.value}"
    recreate_database(server, database)
    url = _url(server, database)
    try:
        resources = _resources(url, flavor, items, redis_url, f"bench:{flavor.value}:")
        _migrate(url, flavor)  # outside the timing
        assets = build_assets(MARKETS)
        steps: dict[str, float] = {}
        raw_write = {"seconds": 0.0, "fetch_seconds": 0.0, "rows": 0}
        overhead = 0.0
        started = time.perf_counter()
        with _run_storage(server, run_storage) as instance:
            for day in range(days):
                tags = _range_tags(START + timedelta(days=day), 24)
                run_started = time.perf_counter()
                result = dg.materialize(
                    assets, resources=resources, instance=instance, tags=tags, run_config=QUIET
                )
                run_steps = _step_seconds(result)
                for key, step_seconds in run_steps.items():
                    steps[key] = steps.get(key, 0.0) + step_seconds
                seen: set[str] = set()
                for event in result.all_events:
                    if event.event_type_value == "ASSET_MATERIALIZATION":
                        metadata = event.materialization.metadata
                        # Run totals, repeated on every partition: once per step.
                        if "write_seconds" in metadata and event.step_key not in seen:
                            seen.add(event.step_key)
                            raw_write["seconds"] += metadata["write_seconds"].value
                            raw_write["fetch_seconds"] += (
                                metadata["provider_latency_ms"].value / 1000
                            )
                            raw_write["rows"] += metadata["rows_in_run"].value
                overhead += time.perf_counter() - run_started - sum(run_steps.values())
        seconds = time.perf_counter() - started
        # Before the references: they hold every row in memory to build the COPY file.
        peak_rss = _peak_rss_mib()
        rows = days * 24 * 12 * items * len(MARKETS)
    finally:
        drop_database(server, database)
        redis = resources["redis"]  # its keys go with the database
        clear_prefix(redis.client(), redis.key_prefix)
    reference = _references(server, flavor, days, items)
    floor = dagster_floor(server, min(days, 7), run_storage)
    raw_steps = sum(v for k, v in steps.items() if k in MARKETS)
    # The rest of the raw steps (the issue's "validation, item resolution, checks,
    # events": neither the provider's fetch nor the write), and Dagster's part of it:
    # what its idle raw steps took in the floor's runs.
    rest = raw_steps - raw_write["seconds"] - raw_write["fetch_seconds"]
    idle_raw_steps = days * sum(v for k, v in floor["step_seconds"].items() if k in MARKETS)
    write_rate = raw_write["rows"] / raw_write["seconds"]
    # A run that did nothing but the server's COPY of its rows, under Dagster's floor.
    copy_per_run = rows / days / reference["server_copy"]
    ceiling = copy_per_run / (copy_per_run + floor["seconds_per_run"])
    return {
        "rows": rows,
        "seconds": round(seconds, 1),
        "rows_per_second": round(rows / seconds),
        "server_copy_rows_per_second": round(reference["server_copy"]),
        "ratio": round(rows / seconds / reference["server_copy"], 3),
        "raw_write_rows_per_second": round(write_rate),
        "writer_alone_rows_per_second": round(reference["writer"]),
        "raw_write_ratio": round(write_rate / reference["writer"], 3),
        "raw_step_share_outside_write": round(1 - raw_write["seconds"] / raw_steps, 3),
        "raw_step_fetch_share": round(raw_write["fetch_seconds"] / raw_steps, 3),
        "raw_step_rest_share": round(rest / raw_steps, 3),
        "raw_step_rest_share_dagster": round(min(rest, idle_raw_steps) / raw_steps, 3),
        "run_storage": run_storage,
        "seconds_per_run": round(seconds / days, 2),
        "run_overhead_seconds": round(overhead / days, 2),
        "dagster_floor": floor,
        "ceiling_ratio_copy_under_floor": round(ceiling, 3),
        "peak_rss_mib": round(peak_rss),
        "step_seconds": {k: round(v, 2) for k, v in sorted(steps.items(), key=lambda kv: -kv[1])},
    }


def memory(
    server: str,
    flavor: Flavor,
    items: int,
    ranges: tuple[int, ...],
    run_storage: str = "sqlite",
    *,
    redis_url: str,
) -> dict[str, object]:
    """The backfill over each range, each in a fresh interpreter (peak RSS is per
    process): its figures, and how far the peaks are apart."""
    runs: dict[str, object] = {}
    for days in ranges:
        with tempfile.NamedTemporaryFile(suffix=".json") as out:
            command = [sys.executable, "-m", "benchmarks", "backfill", "--flavor", flavor.value]
            command += ["--run-storage", run_storage, "--server", server, "--redis", redis_url]
            command += ["--days", str(days), "--items", str(items), "--json", out.name]
            subprocess.run(command, check=True, capture_output=True)
            runs[f"{days}d"] = json.loads(Path(out.name).read_text())[f"backfill/{flavor.value}"]
    peaks = {name: figures["peak_rss_mib"] for name, figures in runs.items()}
    values = list(peaks.values())
    return {
        "peak_rss_mib": peaks,
        "ratio_longest_over_shortest": round(values[-1] / values[0], 2),
        "backfills": runs,
    }


def write_history(
    conn: psycopg.Connection,
    flavor: Flavor,
    markets: dict[str, str],
    items: int,
    start: datetime,
    end: datetime,
    interval_seconds: int = 300,
) -> None:
    """Simulated prices for ``[start, end)``, per market (provider name → the simulated
    market whose prices it gets), written and aggregated at every level.

    Aggregated one day at a time, as the pipeline's runs do: one statement over the
    whole history would lay each day's buckets out over the whole table (a day of
    150 read 11,500 pages of price_1h instead of ~300), which no deployment has."""
    for name, source in markets.items():
        simulated = SyntheticMarket.for_market(
            source, items=items, interval_seconds=interval_seconds
        )
        frame = simulated.fetch(start, end)
        ids = resolve_item_ids(conn, frame.get_column("market_hash_name").unique().to_list())
        write_price_window(
            conn, frame.join(ids, on="market_hash_name").drop("market_hash_name"),
            flavor=flavor, provider_id=provider_id(conn, name), window_start=start, window_end=end,
        )  # fmt: skip
    day = start
    while day < end:
        for level in LEVELS.values():
            refresh_level(conn, flavor, level, day, min(day + timedelta(days=1), end))
        day += timedelta(days=1)
    conn.execute("VACUUM ANALYZE")


def downstream_scaling(server: str, flavor: Flavor, items: int, days: int) -> dict[str, object]:
    """Refreshing aggregates, volatility and spreads for ONE hour, on ``days`` and on
    10 × ``days`` of history: the cost should follow the window, not the table.
    Compare histories longer than the widest window and its previous period (15
    days and more): below that, more history also means fuller windows."""
    timings = {}
    for label, history in (("1x", days), ("10x", 10 * days)):
        database = f"tracera_bench_scale_{flavor.value}"
        recreate_database(server, database)
        url = _url(server, database)
        try:
            postgres = PostgresResource(database_url=url, storage_flavor=flavor.value)
            with postgres.connection() as conn:
                end = START + timedelta(days=history)
                write_history(conn, postgres.flavor, {m: m for m in MARKETS}, items, START, end)
                hour = (end - timedelta(hours=1), end)
                samples = []
                for _ in range(3):
                    started = time.perf_counter()
                    for level in LEVELS.values():
                        refresh_level(conn, postgres.flavor, level, *hour)
                    for window in WINDOWS.values():
                        compute_volatility(conn, window, [hour[1]])
                    refresh_spreads(conn, *hour, PricingResource().fees())
                    samples.append(time.perf_counter() - started)
                timings[label] = statistics.median(samples)
        finally:
            drop_database(server, database)
    return {
        "hour_refresh_seconds": {k: round(v, 3) for k, v in timings.items()},
        "ratio_10x_over_1x": round(timings["10x"] / timings["1x"], 2),
    }


def startup(repeat: int = 5) -> dict[str, object]:
    """Seconds to import the code location (definitions) in a fresh interpreter."""
    code = "import time; t = time.perf_counter(); import {m}; print(time.perf_counter() - t)"

    def median(module: str) -> float:
        runs = [
            float(subprocess.check_output([sys.executable, "-c", code.format(m=module)], text=True))
            for _ in range(repeat)
        ]
        return statistics.median(runs)

    dagster, definitions = median("dagster"), median("tracera_pipeline.definitions")
    return {"dagster_import_s": round(dagster, 3), "definitions_load_s": round(definitions, 3)}
