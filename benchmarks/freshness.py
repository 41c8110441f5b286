"""Fresh prices under the real daemon: from a schedule tick to fresh
``price:latest:*`` and volatility rankings in Redis, with its breakdown, while
readers time ``GET price:latest:*`` and ``ZREVRANGE`` (issue 9, target 4).

The set-up a user runs: ``dagster-daemon run`` on the code location with the
project's ``dagster.yaml`` (a temporary DAGSTER_HOME), the ingestion schedule
ticking every minute (``TRACERA_INGEST_CRON``), four markets — the three simulated
ones and Skinport, served by a local HTTP server with ``--items`` items — and
``--history-days`` of hourly history already aggregated, so the 7d window and its
previous week are full. Each tick's latency is read from the pub/sub messages the
cache assets publish (``prices``, ``volatility``); the breakdown from the runs'
events in the instance.
"""

from __future__ import annotations

import gzip
import json
import multiprocessing
import os
import random
import shutil
import socket
import statistics
import tempfile
import threading
import time
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import dagster as dg
import psycopg
import redis
from dagster._core.scheduler.instigation import InstigatorType

from benchmarks.copy_writer import drop_database, recreate_database
from benchmarks.pipeline import write_history
from benchmarks.serving import clear_prefix
from tracera_pipeline.cache.redis_cache import PriceCache
from tracera_pipeline.config import REPO_ROOT
from tracera_pipeline.defs.ingestion.schedules import CLOSED_HOUR_TAG, INGEST_JOB
from tracera_pipeline.defs.resources import PostgresResource
from tracera_pipeline.providers.synthetic import SYNTHETIC_MARKETS, SyntheticMarket
from tracera_pipeline_tests.dagster_processes import processes, wait_for

MARKETS = [*SYNTHETIC_MARKETS, "skinport"]
INGEST_SCHEDULE = "ingest_current_window"


def _seed(url: str, flavor: str, items: int, days: int, until: datetime) -> None:
    """Hourly samples of every market for ``days`` before ``until``, aggregated:
    what the downstream steps read is one 1h bucket per item, market and hour."""
    postgres = PostgresResource(database_url=url, storage_flavor=flavor)
    # Skinport gets the first simulated market's prices (same items, other market).
    markets = {name: "synthetic" if name == "skinport" else name for name in MARKETS}
    with postgres.connection() as conn:
        start = until - timedelta(days=days)
        write_history(conn, postgres.flavor, markets, items, start, until, interval_seconds=3600)


def _skinport_server(names: list[str]) -> ThreadingHTTPServer:
    """``GET /v1/items``: every item, shaped like Skinport's answer, gzip-encoded."""
    rng = random.Random(7)
    body = gzip.compress(
        json.dumps(
            [
                {
                    "market_hash_name": name,
                    "currency": "USD",
                    "suggested_price": 12.34,
                    "item_page": "https://skinport.com/item/x",
                    "market_page": "https://skinport.com/market?item=x",
                    "min_price": round(rng.uniform(0.5, 500), 2),
                    "max_price": 999.0,
                    "mean_price": 20.1,
                    "median_price": 18.0,
                    "quantity": rng.randint(1, 300),
                    "created_at": 1_661_324_437,
                    "updated_at": 1_661_410_837,
                }
                for name in names
            ]
        ).encode()
    )

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200 if self.path.startswith("/v1/items") else 404)
            self.send_header("Content-Type", "application/json; charset=utf-8")
            self.send_header("Content-Encoding", "gzip")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def _echo(listener: socket.socket) -> None:
    """In its own process: answer each message on one connection with itself, as
    Redis answers a GET, with no work in between."""
    conn, _ = listener.accept()
    with conn:
        while data := conn.recv(64):
            conn.sendall(data)


