"""PostgreSQL and Redis trouble a newcomer meets: one sentence naming the setting and
the fix, in the CLI and as the run's failure; retried only when it can heal.

Real servers only: a closed port, a throwaway cluster with password authentication
(wrong password, paused with SIGSTOP, stopped and started again), the shared server
for schema problems. The passwords must appear nowhere: not in the event log, the
instance's files, the CLI's output or anything the process printed.
"""

from __future__ import annotations

import os
import signal
import threading
import time
from collections.abc import Iterator
from urllib.parse import quote

import dagster as dg
import psycopg
import pytest
from dagster_shared.serdes import serialize_value

from tracera_pipeline.cli import main
from tracera_pipeline.definitions import build_definitions
from tracera_pipeline.defs.ingestion.assets import PROVIDER_RETRY_POLICY
from tracera_pipeline.defs.partitions import DOWNSTREAM_RETRY_POLICY
from tracera_pipeline.defs.resources import PostgresResource
from tracera_pipeline.defs.retention.sensors import raw_retention_sensor
from tracera_pipeline_tests import throwaway_postgres
from tracera_pipeline_tests.conftest import REDIS_URL, SERVER_URL
from tracera_pipeline_tests.error_helpers import (
    cli_error,
    error_messages,
    native_only,
    run_asset,
    service_resources,
    step_failure,
)
from tracera_pipeline_tests.helpers import T0, key

PASSWORD = "s3cr@t Pa55/wörd"  # what the cluster wants: needs percent-encoding
WRONG = "hunter2@Sekret"
SECRETS = (PASSWORD, WRONG, "Pa55", "Sekret", "hunter2", quote(PASSWORD, safe=""))


@pytest.fixture(scope="module")
def cluster() -> Iterator[throwaway_postgres.Cluster]:
    try:
        started = throwaway_postgres.start(
            throwaway_postgres.find_bindir(SERVER_URL), password=PASSWORD
        )
    except throwaway_postgres.Unavailable as exc:
        pytest.skip(f"no throwaway PostgreSQL cluster: {exc}")
    try:
        PostgresResource(database_url=_url(started, PASSWORD), storage_flavor="native").prepare()
        yield started
    finally:
        throwaway_postgres.stop(started)


def _url(cluster: throwaway_postgres.Cluster, password: str, *, encode: bool = True) -> str:
    secret = quote(password, safe="") if encode else password
    return f"postgresql://postgres:{secret}@127.0.0.1:{cluster.port}/tracera_err"


# -- database unreachable, unknown host, wrong password ----------------------------


def test_an_unreachable_database_is_named_and_retried(monkeypatch, capsys) -> None:
    url = f"postgresql://postgres@127.0.0.1:{throwaway_postgres.free_port()}/tracera_err"
    monkeypatch.setenv("TRACERA_DATABASE_URL", url)
    expected = "nothing accepts connections at 127.0.0.1:"
    for command in (["migrate"], ["demo", "--hours", "1"]):
        err = cli_error(command, capsys)
        assert expected in err and "fix the host and port in TRACERA_DATABASE_URL" in err

    # A PostgreSQL restart looks the same: the step is tried again.
    message, retries = step_failure(run_asset("raw", service_resources(url)))
    assert expected in message and "TRACERA_DATABASE_URL" in message
    assert retries == 2


def test_an_unknown_host_fails_at_once(capsys, monkeypatch) -> None:
    url = "postgresql://postgres@no-such-host.invalid:5432/tracera_err"
    monkeypatch.setenv("TRACERA_DATABASE_URL", url)
    expected = "the host 'no-such-host.invalid' in TRACERA_DATABASE_URL does not resolve"
    assert expected in cli_error(["migrate"], capsys)
    message, retries = step_failure(run_asset("raw", service_resources(url)))
    assert expected in message and retries == 0


