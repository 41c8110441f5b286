"""Scenarios on whole Dagster runs: PostgreSQL restarted or down mid-run, Redis down
mid-run, a backfill before the retention watermark."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import psycopg
import redis

from benchmarks.faults import rows
from benchmarks.faults.env import (
    Environment,
    activity,
    copy_progress,
    result_of,
    start_redis,
    stop_redis,
    wait_for,
    worker,
)
from benchmarks.faults.report import Outcome
from tracera_pipeline.storage.flavor import Flavor
from tracera_pipeline.storage.retention import apply_retention, raw_watermark
from tracera_pipeline_tests import throwaway_postgres

START = datetime(2026, 11, 3, tzinfo=UTC)
HOURS, ITEMS, INTERVAL = 6, 2000, 60
END = START + timedelta(hours=HOURS)
EXPECTED = HOURS * ITEMS * 3600 // INTERVAL


def _key(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%d-%H:%M")


def _graph(env: Environment, url: str, redis_url: str, start: datetime = START):
    settings = {
        "TRACERA_DATABASE_URL": env.worker_url(url),
        "TRACERA_STORAGE_FLAVOR": env.flavor,
        "TRACERA_REDIS_URL": redis_url,
        "TRACERA_REDIS_PREFIX": f"tracera_faults:{env.run_id}:",
        "TRACERA_SYNTHETIC_ITEMS": str(ITEMS),
        "TRACERA_SYNTHETIC_INTERVAL_SECONDS": str(INTERVAL),
        "TRACERA_PROVIDERS": "synthetic",
    }
    last = start + timedelta(hours=HOURS - 1)
    args = {"markets": ["synthetic"], "first": _key(start), "last": _key(last)}
    return worker("graph", args, settings)


def _summary(result: dict) -> str:
    if "success" not in result:
        return f"worker {result}"
    failures = "; ".join(result["failures"][:2]) or "none"
    return (
        f"run {'succeeded' if result['success'] else 'FAILED'} after {result['retries']} step"
        f" retr{'y' if result['retries'] == 1 else 'ies'} ({result['seconds']}s), failed steps:"
        f" {failures}"
    )


def _check(url: str) -> tuple[int, int, int]:
    with psycopg.connect(url, autocommit=True) as conn:
        return (
            rows.count(conn, START, END),
            rows.duplicates(conn),
            rows.aggregated(conn, START, END),
        )


def postgres_fault(env: Environment, *, when: str, outage: float = 0.0) -> Outcome:
    """Restart PostgreSQL (or stop it for ``outage`` seconds) when the run is in its
    provider COPY (``when="copy"``) or refreshing aggregates (``when="aggregate"``)."""
    url = env.new_database(f"pg_{when}_{int(outage)}")
    started = time.monotonic()
    process = _graph(env, url, env.shared_redis_url)
    with psycopg.connect(url, autocommit=True) as watcher:
        if when == "copy":
            wait_for(lambda: copy_progress(watcher) > 20_000, 300, "the provider's COPY")
        else:
            wait_for(lambda: activity(watcher, "%price_1h%"), 300, "the aggregate refresh", 0.01)
    if outage:
        throwaway_postgres.halt(env.cluster)
        time.sleep(outage)
    throwaway_postgres.restart(env.cluster)
    first = result_of(process)
    saw = _summary(first)
    if not first.get("success"):
        second = result_of(_graph(env, url, env.shared_redis_url))
        saw += f"; rerun: {_summary(second)}"
        healed = bool(second.get("success"))
    else:
        healed = True
    found, dup, aggregated = _check(url)
    env.drop(url)
    fault = f"outage {outage:.0f}s" if outage else "restart"
    return Outcome(
        f"PostgreSQL {fault} mid-{'COPY' if when == 'copy' else 'aggregation'}",
        EXPECTED,
        found,
        dup,
        f"{saw}; price_1h holds {aggregated:,} samples",
        ok=healed and found == EXPECTED and dup == 0 and aggregated == EXPECTED,
        seconds=time.monotonic() - started,
    )


def redis_down(env: Environment) -> Outcome:
    """Redis killed once the raw rows have landed: the database part must be whole, and a
    rerun with Redis back must restore the cache."""
    url = env.new_database("redis")
    started = time.monotonic()
    server = start_redis()
    try:
        process = _graph(env, url, server.url)
        with psycopg.connect(url, autocommit=True) as watcher:
            wait_for(lambda: rows.count(watcher, START, END) == EXPECTED, 300, "the raw rows", 0.05)
        server.kill()
        first = result_of(process)
        found, dup, aggregated = _check(url)
        stop_redis(server)
        server = start_redis(port=server.port)  # back, empty, at the same address
        second = result_of(_graph(env, url, server.url))
        client = redis.Redis.from_url(server.url)
        prefix = f"tracera_faults:{env.run_id}:"
        latest = sum(1 for _ in client.scan_iter(match=f"{prefix}price:latest:*", count=1000))
        ranked = client.zcard(f"{prefix}rankings:volatile:24h")
    finally:
        stop_redis(server)
    after = _check(url)
    env.drop(url)
    return Outcome(
        "Redis down mid-run",
        EXPECTED,
        found,
        dup + after[1],
        f"{_summary(first)}; database part landed: {found:,} raw rows, {aggregated:,} samples"
        f" in price_1h; rerun with Redis back: {_summary(second)}, cache restored:"
        f" {latest} price:latest keys, {ranked} items ranked (24h)",
        ok=found == EXPECTED
        and aggregated == EXPECTED
        and bool(second.get("success"))
        and latest == ITEMS
        and ranked == ITEMS
        and after == (EXPECTED, 0, EXPECTED),
        seconds=time.monotonic() - started,
    )


def backfill_before_watermark(env: Environment) -> Outcome:
    """Six hours of a day ingested and aggregated by a run, the day dropped by retention;
    then a backfill of those hours: refused at once, without retries, nothing written."""
    url = env.new_database("watermark")
    started = time.monotonic()
    day = START - timedelta(days=2)
    first = result_of(_graph(env, url, env.shared_redis_url, start=day))
    with psycopg.connect(url, autocommit=True) as conn:
        dropped = apply_retention(conn, Flavor(env.flavor), day + timedelta(days=1)).droppable
        watermark = raw_watermark(conn)
    backfill = result_of(_graph(env, url, env.shared_redis_url, start=day))
    with psycopg.connect(url, autocommit=True) as conn:
        landed = rows.count(conn, day, day + timedelta(days=1))
    env.drop(url)
    refused = backfill.get("success") is False and backfill.get("retries") == 0
    return Outcome(
        "backfill before the retention watermark",
        0,
        landed,
        None,
        f"retention dropped {len(dropped)} day(s), watermark {watermark:%Y-%m-%d %H:%M};"
        f" backfill {_summary(backfill)}",
        ok=bool(first.get("success")) and len(dropped) == 1 and refused and landed == 0,
        seconds=time.monotonic() - started,
    )
