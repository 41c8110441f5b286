"""``tracera-pipeline``: migrate, load portfolios, run the demo."""

from __future__ import annotations

import argparse
import logging
import os
import sys
import warnings
from pathlib import Path

from tracera_pipeline import config
from tracera_pipeline.services import cli as services_cli


def _database_url() -> str:
    # Unset, it may resolve to the embedded server (started on demand).
    return str(
        config.env_or_default("TRACERA_DATABASE_URL", config.DEFAULT_DATABASE_URL, resolve=True)
    )


def _migrate(_: argparse.Namespace) -> int:
    import psycopg

    from tracera_pipeline.storage.database import ensure_database, redact
    from tracera_pipeline.storage.flavor import FlavorRequest
    from tracera_pipeline.storage.migrations import migrate

    url = _database_url()
    created = ensure_database(url)
    with psycopg.connect(url, autocommit=True) as conn:
        report = migrate(
            conn, config.sql_dir(), FlavorRequest(os.environ.get("TRACERA_STORAGE_FLAVOR", "auto"))
        )
    print(f"{redact(url)}{' (created)' if created else ''}: flavour {report.flavor.value}")
    print(f"applied: {', '.join(report.applied) if report.applied else 'nothing (up to date)'}")
    return 0


def _load_portfolios(args: argparse.Namespace) -> int:
    from tracera_pipeline.defs.resources import default_resources
    from tracera_pipeline.portfolio.loader import load_portfolios, parse_portfolio_file

    portfolios = parse_portfolio_file(Path(args.file))
    postgres = default_resources(resolve=True)["postgres"]
    with postgres.connection() as conn:
        holdings = load_portfolios(conn, portfolios)
    print(f"loaded {len(portfolios)} portfolio(s), {holdings} holding(s) from {args.file}")
    return 0


def _demo(args: argparse.Namespace) -> int:
    from tracera_pipeline.demo import run_demo

    run_demo(hours=args.hours, log_level="DEBUG" if args.verbose else "WARNING")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="tracera-pipeline", description=__doc__)
    parser.add_argument("-v", "--verbose", action="store_true", help="log progress")
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("migrate", help="create the database if needed and apply migrations")
    load = commands.add_parser("load-portfolios", help="load portfolios from a CSV or JSON file")
    load.add_argument("file")
    demo = commands.add_parser("demo", help="migrate, load samples, run the last 48 hours")
    demo.add_argument("--hours", type=int, default=48)
    services_cli.add_parser(commands)
    args = parser.parse_args(argv)
    # Beta/preview notices about Dagster APIs are for developers, not operators.
    warnings.filterwarnings("ignore", module="dagster")
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
    )
    handlers = {"migrate": _migrate, "load-portfolios": _load_portfolios, "demo": _demo}
    handlers["services"] = services_cli.run
    try:
        return handlers[args.command](args)
    except (ValueError, RuntimeError, OSError) as exc:
        print(f"tracera-pipeline {args.command}: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