def _read_while(redis_url: str, prefix: str, items: int, stop, out) -> None:
    """In its own process (the listener's GIL must not inflate what is measured):
    GET a random ``price:latest:*`` and ZREVRANGE the 24h ranking, until ``stop``.

    The control: the same round trip on loopback to a process that only echoes. On
    a machine whose cores are busy, what a read waits for is the scheduler waking
    the server and then the reader; the echo waits for the same, with no Redis."""
    client = redis.Redis.from_url(redis_url)
    cache = PriceCache(client, prefix)
    ranking = cache.ranking_key("24h")
    listener = socket.create_server(("127.0.0.1", 0))
    echo = multiprocessing.get_context("spawn").Process(target=_echo, args=(listener,))
    echo.start()
    peer = socket.create_connection(listener.getsockname())
    peer.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    latencies: dict[str, list[float]] = {"get": [], "zrevrange": [], "echo": []}
    while not stop.is_set():
        key = cache.latest_price_key(random.randint(1, items))
        started = time.perf_counter()
        client.get(key)
        latencies["get"].append(time.perf_counter() - started)
        started = time.perf_counter()
        client.zrevrange(ranking, 0, 9, withscores=True)
        latencies["zrevrange"].append(time.perf_counter() - started)
        started = time.perf_counter()
        peer.sendall(b"GET price:latest:1\r\n")
        peer.recv(64)
        latencies["echo"].append(time.perf_counter() - started)
        time.sleep(0.002)
    peer.close()
    echo.join(timeout=5)
    out.put(latencies)


class _Listener:
    """Pub/sub messages with their arrival time."""

    def __init__(self, client: redis.Redis, cache: PriceCache) -> None:
        self.messages: list[tuple[float, str, dict]] = []
        self._stop = threading.Event()
        self._pubsub = client.pubsub()
        self._pubsub.subscribe(cache.channel("prices"), cache.channel("volatility"))
        self._thread = threading.Thread(target=self._listen, daemon=True)
        self._thread.start()

    def _listen(self) -> None:
        while not self._stop.is_set():
            message = self._pubsub.get_message(timeout=0.2)
            if message and message["type"] == "message":
                channel = message["channel"].decode().rsplit(":", 1)[-1]
                self.messages.append((time.time(), channel, json.loads(message["data"])))

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()
        self._pubsub.close()


def _schedule_started(home: Path) -> float | None:
    """When the daemon began running the ingestion schedule (its state's start): a
    schedule that is on by default gets its state at the daemon's first scheduler
    iteration, and ticks before that never run, so the benchmark waits for it
    before it picks the first tick (once it picked a minute the daemon was not up for
    yet and waited 240 s for a run that could not come)."""
    os.environ["DAGSTER_HOME"] = str(home)
    with dg.DagsterInstance.get() as instance:
        for state in instance.all_instigator_state(instigator_type=InstigatorType.SCHEDULE):
            if state.instigator_name == INGEST_SCHEDULE:
                return state.instigator_data.start_timestamp
    return None


def _first_tick(started_at: float) -> datetime:
    """The first whole minute after the schedule started, at least 5 s after it."""
    moment = datetime.fromtimestamp(started_at + 5, UTC)
    return moment.replace(second=0, microsecond=0) + timedelta(minutes=1)


def _ingest_run(home: Path, tick: datetime) -> dg.DagsterRun | None:
    """The tick's run of the open hour (not the closed-hour one), once finished."""
    os.environ["DAGSTER_HOME"] = str(home)
    with dg.DagsterInstance.get() as instance:
        for record in instance.get_run_records(
            filters=dg.RunsFilter(tags={"tracera/scheduled_at": tick.isoformat()})
        ):
            if not record.dagster_run.tags.get("tracera/closed_hour"):
                return record if record.dagster_run.is_finished else None
    return None


def _tick_latency(listener: _Listener, home: Path, tick: datetime) -> dict[str, float] | None:
    """Seconds from ``tick`` to the first latest prices and rankings (of the tick's
    partition: as of its end) published after the tick's ingest run ended — the
    first that can hold what the tick fetched."""
    record = _ingest_run(home, tick)
    if record is None:
        return None
    if record.dagster_run.status != dg.DagsterRunStatus.SUCCESS:
        raise RuntimeError(f"the {tick:%H:%M} ingest run ended {record.dagster_run.status}")
    landed = record.end_time or 0.0
    partition_end = tick.replace(minute=0, second=0, microsecond=0) + timedelta(hours=1)
    seen: dict[str, float] = {}
    for arrived, channel, data in listener.messages:
        if arrived < landed:
            continue
        if channel == "prices":
            seen.setdefault("prices", arrived - tick.timestamp())
        elif datetime.fromisoformat(data["as_of"]) == partition_end:
            seen.setdefault(f"ranking_{data['window']}", arrived - tick.timestamp())
    wanted = {"prices", "ranking_1h", "ranking_24h", "ranking_7d"}
    return seen if wanted <= seen.keys() else None


