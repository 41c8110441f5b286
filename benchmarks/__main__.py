"""``python -m benchmarks <scenario>``: the pipeline's performance figures.

Scenarios: ``backfill`` (every asset over a range vs the server's binary COPY of the
same rows, per flavour), ``downstream`` (one hour's refresh on 1× and 10× history),
``redis`` (warming 30k items vs a round trip per key), ``portfolios`` (10k × 20 at
one time vs a query per portfolio), ``startup`` (definitions load), or ``all``;
``faults`` runs the fault suite (``python -m benchmarks faults --help``).
Each creates and drops its own databases. Ratios are measured in the same run.
"""

from __future__ import annotations

import argparse
import json
import sys
import warnings
from pathlib import Path

from tracera_pipeline.storage.flavor import Flavor, timescaledb_usable

SERVER = "postgresql://postgres@127.0.0.1:5432/postgres"


def _flavors(choice: str, server: str) -> list[Flavor]:
    import psycopg

    if choice != "both":
        return [Flavor(choice)]
    with psycopg.connect(server, autocommit=True) as conn:
        usable, reason = timescaledb_usable(conn)
    if not usable:
        print(f"TimescaleDB skipped: {reason}")
    return [Flavor.NATIVE, *([Flavor.TIMESCALEDB] if usable else [])]


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["faults"]:
        from benchmarks.faults.suite import main as faults

        return faults(argv[1:])
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    parser.add_argument(
        "scenario",
        choices=[
            "all",
            "backfill",
            "downstream",
            "redis",
            "portfolios",
            "startup",
            "memory",
            "fresh",
        ],
    )
    parser.add_argument("--flavor", default="both", choices=["both", "native", "timescaledb"])
    parser.add_argument("--days", type=int, default=30, help="backfill range (days)")
    parser.add_argument("--items", type=int, default=1000, help="items per simulated market")
    parser.add_argument(
        "--fresh-items", type=int, default=5000, help="items per market for the fresh scenario"
    )
    parser.add_argument(
        "--executor", choices=["multiprocess", "in_process"], help="TRACERA_EXECUTOR for fresh"
    )
    parser.add_argument(
        "--run-storage",
        default="sqlite",
        choices=["sqlite", "postgres"],
        help="where backfill/memory record their runs: dagster dev's SQLite or the deployments'"
        " PostgreSQL (a database of its own on --server)",
    )
    parser.add_argument("--server", default=SERVER, help="libpq URL of the server (any database)")
    parser.add_argument("--redis", default="redis://127.0.0.1:6379/15")
    parser.add_argument("--smoke", action="store_true", help="tiny sizes: proves it runs")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args(argv)
    warnings.filterwarnings("ignore")
    if args.smoke:
        args.days, args.items = 1, 20

    from benchmarks import pipeline, serving

    wanted = {"backfill", "downstream", "redis", "portfolios", "startup", "memory", "fresh"}
    wanted = wanted if args.scenario == "all" else {args.scenario}
    figures: dict[str, object] = {}
    for flavor in _flavors(args.flavor, args.server):
        if "backfill" in wanted and "memory" not in wanted:
            figures[f"backfill/{flavor}"] = pipeline.backfill(
                args.server, flavor, args.days, args.items, args.run_storage, redis_url=args.redis
            )
        if "memory" in wanted:
            # The backfill over 7 days and over --days, each in its own process.
            figures[f"memory/{flavor}"] = pipeline.memory(
                args.server, flavor, args.items, (1, 2) if args.smoke else (7, args.days),
                args.run_storage, redis_url=args.redis,
            )  # fmt: skip
        if "fresh" in wanted:
            from benchmarks import freshness

            figures[f"fresh/{flavor}"] = freshness.fresh(
                args.server, flavor.value, args.redis,
                items=50 if args.smoke else args.fresh_items,
                history_days=1 if args.smoke else 14,
                ticks=2 if args.smoke else 3,
                executor=args.executor,
            )  # fmt: skip
        if "downstream" in wanted:
            figures[f"downstream/{flavor}"] = pipeline.downstream_scaling(
                args.server, flavor, min(args.items, 200), 1 if args.smoke else 15
            )
    if "redis" in wanted:
        figures["redis"] = serving.redis_warm(args.redis, 300 if args.smoke else 30_000)
    if "portfolios" in wanted:
        figures["portfolios"] = (
            serving.portfolios(args.server, 50, 5)
            if args.smoke
            else serving.portfolios(args.server)
        )
    if "startup" in wanted:
        figures["startup"] = pipeline.startup(2 if args.smoke else 5)
    for name, values in figures.items():
        print(f"{name}: {json.dumps(values)}")
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
