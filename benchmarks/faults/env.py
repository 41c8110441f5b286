"""What the scenarios run against: a throwaway PostgreSQL cluster, Redis servers of
their own, fresh databases, worker processes, and polling helpers."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import psycopg
from psycopg import sql

from tracera_pipeline import config
from tracera_pipeline.storage.database import ensure_database
from tracera_pipeline.storage.flavor import FlavorRequest
from tracera_pipeline.storage.migrations import migrate
from tracera_pipeline_tests import throwaway_postgres
from tracera_pipeline_tests.throwaway_postgres import Cluster, free_port

REPO_ROOT = Path(__file__).resolve().parents[2]
WORKER_APP = "tracera_fault_worker"  # application_name of worker connections


@dataclass
class Environment:
    cluster: Cluster
    flavor: str
    shared_redis_url: str
    run_id: str = uuid.uuid4().hex[:6]

    def new_database(self, label: str, *, migrated: bool = True) -> str:
        """A fresh database on the cluster (migrated unless asked not to); its URL."""
        url = self.cluster.url(f"faults_{self.run_id}_{label}")
        ensure_database(url)
        if migrated:
            with psycopg.connect(url, autocommit=True) as conn:
                migrate(conn, config.sql_dir(), FlavorRequest(self.flavor))
        return url

    def worker_url(self, url: str) -> str:
        """The same database, connections named so the suite can watch what they do."""
        return psycopg.conninfo.make_conninfo(url, application_name=WORKER_APP)

    def drop(self, url: str) -> None:
        name = psycopg.conninfo.conninfo_to_dict(url)["dbname"]
        with psycopg.connect(self.cluster.url(), autocommit=True) as conn:
            conn.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )


def start_cluster(server_url: str, flavor: str) -> Cluster:
    settings = {"shared_preload_libraries": "timescaledb"} if flavor == "timescaledb" else {}
    return throwaway_postgres.start(throwaway_postgres.find_bindir(server_url), settings)


@dataclass
class RedisServer:
    port: int
    process: subprocess.Popen
    root: Path

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(timeout=10)


def start_redis(port: int | None = None) -> RedisServer:
    """A redis-server of our own (on a free port unless given), nothing persisted."""
    executable = shutil.which("redis-server") or shutil.which("valkey-server")
    if executable is None:
        raise RuntimeError("redis-server is not installed; install it to run the Redis scenario")
    root = Path(tempfile.mkdtemp(prefix="tracera-redis-"))
    port = port or free_port()
    process = subprocess.Popen(
        [executable, "--port", str(port), "--bind", "127.0.0.1", "--save", "",
         "--appendonly", "no", "--dir", str(root)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    server = RedisServer(port, process, root)
    import redis

    wait_for(lambda: _answers(redis, server.url), 10, "redis-server to answer")
    return server


def stop_redis(server: RedisServer) -> None:
    server.kill()
    shutil.rmtree(server.root, ignore_errors=True)


def _answers(redis_module, url: str) -> bool:
    try:
        return bool(redis_module.Redis.from_url(url, socket_connect_timeout=1).ping())
    except redis_module.RedisError:
        return False


def wait_for(condition: Callable[[], object], timeout: float, what: str, step: float = 0.02):
    """Poll ``condition`` until it is truthy; its value. Raises naming ``what``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(step)
    raise TimeoutError(f"gave up waiting for {what} after {timeout:.0f}s")


def worker(
    command: str, args: dict[str, object], env: dict[str, str] | None = None
) -> subprocess.Popen:
    """``python -m benchmarks.faults.worker <command>`` with its arguments as JSON;
    it prints one JSON line with what it did."""
    return subprocess.Popen(
        [sys.executable, "-m", "benchmarks.faults.worker", command, json.dumps(args)],
        cwd=REPO_ROOT,
        env={**os.environ, **(env or {})},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def result_of(process: subprocess.Popen, timeout: float = 600) -> dict[str, object]:
    """The worker's JSON line, or what became of it (killed, crashed)."""
    out, err = process.communicate(timeout=timeout)
    lines = [line for line in out.splitlines() if line.startswith("{")]
    if lines:
        return json.loads(lines[-1])
    if process.returncode < 0:
        return {"killed": -process.returncode}
    return {"crashed": process.returncode, "stderr": err.strip().splitlines()[-3:]}


def activity(conn: psycopg.Connection, like: str) -> bool:
    """Whether a worker connection is running a statement matching ``like`` right now."""
    return bool(
        conn.execute(
            "SELECT 1 FROM pg_stat_activity WHERE application_name = %s"
            " AND state = 'active' AND query ILIKE %s",
            (WORKER_APP, like),
        ).fetchone()
    )


def copy_progress(conn: psycopg.Connection) -> int:
    """Rows the worker's COPY in progress has received so far (0: none running)."""
    row = conn.execute(
        "SELECT max(p.tuples_processed) FROM pg_stat_progress_copy p"
        " JOIN pg_stat_activity a USING (pid) WHERE a.application_name = %s",
        (WORKER_APP,),
    ).fetchone()
    return int(row[0] or 0)