def _run_label(run: dg.DagsterRun) -> str:
    """``ingest 2026-12-06-01:00``, ``ingest closed …`` or ``downstream …`` (a
    range as ``first..last``)."""
    tags = run.tags
    partitions = tags.get("dagster/partition") or (
        f"{tags.get('dagster/asset_partition_range_start')}"
        f"..{tags.get('dagster/asset_partition_range_end')}"
    )
    kind = "ingest" if run.job_name == INGEST_JOB else "downstream"
    if tags.get(CLOSED_HOUR_TAG):
        kind += " closed"
    return f"{kind} {partitions}"


def _since(moment: float | None, tick: datetime) -> float | None:
    return None if moment is None else round(moment - tick.timestamp(), 2)


def _breakdown(home: Path, tick: datetime, until_s: float) -> dict[str, object]:
    """From the instance: every run created from the tick until ``until_s`` after it
    (the open hour's, the closed hour's at an hour's first tick, the downstream
    runs, single or ranged), with its queue, launch and step times."""
    os.environ["DAGSTER_HOME"] = str(home)
    runs = {}
    with dg.DagsterInstance.get() as instance:
        records = instance.get_run_records(
            filters=dg.RunsFilter(
                created_after=tick - timedelta(seconds=1),
                created_before=tick + timedelta(seconds=until_s),
            ),
            ascending=True,
        )
        for record in records:
            run = record.dagster_run
            steps: dict[str, dict[str, object]] = {}
            for entry in instance.all_logs(run.run_id):
                event = entry.dagster_event
                if event is None or not event.step_key:
                    continue
                step = steps.setdefault(event.step_key.split("__")[-1], {})
                kind = event.event_type_value
                if kind == "STEP_START":
                    step["start_s"] = _since(entry.timestamp, tick)
                elif kind == "STEP_FAILURE":
                    step["error"] = (event.step_failure_data.error.message or "")[:300]
                elif kind == "STEP_SUCCESS":
                    step["end_s"] = _since(entry.timestamp, tick)
                elif kind == "ASSET_MATERIALIZATION":
                    metadata = event.materialization.metadata
                    for field in ("provider_latency_ms", "write_seconds"):
                        if field in metadata:
                            step[field] = metadata[field].value
            runs[_run_label(run)] = {
                "created_s": _since(record.create_timestamp.timestamp(), tick),
                "started_s": _since(record.start_time, tick),
                "ended_s": _since(record.end_time, tick),
                "status": run.status.value,
                "steps": steps,
            }
    return runs


