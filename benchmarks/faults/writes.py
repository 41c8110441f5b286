"""Scenarios on the write path: kill -9 mid-COPY, concurrent runs of one window,
concurrent live snapshots, concurrent first use of a new database."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta

import psycopg

from benchmarks.faults import rows
from benchmarks.faults.env import REPO_ROOT, Environment, copy_progress, result_of, worker
from benchmarks.faults.report import Outcome
from benchmarks.faults.worker import ingest
from tracera_pipeline import config
from tracera_pipeline.storage.migrations import discover

START = datetime(2026, 11, 2, tzinfo=UTC)  # a past day, inside every retention window


def _ingest_args(env: Environment, url: str, seed: int, **extra: object) -> dict[str, object]:
    return {
        "url": url, "flavor": env.flavor, "start": START.isoformat(), "hours": 3,
        "items": 5000, "interval": 30, "seed": seed, "chunk_rows": 20_000, **extra,
    }  # fmt: skip


def kill_mid_copy(env: Environment) -> Outcome:
    """Old rows in 3 hours; a replace of them with other prices is killed (SIGKILL) once
    its COPY has sent half the rows; then the same replace runs to the end."""
    url = env.new_database("kill")
    end = START + timedelta(hours=3)
    ingest(_ingest_args(env, url, seed=1))
    with psycopg.connect(url, autocommit=True) as conn:
        old = rows.stored(conn, START, end)
        new = rows.synthetic(conn, 2, 5000, 30, START, end)
    total = sum(fp[0] for fp in old.values())
    process = worker("ingest", _ingest_args(env, env.worker_url(url), seed=2))
    sent_before, last, at_kill, deadline = 0, 0, 0, time.monotonic() + 300
    with psycopg.connect(url, autocommit=True) as watcher:
        while time.monotonic() < deadline and process.poll() is None:
            sent = copy_progress(watcher)
            if sent < last:  # a COPY ended (the writer may COPY per hour or per run)
                sent_before += last
            last = sent
            if sent_before + sent > total // 2:
                process.send_signal(signal.SIGKILL)
                at_kill = sent_before + sent
                break
            time.sleep(0.005)
    outcome = result_of(process)
    time.sleep(1)  # the server notices the dead client and rolls its transaction back
    with psycopg.connect(url, autocommit=True) as conn:
        after_kill = rows.stored(conn, START, end)
        found, dup = rows.count(conn, START, end), rows.duplicates(conn)
    states = ["new" if after_kill.get(h) == new[h] else "old" if after_kill.get(h) == old[h]
              else "PARTIAL" for h in sorted(old)]  # fmt: skip
    result_of(rerun := worker("ingest", _ingest_args(env, url, seed=2)))
    with psycopg.connect(url, autocommit=True) as conn:
        healed = rows.stored(conn, START, end) == new
        dup += rows.duplicates(conn)
    env.drop(url)
    killed = "killed" in outcome
    return Outcome(
        "kill -9 mid-COPY (replace, 3 × 600k rows)",
        total,
        found,
        dup,
        f"worker {'killed by SIGKILL' if killed else f'not killed ({outcome})'} after"
        f" {at_kill:,} of {total:,} rows were sent; hours after the kill: {', '.join(states)}"
        f" (whole transactions only: the killed replace kept the old rows); rerun exit"
        f" {rerun.returncode}, every hour new: {healed}",
        ok=killed
        and "PARTIAL" not in states
        and states != ["new"] * len(states)
        and found == total
        and healed
        and dup == 0,
    )


def concurrent_window(env: Environment, runs: int = 4) -> Outcome:
    """``runs`` processes replace the same 3 hours at the same instant, each with other
    prices: every hour must hold exactly one run's rows."""
    url = env.new_database("concurrent")
    end = START + timedelta(hours=3)
    start_at = time.time() + 15  # after every worker has imported and connected
    processes = [
        worker("ingest", _ingest_args(env, url, seed=10 + k, items=2000, interval=60,
                                      start_at=start_at))
        for k in range(runs)
    ]  # fmt: skip
    outcomes = [result_of(p) for p in processes]
    with psycopg.connect(url, autocommit=True) as conn:
        found = rows.stored(conn, START, end)
        candidates = {k: rows.synthetic(conn, 10 + k, 2000, 60, START, end) for k in range(runs)}
        total, dup = rows.count(conn, START, end), rows.duplicates(conn)
    env.drop(url)
    winners = [
        next((f"run {k}" for k, fp in candidates.items() if fp[h] == found.get(h)), "MIXED")
        for h in sorted(candidates[0])
    ]
    failed = [o for o in outcomes if "rows_written" not in o]
    expected = sum(fp[0] for fp in candidates[0].values())
    return Outcome(
        f"{runs} concurrent runs of one window (replace)",
        expected,
        total,
        dup,
        f"{runs - len(failed)}/{runs} runs succeeded; each hour holds one run's rows:"
        f" {', '.join(winners)}",
        ok=not failed and "MIXED" not in winners and total == expected and dup == 0,
    )