def test_a_wrong_password_fails_at_once(cluster, monkeypatch, capsys) -> None:
    monkeypatch.setenv("TRACERA_DATABASE_URL", _url(cluster, WRONG))
    expected = "refused the password of user 'postgres'; set the right password in"
    assert expected in cli_error(["migrate"], capsys)
    message, retries = step_failure(run_asset("raw", service_resources(_url(cluster, WRONG))))
    assert expected in message and "TRACERA_DATABASE_URL" in message and retries == 0
    # The right one, percent-encoded, works.
    monkeypatch.setenv("TRACERA_DATABASE_URL", _url(cluster, PASSWORD))
    assert main(["migrate"]) == 0


# -- Redis down ------------------------------------------------------------------


@native_only
def test_redis_down_is_named_in_the_cli_and_retried_in_the_run(
    database_url, monkeypatch, capsys
) -> None:
    down = f"redis://127.0.0.1:{throwaway_postgres.free_port()}/0"
    monkeypatch.setenv("TRACERA_DATABASE_URL", database_url)
    monkeypatch.setenv("TRACERA_REDIS_URL", down)
    err = cli_error(["demo", "--hours", "1"], capsys)
    assert "nothing answers at Redis at 127.0.0.1:" in err and "TRACERA_REDIS_URL" in err

    message, retries = step_failure(
        run_asset("raw", service_resources(database_url, redis_url=down))
    )
    assert "start it, or fix the host and port in TRACERA_REDIS_URL" in message
    assert retries == 2  # a Redis restart heals


# -- secrets ---------------------------------------------------------------------


def _assert_no_secret(text: str, where: str) -> None:
    for secret in SECRETS:
        assert secret not in text, f"{secret!r} in {where}"


def test_passwords_appear_nowhere(cluster, tmp_path, monkeypatch, capfd, redis_prefix) -> None:
    unencoded_space = _url(cluster, PASSWORD, encode=False)  # not even parseable
    unencoded_at = _url(cluster, WRONG, encode=False)  # "Sekret@127.0.0.1" as the host
    encoded_wrong = _url(cluster, WRONG)  # the server refuses it
    # What the driver would print for them: the password, or part of it.
    for url, echoed in ((unencoded_space, "Pa55"), (unencoded_at, "Sekret")):
        with pytest.raises(psycopg.Error) as raw:
            psycopg.connect(url, connect_timeout=2)
        assert echoed in str(raw.value)
    expectations = {
        unencoded_space: "is not a valid PostgreSQL URL; percent-encode",
        unencoded_at: "has an '@' in its password or user name that is not percent-encoded",
        encoded_wrong: "refused the password",
    }
    holdings = tmp_path / "holdings.csv"
    holdings.write_text("portfolio,market_hash_name,quantity\nmine,AWP | Asiimov,1\n")
    seen: list[str] = []
    (tmp_path / "home").mkdir()
    with dg.instance_for_test(temp_dir=str(tmp_path / "home")) as instance:
        for url, expected in expectations.items():
            monkeypatch.setenv("TRACERA_DATABASE_URL", url)
            for command in (["migrate"], ["load-portfolios", str(holdings)]):
                earlier = capfd.readouterr()  # what the runs printed, scanned below
                seen += [earlier.out, earlier.err, cli_error(command, capfd)]
            resources = service_resources(dg.EnvVar("TRACERA_DATABASE_URL"))
            result = run_asset("raw", resources, instance=instance)
            message, _ = step_failure(result)
            assert expected in message
            seen.append(message)
            with (
                dg.build_sensor_context(
                    instance=instance, resources={"postgres": resources["postgres"]}
                ) as context,
                pytest.raises(dg.Failure, match="TRACERA_DATABASE_URL") as raised,
            ):
                raw_retention_sensor(context)
            seen.append(str(raised.value))
        # With the right password, a CLI backfill records its runs in this instance:
        # the password must not reach them either (the CLI hands Dagster EnvVars).
        monkeypatch.setenv("TRACERA_DATABASE_URL", _url(cluster, PASSWORD))
        monkeypatch.setenv("TRACERA_REDIS_URL", REDIS_URL)
        monkeypatch.setenv("TRACERA_REDIS_PREFIX", redis_prefix)
        monkeypatch.setenv("TRACERA_SYNTHETIC_ITEMS", "3")
        assert main(["backfill", "--in-process", "--from", key(T0), "--to", key(T0)]) == 0
        runs = instance.get_runs()
        events = [serialize_value(e) for run in runs for e in instance.all_logs(run.run_id)]
        # Stored compressed, so not found by the file scan below: a resource configured
        # with the URL itself (not an EnvVar) would put it in the job snapshot.
        snapshots = [
            serialize_value(stored)
            for run in runs
            for stored in (
                run,
                instance.get_job_snapshot(run.job_snapshot_id),
                instance.get_execution_plan_snapshot(run.execution_plan_snapshot_id),
            )
        ]
    assert len(runs) == 4 and len(events) > 10
    _assert_no_secret("\n".join(seen), "messages")
    _assert_no_secret("\n".join(events), "the event log")
    _assert_no_secret("\n".join(snapshots), "the runs and their snapshots")
    for path in (tmp_path / "home").rglob("*"):
        if path.is_file():
            _assert_no_secret(path.read_bytes().decode("utf-8", "replace"), str(path))
    printed = capfd.readouterr()
    _assert_no_secret(printed.out + printed.err, "the process output")


