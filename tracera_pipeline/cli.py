"""``tracera-pipeline``: migrate, load portfolios, run the demo."""

from __future__ import annotations

import argparse
import logging
import os
import sys
import warnings
from pathlib import Path

from tracera_pipeline import config
from tracera_pipeline.portfolio.fields import DEFAULT_MAX_NEW_ITEMS
from tracera_pipeline.services import cli as services_cli


def _migrate(_: argparse.Namespace) -> int:
    from tracera_pipeline.defs.resources import checked_resources

    postgres = checked_resources(services=("postgres",))["postgres"]
    prepared = postgres.prepare()
    created = " (created)" if prepared.created else ""
    print(f"{postgres.display_url}{created}: flavour {prepared.flavor.value}")
    applied = ", ".join(prepared.applied) if prepared.applied else "nothing (up to date)"
    print(f"applied: {applied}")
    return 0


def _load_portfolios(args: argparse.Namespace) -> int:
    from tracera_pipeline.defs.resources import checked_resources
    from tracera_pipeline.portfolio.loader import load_portfolios, parse_portfolio_file

    path = Path(args.file)
    portfolios = parse_portfolio_file(path)
    postgres = checked_resources(services=("postgres",))["postgres"]
    with postgres.connection() as conn:
        result = load_portfolios(
            conn,
            portfolios,
            add_unknown_items=args.add_unknown_items,
            max_new_items=args.max_new_items,
            source=path.name,
        )
    added = (
        f"; {result.items_added} new item(s) added to the catalogue" if result.items_added else ""
    )
    print(
        f"loaded {result.portfolios} portfolio(s), {result.holdings} holding(s) from"
        f" {args.file}{added}"
    )
    return 0


def _demo(args: argparse.Namespace) -> int:
    from tracera_pipeline.demo import run_demo

    run_demo(hours=args.hours, log_level="DEBUG" if args.verbose else "WARNING")
    return 0


def _dev(args: argparse.Namespace) -> int:
    from tracera_pipeline.dagster_home import choose_home, prepare_home, run_dagster_dev

    home = prepare_home(choose_home(os.environ))
    note = " (the project's dagster.yaml copied there)" if home.copied else ""
    print(f"DAGSTER_HOME={home.path}{note}")
    for warning in home.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    return run_dagster_dev(home.path, args.dagster_args)


def _backfill(args: argparse.Namespace) -> int:
    from tracera_pipeline import backfill
    from tracera_pipeline.providers.registry import KNOWN_PROVIDERS

    keys = backfill.partition_keys(args.start, args.end)
    if args.in_process:
        failed = backfill.run_in_process(keys)
        return 1 if failed else 0
    if args.assets == "raw":
        assets = [["raw", "prices", p] for p in config.enabled_providers() if p in KNOWN_PROVIDERS]
    elif args.assets == "all":
        from tracera_pipeline.definitions import defs

        assets = [list(spec.key.path) for spec in defs.resolve_all_asset_specs()]
    else:
        assets = [name.strip().split("/") for name in args.assets.split(",") if name.strip()]
    backfill_id = backfill.submit(args.webserver, keys, assets)
    print(
        f"backfill {backfill_id}: {len(keys)} partition(s) x {len(assets)} asset(s);"
        f" follow it at {args.webserver.rstrip('/')}/runs/b/{backfill_id}"
    )
    if args.no_wait:
        return 0
    state = backfill.watch(args.webserver, backfill_id)
    print(f"backfill {backfill_id}: {state.status.lower()}")
    if args.assets == "raw":
        print(
            "downstream assets follow: the downstream_automation sensor (at every pass of the"
            " daemon's 5 s loop) requests them for this range; watch them under Runs → Backfills"
        )
    return 0 if state.status in ("COMPLETED", "COMPLETED_SUCCESS") and not state.failed else 1