def concurrent_snapshots(env: Environment, runs: int = 4) -> Outcome:
    """``runs`` live snapshots of one open hour merge at the same instant: each at its
    own minute (all must survive) and all at minute 59 (one value each, no duplicate)."""
    url = env.new_database("merge")
    hour, items = START, 1000
    start_at = time.time() + 15
    processes = [
        worker("snapshot", {"url": url, "flavor": env.flavor, "hour": hour.isoformat(),
                            "minute": 5 * k, "items": items, "seed": 20 + k,
                            "start_at": start_at})
        for k in range(runs)
    ]  # fmt: skip
    outcomes = [result_of(p) for p in processes]
    with psycopg.connect(url, autocommit=True) as conn:
        total = rows.count(conn, hour, hour + timedelta(hours=1))
        dup = rows.duplicates(conn)
        last_minute = conn.execute(
            "SELECT count(*) FROM price_history WHERE time = %s", (hour + timedelta(minutes=59),)
        ).fetchone()[0]
    env.drop(url)
    failed = [o for o in outcomes if "rows_written" not in o]
    expected = runs * items + items
    return Outcome(
        f"{runs} concurrent live snapshots (merge)",
        expected,
        total,
        dup,
        f"{runs - len(failed)}/{runs} runs succeeded; every run's own minute kept, minute 59"
        f" holds {last_minute} rows (one per item)",
        ok=not failed and total == expected and dup == 0 and last_minute == items,
    )


def concurrent_first_use(env: Environment, processes: int = 8, rounds: int = 3) -> Outcome:
    """``processes`` × ``tracera-pipeline migrate`` on a database that does not exist yet."""
    versions, failures, created, ledger = len(discover(config.sql_dir())), [], 0, 0
    for round_number in range(rounds):
        url = env.cluster.url(f"faults_{env.run_id}_first{round_number}")
        command = [sys.executable, "-m", "tracera_pipeline.cli", "migrate"]
        environment = {"TRACERA_DATABASE_URL": url, "TRACERA_STORAGE_FLAVOR": env.flavor}
        started = [
            subprocess.Popen(command, cwd=REPO_ROOT, env={**os.environ, **environment},
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            for _ in range(processes)
        ]  # fmt: skip
        for process in started:
            out, err = process.communicate(timeout=300)
            created += "(created)" in out
            if process.returncode:
                failures.append((err.strip().splitlines() or ["?"])[-1][:120])
        with psycopg.connect(url, autocommit=True) as conn:
            ledger += conn.execute("SELECT count(*) FROM schema_migrations").fetchone()[0]
        env.drop(url)
    runs = processes * rounds
    return Outcome(
        f"concurrent first use: {processes} × migrate, {rounds} rounds",
        versions * rounds,
        ledger,
        ledger - versions * rounds,
        f"{runs - len(failures)}/{runs} processes exit 0, {created} said '(created)'"
        + (f"; failures: {failures[:3]}" if failures else ""),
        ok=not failures and created == rounds and ledger == versions * rounds,
    )