# -- a paused server, a restarted server ------------------------------------------


def test_a_paused_server_fails_after_the_connect_timeout(cluster, monkeypatch, capsys) -> None:
    url = _url(cluster, PASSWORD)
    monkeypatch.setenv("TRACERA_DATABASE_URL", url)
    monkeypatch.setenv("TRACERA_DB_CONNECT_TIMEOUT_SECONDS", "2")
    pid = throwaway_postgres.postmaster_pid(cluster)
    os.kill(pid, signal.SIGSTOP)
    try:
        started = time.monotonic()
        err = cli_error(["migrate"], capsys)
        assert time.monotonic() - started < 8
        assert "did not answer within 2 s (TRACERA_DB_CONNECT_TIMEOUT_SECONDS)" in err
        message, _ = step_failure(run_asset("raw", service_resources(url), retry_policy=None))
        assert "did not answer within 2 s" in message and "TRACERA_DATABASE_URL" in message
    finally:
        os.kill(pid, signal.SIGCONT)


def test_every_downstream_asset_retries_what_can_heal() -> None:
    defs = build_definitions(["synthetic"])
    for spec in defs.resolve_all_asset_specs():
        policy = defs.resolve_assets_def(spec.key).op.retry_policy
        expected = "raw" if spec.key.path[0] == "raw" else "downstream"
        assert (
            policy
            == {"raw": PROVIDER_RETRY_POLICY, "downstream": DOWNSTREAM_RETRY_POLICY}[expected]
        ), spec.key


def test_a_downstream_step_heals_after_a_postgres_restart(cluster, tmp_path) -> None:
    url = _url(cluster, PASSWORD)
    throwaway_postgres.pg_ctl(cluster, "stop")
    with dg.instance_for_test(temp_dir=str(tmp_path)) as instance:
        # The server comes back once the first attempt has failed, as after a restart.
        restarter = threading.Thread(target=_start_after_first_failure, args=(cluster, instance))
        restarter.start()
        try:
            # aggregates/price_1h carries the downstream RetryPolicy (not the test's).
            result = run_asset("price_1h", service_resources(url), instance=instance)
        finally:
            restarter.join()
    assert result.success
    retried = [e for e in result.all_events if e.event_type_value == "STEP_UP_FOR_RETRY"]
    assert len(retried) == 1
    assert "nothing accepts connections at 127.0.0.1:" in error_messages(retried[0])


def _start_after_first_failure(
    cluster: throwaway_postgres.Cluster, instance: dg.DagsterInstance
) -> None:
    deadline = time.monotonic() + 60
    try:
        while time.monotonic() < deadline:
            events = [
                e.dagster_event.event_type_value
                for run in instance.get_runs()
                for e in instance.all_logs(run.run_id)
                if e.dagster_event
            ]
            if "STEP_UP_FOR_RETRY" in events or "STEP_FAILURE" in events:
                return
            time.sleep(0.1)
    finally:
        throwaway_postgres.pg_ctl(cluster, "start")
