"""Start Dagster's processes as the compose stack runs them, and talk to the webserver.

Each process runs in its own session (process group) with its output in a log
file, so a test can stop it together with the run workers it started, and show
the logs when something does not come up.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

T = TypeVar("T")
BIN = Path(sys.executable).parent  # the console scripts of this virtualenv


@dataclass
class Processes:
    """The processes started so far, stopped in reverse order."""

    workdir: Path
    env: dict[str, str]
    started: list[tuple[str, subprocess.Popen[bytes]]] = field(default_factory=list)

    def start(self, name: str, *command: str) -> subprocess.Popen[bytes]:
        log = (self.workdir / f"{name}.log").open("wb")
        process = subprocess.Popen(
            [str(BIN / command[0]), *command[1:]],
            cwd=self.workdir,  # no stray .env or dagster.yaml from the caller's directory
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self.started.append((name, process))
        return process

    def log(self, name: str) -> str:
        path = self.workdir / f"{name}.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def logs(self, tail: int = 40) -> str:
        parts = []
        for name, process in self.started:
            lines = self.log(name).splitlines()[-tail:]
            parts.append(f"--- {name} (exit {process.poll()}) ---\n" + "\n".join(lines))
        return "\n".join(parts)

    def assert_running(self) -> None:
        for name, process in self.started:
            if process.poll() is not None:
                raise AssertionError(f"{name} exited with {process.returncode}\n{self.logs()}")

    def stop_all(self) -> None:
        for _name, process in reversed(self.started):
            _stop_group(process)


@contextmanager
def processes(workdir: Path, env: dict[str, str]) -> Iterator[Processes]:
    procs = Processes(workdir, env)
    try:
        yield procs
    finally:
        procs.stop_all()


def _stop_group(process: subprocess.Popen[bytes], grace: float = 15) -> None:
    """SIGTERM the process group (the process and e.g. its run workers), then SIGKILL."""
    if process.poll() is None:
        _signal_group(process, signal.SIGTERM)
        with suppress(subprocess.TimeoutExpired):
            process.wait(timeout=grace)
    _signal_group(process, signal.SIGKILL)  # children that outlived their parent
    process.wait(timeout=30)


def _signal_group(process: subprocess.Popen[bytes], sig: signal.Signals) -> None:
    with suppress(ProcessLookupError):
        os.killpg(process.pid, sig)  # start_new_session: the group id is the pid


def wait_for(
    what: str,
    probe: Callable[[], T | None],
    procs: Processes,
    timeout: float,
    interval: float = 0.5,
) -> T:
    """Poll ``probe`` until it returns something; fail with the processes' logs."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        procs.assert_running()
        if (result := probe()) is not None:
            return result
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}\n{procs.logs()}")


def http_ok(url: str) -> bool | None:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return True if response.status == 200 else None
    except (urllib.error.URLError, ConnectionError, TimeoutError):
        return None


def graphql(base_url: str, query: str, variables: dict[str, Any] | None = None) -> dict[str, Any]:
    request = urllib.request.Request(
        f"{base_url}/graphql",
        data=json.dumps({"query": query, "variables": variables or {}}).encode(),
        headers={"Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            body = json.loads(response.read())
    except urllib.error.HTTPError as exc:  # e.g. 500 when the instance storage fails
        raise AssertionError(f"GraphQL answered HTTP {exc.code}: {exc.read()[:2000]!r}") from exc
    if body.get("errors"):
        raise AssertionError(f"GraphQL errors: {body['errors']}")
    return body["data"]
