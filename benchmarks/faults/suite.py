"""``python -m benchmarks faults``: run the fault scenarios on a throwaway PostgreSQL
cluster and print rows expected / found / duplicated and what the user saw."""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path

from benchmarks.faults import inputs, runs, writes
from benchmarks.faults.env import Environment, start_cluster
from benchmarks.faults.report import Outcome, as_json, table
from tracera_pipeline_tests import throwaway_postgres


def _scenarios(outage: float) -> dict[str, Callable[[Environment], Outcome | list[Outcome]]]:
    return {
        "kill": writes.kill_mid_copy,
        "concurrent": writes.concurrent_window,
        "snapshots": writes.concurrent_snapshots,
        "first-use": writes.concurrent_first_use,
        "pg-restart": lambda env: runs.postgres_fault(env, when="copy"),
        "pg-outage": lambda env: runs.postgres_fault(env, when="copy", outage=outage),
        "pg-restart-aggregation": lambda env: runs.postgres_fault(env, when="aggregate"),
        "redis": runs.redis_down,
        "watermark": runs.backfill_before_watermark,
        "hostile": inputs.hostile_portfolio_files,
    }


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks faults", description=__doc__)
    parser.add_argument("--flavor", choices=("native", "timescaledb"), default="native")
    parser.add_argument("--only", default="", help="comma list of scenarios (default: all)")
    parser.add_argument("--outage-seconds", type=float, default=30.0)
    parser.add_argument("--json", type=Path, help="also write the outcomes here as JSON")
    parser.add_argument(
        "--server-url",
        default=os.environ.get(
            "TRACERA_TEST_SERVER_URL", "postgresql://postgres@127.0.0.1/postgres"
        ),
        help="a server of the PostgreSQL version to run (only its initdb/pg_ctl are used)",
    )
    parser.add_argument(
        "--redis-url",
        default=os.environ.get("TRACERA_TEST_REDIS_URL", "redis://127.0.0.1:6379/15"),
        help="Redis for the scenarios that do not stop Redis (keys under their own prefix)",
    )
    args = parser.parse_args(argv)
    scenarios = _scenarios(args.outage_seconds)
    chosen = [name.strip() for name in args.only.split(",") if name.strip()] or list(scenarios)
    unknown = [name for name in chosen if name not in scenarios]
    if unknown:
        parser.error(f"unknown scenario(s) {unknown}; choose from {', '.join(scenarios)}")
    try:
        cluster = start_cluster(args.server_url, args.flavor)
    except throwaway_postgres.Unavailable as exc:
        print(f"cannot start a throwaway PostgreSQL cluster: {exc}", file=sys.stderr)
        return 2
    env = Environment(cluster, args.flavor, args.redis_url)
    outcomes: list[Outcome] = []
    try:
        for name in chosen:
            print(f"running {name} …", file=sys.stderr, flush=True)
            started = time.monotonic()
            try:
                produced = scenarios[name](env)
            except Exception as exc:  # a scenario that breaks is a finding, not a crash
                produced = Outcome(name, None, None, None, f"scenario error: {exc!r}", ok=False)
            for outcome in produced if isinstance(produced, list) else [produced]:
                outcome.seconds = outcome.seconds or time.monotonic() - started
                outcomes.append(outcome)
    finally:
        throwaway_postgres.stop(cluster)
    print(table(outcomes))
    if args.json:
        args.json.write_text(as_json(outcomes))
    return 0 if all(o.ok for o in outcomes) else 1
