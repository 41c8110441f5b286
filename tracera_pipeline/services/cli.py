"""``tracera-pipeline services start|stop|status``: the embedded servers of this folder.

Servers started on demand keep running after the command that started them, because
``dagster dev``, its runs and later commands use them too; ``stop`` ends them (data
stays in ``TRACERA_HOME``, default ``./.tracera``; delete that folder to start afresh).
"""

from __future__ import annotations

import argparse

from tracera_pipeline import config
from tracera_pipeline.services import embedded


def add_parser(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser(
        "services", help="start, stop or show the embedded PostgreSQL and Valkey servers"
    )
    parser.add_argument(
        "action",
        choices=["start", "stop", "status"],
        help="start: what any command would start (nothing where a server is configured "
        "or answers); stop: stop this folder's embedded servers; status: what each uses",
    )


def run(args: argparse.Namespace) -> int:
    if args.action == "stop":
        lines = embedded.stop()
    else:
        if args.action == "start":
            for service in embedded.SERVICES.values():  # the way every command resolves them
                config.env_or_default(service.variable, service.default_url, resolve=True)
        lines = embedded.status()
    print("\n".join(lines))
    return 0
