"""A throwaway PostgreSQL cluster (initdb into a temp dir, a free port, nothing preloaded).

Used to reproduce servers configured differently from the shared test server, e.g.
TimescaleDB installed but not in ``shared_preload_libraries``. PostgreSQL refuses
to run as root, so under root the binaries run as the ``postgres`` system user.
"""

from __future__ import annotations

import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

import psycopg


class Unavailable(Exception):
    """Why a throwaway cluster cannot run here (the test skips with this reason)."""


@dataclass(frozen=True)
class Cluster:
    root: Path
    port: int
    bindir: Path

    def url(self, dbname: str = "postgres") -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{dbname}"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def find_bindir(server_url: str) -> Path:
    """initdb/pg_ctl of the same major version as the shared test server, if installed."""
    if override := os.environ.get("TRACERA_TEST_PG_BINDIR"):
        candidates = [Path(override)]
    else:
        with psycopg.connect(server_url, connect_timeout=5) as conn:
            major = conn.info.server_version // 10000
        candidates = [Path(f"/usr/lib/postgresql/{major}/bin")]
        if pg_config := shutil.which("pg_config"):
            out = subprocess.run([pg_config, "--bindir"], capture_output=True, text=True)
            candidates.append(Path(out.stdout.strip()))
    for bindir in candidates:
        if (bindir / "initdb").exists() and (bindir / "pg_ctl").exists():
            return bindir
    raise Unavailable(f"initdb/pg_ctl not found in {', '.join(map(str, candidates))}")


def _as_server_user() -> tuple[list[str], int | None]:
    if os.geteuid() != 0:
        return [], None
    try:
        uid = pwd.getpwnam("postgres").pw_uid
    except KeyError as exc:
        raise Unavailable("running as root and there is no `postgres` user for initdb") from exc
    runuser = shutil.which("runuser")
    if runuser is None:
        raise Unavailable("running as root and `runuser` is missing to drop to `postgres`")
    return [runuser, "-u", "postgres", "--"], uid


def start(
    bindir: Path, settings: dict[str, str] | None = None, password: str | None = None
) -> Cluster:
    """initdb + pg_ctl start on a free port; ``stop`` removes everything again.

    With ``password``, TCP connections must give it (scram-sha-256); the Unix socket
    in the cluster's directory stays trusted."""
    prefix, uid = _as_server_user()
    root = Path(tempfile.mkdtemp(prefix="tracera-pg-"))
    if uid is not None:
        os.chown(root, uid, -1)
    auth = ["--auth=trust"]
    if password is not None:
        (root / "pwfile").write_text(password + "\n")
        if uid is not None:
            os.chown(root / "pwfile", uid, -1)
        auth = ["--auth-local=trust", "--auth-host=scram-sha-256", f"--pwfile={root / 'pwfile'}"]
    try:
        _run(
            [
                *prefix,
                str(bindir / "initdb"),
                "-D",
                str(root / "data"),
                "-U",
                "postgres",
                *auth,
                "-E",
                "UTF8",
                "--no-sync",
            ],
            "initdb",
            cwd=root,
        )
        options = {
            "listen_addresses": "127.0.0.1",
            "unix_socket_directories": str(root),
            "fsync": "off",
            "shared_preload_libraries": "",
            **(settings or {}),
        }
        for _attempt in range(3):  # the free port may be taken between the check and the bind
            cluster = Cluster(root, free_port(), bindir)
            flags = " ".join(f"-c {key}='{value}'" for key, value in options.items())
            done = subprocess.run(
                [
                    *prefix,
                    str(bindir / "pg_ctl"),
                    "-D",
                    str(root / "data"),
                    "-l",
                    str(root / "server.log"),
                    "-w",
                    "-t",
                    "30",
                    "-o",
                    f"-p {cluster.port} {flags}",
                    "start",
                ],
                capture_output=True,
                text=True,
                timeout=60,
                cwd=root,
            )
            if done.returncode == 0:
                return cluster
        raise Unavailable(f"pg_ctl start failed: {done.stderr.strip() or done.stdout.strip()}")
    except BaseException:
        shutil.rmtree(root, ignore_errors=True)
        raise


def postmaster_pid(cluster: Cluster) -> int:
    """The server's main process (to pause it with SIGSTOP, as a hung server would be)."""
    return int((cluster.root / "data" / "postmaster.pid").read_text().split()[0])


def pg_ctl(cluster: Cluster, action: str) -> None:
    """``pg_ctl stop`` (fast) or ``start`` on the cluster's port, e.g. to restart it."""
    prefix, _ = _as_server_user()
    options = f"-p {cluster.port} -c listen_addresses=127.0.0.1"
    options += f" -c unix_socket_directories='{cluster.root}' -c fsync=off"
    command = [*prefix, str(cluster.bindir / "pg_ctl"), "-D", str(cluster.root / "data"), "-w"]
    if action == "start":
        command += ["-l", str(cluster.root / "server.log"), "-o", options, "start"]
    else:
        command += ["-m", "fast", "stop"]
    _run(command, f"pg_ctl {action}", cwd=cluster.root)


def stop(cluster: Cluster) -> None:
    prefix, _ = _as_server_user()
    subprocess.run(
        [
            *prefix,
            str(cluster.bindir / "pg_ctl"),
            "-D",
            str(cluster.root / "data"),
            "-m",
            "immediate",
            "stop",
        ],
        capture_output=True,
        timeout=60,
        cwd=cluster.root,
    )
    shutil.rmtree(cluster.root, ignore_errors=True)


def _run(command: list[str], what: str, cwd: Path) -> None:
    # cwd: the server user may not be allowed into the caller's directory.
    done = subprocess.run(command, capture_output=True, text=True, timeout=120, cwd=cwd)
    if done.returncode != 0:
        raise Unavailable(f"{what} failed: {done.stderr.strip() or done.stdout.strip()}")


def _pg_ctl(cluster: Cluster, *args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    prefix, _ = _as_server_user()
    command = [*prefix, str(cluster.bindir / "pg_ctl"), "-D", str(cluster.root / "data"), *args]
    return subprocess.run(
        command, capture_output=True, text=True, timeout=timeout, cwd=cluster.root
    )


def restart(cluster: Cluster, mode: str = "fast") -> None:
    """Restart the server (``fast`` ends sessions cleanly, ``immediate`` like a crash).
    With the server down it just starts it, with the options of its first start."""
    done = _pg_ctl(cluster, "-w", "-t", "60", "-m", mode, "-l", str(cluster.root / "server.log"),
                   "restart")  # fmt: skip
    if done.returncode != 0:
        raise Unavailable(f"pg_ctl restart failed: {done.stderr.strip() or done.stdout.strip()}")


def halt(cluster: Cluster, mode: str = "fast") -> None:
    """Stop the server and keep its data, for an outage; ``restart`` brings it back."""
    done = _pg_ctl(cluster, "-w", "-t", "60", "-m", mode, "stop")
    if done.returncode != 0:
        raise Unavailable(f"pg_ctl stop failed: {done.stderr.strip() or done.stdout.strip()}")
