"""Worker processes the suite starts, kills and restarts around: each does what a
provider step or a Dagster run does, then prints one JSON line.

``python -m benchmarks.faults.worker <ingest|snapshot|graph> '<json arguments>'``
"""

from __future__ import annotations

import json
import sys
import time
from datetime import datetime, timedelta


def _wait_until(epoch: float | None) -> None:
    """Start at the same instant as the other workers, to race for real."""
    if epoch:
        time.sleep(max(0.0, epoch - time.time()))


def ingest(args: dict) -> dict:
    """A provider step's work for ``hours`` windows: fetch, resolve items, COPY per hour."""
    import dagster as dg
    import psycopg

    from tracera_pipeline.defs.ingestion.ingest import ingest_windows
    from tracera_pipeline.providers.synthetic import SyntheticMarket
    from tracera_pipeline.storage.flavor import Flavor

    start = datetime.fromisoformat(args["start"])
    windows = [
        dg.TimeWindow(start + timedelta(hours=h), start + timedelta(hours=h + 1))
        for h in range(args["hours"])
    ]
    market = SyntheticMarket.for_market(
        "synthetic", items=args["items"], interval_seconds=args["interval"], seed=args["seed"]
    )
    with psycopg.connect(args["url"], autocommit=True) as conn:
        _wait_until(args.get("start_at"))
        report = ingest_windows(
            conn, Flavor(args["flavor"]), market, windows, chunk_rows=args["chunk_rows"]
        )
    return {"rows_written": report.rows_written, "seed": args["seed"]}


def snapshot(args: dict) -> dict:
    """A live provider's snapshot of one hour, merged: at its own minute and at minute 59."""
    import polars as pl
    import psycopg

    from tracera_pipeline.providers.synthetic import SyntheticMarket
    from tracera_pipeline.storage.flavor import Flavor
    from tracera_pipeline.storage.items import provider_id, resolve_item_ids
    from tracera_pipeline.storage.price_writer import WriteMode, write_price_window

    hour = datetime.fromisoformat(args["hour"])
    market = SyntheticMarket.for_market(
        "synthetic", items=args["items"], interval_seconds=60, seed=args["seed"]
    )
    moments = [hour + timedelta(minutes=args["minute"]), hour + timedelta(minutes=59)]
    frame = pl.concat([market.fetch(m, m + timedelta(minutes=1)) for m in moments])
    with psycopg.connect(args["url"], autocommit=True) as conn:
        ids = resolve_item_ids(conn, frame.get_column("market_hash_name").to_list())
        rows = frame.join(ids, on="market_hash_name").select(
            "time", "item_id", "price_cents", "volume", "listings"
        )
        _wait_until(args.get("start_at"))
        write_price_window(
            conn,
            rows,
            flavor=Flavor(args["flavor"]),
            provider_id=provider_id(conn, "synthetic"),
            window_start=hour,
            window_end=hour + timedelta(hours=1),
            mode=WriteMode.MERGE,
        )
    return {"rows_written": rows.height, "seed": args["seed"]}


def graph(args: dict) -> dict:
    """The whole asset graph over a partition range, as a Dagster run (settings from the
    environment, as in a deployment); which steps failed, were retried, and why."""
    import dagster as dg

    from tracera_pipeline.definitions import build_assets
    from tracera_pipeline.defs.resources import default_resources

    started = time.monotonic()
    result = dg.materialize(
        build_assets(args["markets"]),
        resources=default_resources(resolve=True),
        instance=dg.DagsterInstance.ephemeral(),
        tags={
            "dagster/asset_partition_range_start": args["first"],
            "dagster/asset_partition_range_end": args["last"],
        },
        run_config={"loggers": {"console": {"config": {"log_level": "CRITICAL"}}}},
        raise_on_error=False,
    )
    failures, retries = [], 0
    for event in result.all_events:
        if event.event_type_value == "STEP_UP_FOR_RETRY":
            retries += 1
        if event.event_type_value == "STEP_FAILURE":
            failures.append(f"{event.step_key}: {_root_cause(event.step_failure_data)}")
    return {
        "success": result.success,
        "retries": retries,
        "failures": failures,
        "seconds": round(time.monotonic() - started, 1),
    }


def _root_cause(failure) -> str:
    """The innermost error's first line: what went wrong, not Dagster's wrapper."""
    if failure.user_failure_data is not None and failure.user_failure_data.description:
        return failure.user_failure_data.description.splitlines()[0][:300]
    error = failure.error
    while error is not None and error.cause is not None:
        error = error.cause
    lines = (error.message if error else "").strip().splitlines() or [""]
    return lines[0][:300]


COMMANDS = {"ingest": ingest, "snapshot": snapshot, "graph": graph}


if __name__ == "__main__":
    command, arguments = sys.argv[1], json.loads(sys.argv[2])
    print(json.dumps(COMMANDS[command](arguments)), flush=True)