def fresh(
    server: str,
    flavor: str,
    redis_url: str,
    items: int = 5000,
    history_days: int = 14,
    ticks: int = 3,
    executor: str | None = None,
) -> dict[str, object]:
    database = f"tracera_bench_fresh_{flavor}"
    recreate_database(server, database)
    url = psycopg.conninfo.make_conninfo(server, dbname=database)
    prefix = f"bench:fresh:{flavor}:"
    client = redis.Redis.from_url(redis_url)
    workdir = Path(tempfile.mkdtemp(prefix="tracera-fresh-"))
    home = workdir / "dagster_home"
    home.mkdir()
    shutil.copy(REPO_ROOT / "dagster.yaml", home / "dagster.yaml")
    http = None
    keep = bool(os.environ.get("BENCH_KEEP_WORKDIR"))
    try:
        now = datetime.now(UTC)
        _seed(url, flavor, items, history_days, now.replace(minute=0, second=0, microsecond=0))
        names = SyntheticMarket.for_market("synthetic", items=items).item_names
        http = _skinport_server(names)
        env = {k: v for k, v in os.environ.items() if not k.startswith(("TRACERA_", "DAGSTER_"))}
        env.update(
            DAGSTER_HOME=str(home),
            TRACERA_DATABASE_URL=url,
            TRACERA_STORAGE_FLAVOR=flavor,
            TRACERA_REDIS_URL=redis_url,
            TRACERA_REDIS_PREFIX=prefix,
            TRACERA_PROVIDERS=",".join(MARKETS),
            TRACERA_SYNTHETIC_ITEMS=str(items),
            TRACERA_SKINPORT_BASE_URL=f"http://127.0.0.1:{http.server_port}/v1",
            TRACERA_INGEST_CRON="* * * * *",
            PYTHONUNBUFFERED="1",
            **({"TRACERA_EXECUTOR": executor} if executor else {}),
        )
        os.environ["DAGSTER_HOME"] = str(home)
        with dg.DagsterInstance.get():
            pass  # create the instance's storage before the daemon starts
        listener = _Listener(client, PriceCache(client, prefix))
        spawn = multiprocessing.get_context("spawn")
        stop_reading, readings = spawn.Event(), spawn.Queue()
        reader = spawn.Process(
            target=_read_while, args=(redis_url, prefix, items, stop_reading, readings)
        )
        results = []
        with processes(workdir, env) as procs:
            procs.start("daemon", "dagster-daemon", "run", "-m", "tracera_pipeline.definitions")
            started_at = wait_for(
                "the daemon's first scheduler iteration",
                lambda: _schedule_started(home),
                procs,
                timeout=120,
            )
            first = _first_tick(started_at)
            for n in range(ticks):
                tick = first + timedelta(minutes=n)
                if n == 1:
                    reader.start()  # Redis holds keys from the first tick on
                    client.config_resetstat()  # Redis's own figures from here on
                    reading_since = time.perf_counter()
                latency = wait_for(
                    f"fresh prices and rankings after the {tick:%H:%M} tick",
                    lambda tick=tick: _tick_latency(listener, home, tick),
                    procs,
                    timeout=240,
                    interval=0.5,
                )
                results.append({"tick": tick.isoformat(), "latency_s": _rounded(latency)})
        listener.stop()
        latencies: dict[str, list[float]] = {}
        if reader.is_alive():
            stop_reading.set()
            latencies = readings.get(timeout=60)
            reader.join()
        load = _redis_load(client, time.perf_counter() - reading_since) if ticks > 1 else {}
        for result in results:
            latest = max(result["latency_s"].values())
            result["runs"] = _breakdown(home, datetime.fromisoformat(result["tick"]), latest)
    except BaseException:
        # The daemon's whole log, the run workers' and the instance, for the cause.
        keep = True
        print(f"fresh/{flavor} failed: logs and DAGSTER_HOME kept in {workdir}")
        raise
    finally:
        if http is not None:
            http.shutdown()
        clear_prefix(client, prefix)
        drop_database(server, database)
        if not keep:
            shutil.rmtree(workdir, ignore_errors=True)
    steady = [max(r["latency_s"].values()) for r in results[1:]] or [0.0]
    return {
        "items": items,
        "markets": len(MARKETS),
        "history_days": history_days,
        "executor": executor or "the default",
        "ticks": results,
        "steady_tick_to_fresh_s": round(statistics.median(steady), 2),
        "redis_read_ms": {
            name: {
                "p50": round(statistics.median(values) * 1000, 3),
                "p99": round(statistics.quantiles(values, n=100)[98] * 1000, 3),
                "reads": len(values),
            }
            for name, values in latencies.items()
            if len(values) > 100
        },
        "redis_server": load,
    }


def _redis_load(client: redis.Redis, seconds: float, top: int = 6) -> dict[str, object]:
    """What Redis itself did since the reset: the share of the time it was executing
    commands (``INFO commandstats``: a reader's command arriving then waits), and
    p99 / p99.9 per command, the most held first (``INFO latencystats``, Redis 7+:
    wall time inside the command, so a server preempted on a busy machine shows too)."""
    busy = sum(float(v["usec"]) for v in client.info("commandstats").values()) / 1e6
    held = {
        name.removeprefix("latency_percentiles_usec_"): {
            "p99": float(values["p99"]),
            "p99.9": float(values["p99.9"]),
        }
        for name, values in client.info("latencystats").items()
        if isinstance(values, dict) and "p99.9" in values
    }
    ranked = sorted(held.items(), key=lambda kv: -kv[1]["p99"])[:top]
    return {"busy_share": round(busy / seconds, 4), "commands_us": dict(ranked)}


def _rounded(values: dict[str, float]) -> dict[str, float]:
    return {k: round(v, 2) for k, v in sorted(values.items())}