def _count(text: str) -> int:
    if not (text.isascii() and text.isdigit()):
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number of items, e.g. 5000")
    return int(text)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="tracera-pipeline", description=__doc__)
    parser.add_argument("-v", "--verbose", action="store_true", help="log progress")
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("migrate", help="create the database if needed and apply migrations")
    load = commands.add_parser("load-portfolios", help="load portfolios from a CSV or JSON file")
    load.add_argument("file")
    load.add_argument(
        "--add-unknown-items",
        action="store_true",
        help="add item names the catalogue does not know (refused by default)",
    )
    load.add_argument(
        "--max-new-items",
        type=_count,
        default=DEFAULT_MAX_NEW_ITEMS,
        help="at most this many new items with --add-unknown-items (default %(default)s)",
    )
    demo = commands.add_parser("demo", help="migrate, load samples, run the last 48 hours")
    demo.add_argument("--hours", type=int, default=48)
    back = commands.add_parser(
        "backfill",
        help="backfill an hourly range: a Dagster backfill through the webserver (the UI shows"
        " it), or --in-process",
    )
    back.add_argument(
        "--from", dest="start", required=True, help="first partition, e.g. 2026-11-01-00:00"
    )
    back.add_argument("--to", dest="end", required=True, help="last partition (inclusive)")
    back.add_argument(
        "--assets",
        default="raw",
        help="raw (default: the provider assets; automation does the rest), all, or a comma"
        " list of asset keys such as raw/prices/synthetic",
    )
    back.add_argument("--webserver", default="http://127.0.0.1:3000", help="Dagster webserver URL")
    back.add_argument("--no-wait", action="store_true", help="launch, print its URL, return")
    back.add_argument(
        "--in-process", action="store_true", help="run the whole graph here, 24 partitions a run"
    )
    commands.add_parser(
        "dev",
        help="`dagster dev` with a DAGSTER_HOME that keeps the project's pool and run limits",
        description="Runs `dagster dev` on the project's workspace.yaml, with DAGSTER_HOME"
        " (default: .dagster_home in the project) holding a copy of the project's"
        " dagster.yaml, its pool and run limits. Every other option goes to `dagster dev`,"
        " e.g. `tracera-pipeline dev -p 3100`; `dagster dev --help` lists them. SIGTERM"
        " stops it and everything it started.",
        usage="tracera-pipeline dev [-h] [dagster dev options]",
    )
    services_cli.add_parser(commands)
    # Whatever follows `dev` goes to `dagster dev` (e.g. `tracera-pipeline dev -p 3100`).
    args, extra = parser.parse_known_args(argv)
    if extra and args.command != "dev":
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    args.dagster_args = extra[1:] if extra[:1] == ["--"] else extra
    # Beta/preview notices about Dagster APIs are for developers, not operators.
    warnings.filterwarnings("ignore", module="dagster")
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
    )
    handlers = {
        "migrate": _migrate,
        "load-portfolios": _load_portfolios,
        "demo": _demo,
        "dev": _dev,
        "backfill": _backfill,
        "services": services_cli.run,
    }
    try:
        return handlers[args.command](args)
    except (ValueError, RuntimeError, OSError) as exc:
        # Our errors are one sentence naming the fix (settings, PostgreSQL, Redis, files).
        print(f"tracera-pipeline {args.command}: {_masked(str(exc))}", file=sys.stderr)
        return 1
    except Exception as exc:
        dagster = sys.modules.get("dagster")
        if dagster is not None and isinstance(exc, dagster.Failure):
            message = exc.description or str(exc)  # a step's sentence, e.g. a provider's key
        elif type(exc).__module__.split(".")[0] in ("psycopg", "redis"):
            message = str(exc)  # a database or Redis error our checks did not foresee
        else:
            raise  # a bug: its traceback is what a developer needs
        print(f"tracera-pipeline {args.command}: {_masked(message).strip()}", file=sys.stderr)
        return 1


def _masked(text: str) -> str:
    """``text`` with the database and Redis passwords masked, whatever produced it."""
    from tracera_pipeline.storage.connections import scrub

    for variable in ("TRACERA_DATABASE_URL", "TRACERA_REDIS_URL"):
        if url := os.environ.get(variable):
            text = scrub(text, url)
    return text


if __name__ == "__main__":
    sys.exit(main())
