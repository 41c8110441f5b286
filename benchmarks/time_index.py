"""Does a secondary index on ``price_history (time DESC)`` pay for itself?

TimescaleDB creates that index on every hypertable by default; our schema leaves it
out (``sql/002_price_history.*.sql``) because it slows COPY. This benchmark puts
numbers on both sides, in one run and for one flavour:

* write cost: the project's writer (``write_price_window``, REPLACE mode) loads the
  same synthetic rows into an empty table with and without the index, either as
  one window (``--hours``, default 24, like ``benchmarks.copy_writer``) or as
  one-hour windows (the way ingestion writes: one call per hourly partition, each
  starting with a window DELETE). Table truncated and settled before every attempt, order rotated.
* read benefit: on a realistic table (6 full days + 13 h of a 7th, 2,000 items at
  300 s) the statements one hourly partition runs are timed with and without the
  index: the 1h aggregate SELECT (``refresh_1h_from_raw.sql``), the cache's latest
  prices, the portfolio lookup, the writer's window DELETE and a whole hourly
  REPLACE write. The index is built once; the "without" rounds drop it inside a
  transaction that is rolled back, so both variants interleave on the same data.
  Every statement runs in a rolled-back savepoint, and the table is vacuumed
  between rounds.

Run from the repository root: ``python -m benchmarks.time_index --flavor native``.
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import sys
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

import polars as pl
import psycopg
from psycopg import sql

from benchmarks.copy_writer import (
    DEFAULT_DSN,
    DEFAULT_RESULTS_DIR,
    PROVIDER_ID,
    REPO_ROOT,
    SETTLE_MODES,
    TABLE,
    WINDOW_START,
    build_frame,
    count_rows,
    database_url,
    drop_database,
    environment,
    recreate_database,
    reset_table,
    server_info,
)
from tracera_pipeline.cache import latest
from tracera_pipeline.portfolio import valuation
from tracera_pipeline.providers.synthetic import SyntheticMarket
from tracera_pipeline.storage import aggregates
from tracera_pipeline.storage.flavor import Flavor, FlavorRequest
from tracera_pipeline.storage.migrations import migrate
from tracera_pipeline.storage.native_partitions import ensure_partitions
from tracera_pipeline.storage.price_writer import WriteMode, write_price_window
from tracera_pipeline.storage.queries import compose

T = TypeVar("T")

INDEX_NAME = "price_history_time_idx"  # TimescaleDB's name for its default index
INDEX = sql.Identifier(INDEX_NAME)
CREATE_INDEX = sql.SQL("CREATE INDEX {index} ON {table} (time DESC)").format(
    index=INDEX, table=TABLE
)
DROP_INDEX = sql.SQL("DROP INDEX {index}").format(index=INDEX)
REFRESH_TARGET = "bench_price_1h"  # a temporary table, so both flavours run the same SQL
WINDOW_DELETE = sql.SQL(
    "DELETE FROM {table} WHERE provider_id = %(provider)s AND time >= %(lo)s AND time < %(hi)s"
).format(table=TABLE)

WITHOUT = "without index"
WITH = "with index"
VARIANTS = (WITHOUT, WITH)
WRITE_METHODS = ("write-window", "write-1h")
PHASES = ("write", "read")
CYCLE_LABEL = "hourly partition total (ms) *"
HOUR = timedelta(hours=1)
DAY = timedelta(days=1)

Window = tuple[datetime, datetime, pl.DataFrame]


# --- settings -----------------------------------------------------------------------


@dataclass(frozen=True)
class Settings:
    dsn: str
    database: str
    flavor: Flavor
    phases: tuple[str, ...]
    rows_target: int
    hours: int
    write_items: int
    repeat: int
    warmup: int
    settle: str
    chunk_rows: int
    read_days: int
    now_hour: int
    read_items: int
    read_repeat: int
    portfolio_items: int
    results_dir: Path | None
    keep_database: bool

    @property
    def write_end(self) -> datetime:
        return WINDOW_START + timedelta(hours=self.hours)

    @property
    def read_until(self) -> datetime:
        """The read phase's "now": the data and the measured hour end here."""
        return WINDOW_START + (self.read_days - 1) * DAY + timedelta(hours=self.now_hour)


def parse_args(argv: Sequence[str] | None = None) -> Settings:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.time_index",
        description="Write cost and read benefit of an index on price_history (time DESC).",
    )
    parser.add_argument("--dsn", default=DEFAULT_DSN, help="maintenance URL (postgresql://…)")
    parser.add_argument("--database", default="tracera_bench_tindex", help="dropped, re-created")
    parser.add_argument("--flavor", choices=[f.value for f in Flavor], default="native")
    parser.add_argument("--phases", default="write,read", help="comma-separated: write,read")
    parser.add_argument("--rows-target", type=int, default=1_000_000, help="write phase")
    parser.add_argument("--hours", type=int, default=24, help="write phase window length")
    parser.add_argument("--repeat", type=int, default=5, help="timed rounds, write phase")
    parser.add_argument("--warmup", type=int, default=1, help="untimed rounds first (both)")
    parser.add_argument("--settle", choices=SETTLE_MODES, default="vacuum-checkpoint")
    parser.add_argument("--chunk-rows", type=int, default=100_000)
    parser.add_argument("--read-days", type=int, default=7, help="days of data, the last partial")
    parser.add_argument("--now-hour", type=int, default=13, help="hour of the last day = 'now'")
    parser.add_argument("--read-items", type=int, default=2_000)
    parser.add_argument("--read-repeat", type=int, default=15, help="timed rounds, read phase")
    parser.add_argument("--portfolio-items", type=int, default=20)
    parser.add_argument("--results-dir", type=Path, default=DEFAULT_RESULTS_DIR)
    parser.add_argument("--no-json", action="store_true", help="do not write a JSON result")
    parser.add_argument("--keep-database", action="store_true")
    args = parser.parse_args(argv)
    phases = tuple(p for p in PHASES if p in args.phases.split(","))
    if not phases or not 1 <= args.now_hour <= 24 or args.read_days < 2 or args.hours < 1:
        parser.error("need a phase, --now-hour in 1..24, --read-days ≥ 2 and --hours ≥ 1")
    end = WINDOW_START + timedelta(hours=args.hours)
    samples = len(SyntheticMarket(items=1).sample_times(WINDOW_START, end))
    return Settings(
        dsn=args.dsn,
        database=args.database,
        flavor=Flavor(args.flavor),
        phases=phases,
        rows_target=args.rows_target,
        hours=args.hours,
        write_items=max(1, math.ceil(args.rows_target / samples)),
        repeat=args.repeat,
        warmup=args.warmup,
        settle=args.settle,
        chunk_rows=args.chunk_rows,
        read_days=args.read_days,
        now_hour=args.now_hour,
        read_items=args.read_items,
        read_repeat=args.read_repeat,
        portfolio_items=min(args.portfolio_items, args.read_items),
        results_dir=None if args.no_json else args.results_dir,
        keep_database=args.keep_database,
    )


# --- helpers ------------------------------------------------------------------------


@dataclass(frozen=True)
class Sample:
    phase: str
    operation: str
    variant: str
    repetition: int  # -1: warm-up, not summarised
    rows: int
    seconds: float


def rotate(items: Sequence[T], repetition: int) -> list[T]:
    shift = repetition % len(items)
    return [*items[shift:], *items[:shift]]


def _round_name(repetition: int, repeat: int) -> str:
    return "warm-up" if repetition < 0 else f"rep {repetition + 1}/{repeat}"


def has_time_index(conn: psycopg.Connection) -> bool:
    row = conn.execute("SELECT to_regclass(%s) IS NOT NULL", (INDEX_NAME,)).fetchone()
    return bool(row and row[0])


def set_time_index(conn: psycopg.Connection, present: bool) -> float:
    """Create or drop the index as asked; returns the seconds the DDL took."""
    if present == has_time_index(conn):
        return 0.0
    started = time.perf_counter()
    conn.execute(CREATE_INDEX if present else DROP_INDEX)
    return time.perf_counter() - started


def index_bytes(conn: psycopg.Connection, flavor: Flavor) -> int:
    query = (
        "SELECT hypertable_index_size(%s::regclass)"
        if flavor is Flavor.TIMESCALEDB
        else "SELECT coalesce(sum(pg_relation_size(relid)), 0) FROM pg_partition_tree(%s::regclass)"
    )
    row = conn.execute(query, (INDEX_NAME,)).fetchone()
    return int(row[0]) if row and row[0] is not None else 0


def settle_table(conn: psycopg.Connection) -> None:
    """Clear the dead rows a rolled-back write left, and flush dirty pages."""
    conn.execute(sql.SQL("VACUUM {}").format(TABLE))
    conn.execute("CHECKPOINT")


def prepare_database(conn: psycopg.Connection, settings: Settings) -> None:
    migrate(conn, REPO_ROOT / "sql", FlavorRequest(settings.flavor.value))
    if settings.flavor is Flavor.NATIVE:
        end = max(settings.write_end, settings.read_until)
        ensure_partitions(conn, WINDOW_START, end)
    names = SyntheticMarket(items=settings.read_items).item_names
    conn.execute(
        "INSERT INTO items (item_id, market_hash_name) OVERRIDING SYSTEM VALUE"
        " SELECT * FROM unnest(%s::integer[], %s::text[])",
        (list(range(1, len(names) + 1)), names),
    )


def write_windows(
    conn: psycopg.Connection, flavor: Flavor, windows: list[Window], chunk_rows: int
) -> int:
    written = 0
    for start, end, frame in windows:
        result = write_price_window(
            conn,
            frame,
            flavor=flavor,
            provider_id=PROVIDER_ID,
            window_start=start,
            window_end=end,
            mode=WriteMode.REPLACE,
            chunk_rows=chunk_rows,
        )
        written += result.rows_written
    return written


def split_windows(
    frame: pl.DataFrame, start: datetime, end: datetime, width: timedelta
) -> list[Window]:
    windows: list[Window] = []
    lo = start
    while lo < end:
        hi = min(lo + width, end)
        windows.append((lo, hi, frame.filter((pl.col("time") >= lo) & (pl.col("time") < hi))))
        lo = hi
    return windows


# --- write phase --------------------------------------------------------------------


def write_attempt(
    conn: psycopg.Connection,
    settings: Settings,
    method: str,
    variant: str,
    windows: list[Window],
    repetition: int,
) -> Sample:
    set_time_index(conn, variant == WITH)
    reset_table(conn, settings.settle)
    started = time.perf_counter()
    rows = write_windows(conn, settings.flavor, windows, settings.chunk_rows)
    seconds = time.perf_counter() - started
    if (stored := count_rows(conn)) != rows:
        raise RuntimeError(f"{method} {variant}: {rows} rows written but {stored} stored")
    return Sample("write", method, variant, repetition, rows, seconds)


def measure_writes(conn: psycopg.Connection, settings: Settings) -> list[Sample]:
    frame = build_frame(settings.write_items, WINDOW_START, settings.write_end)
    by_method = {
        "write-window": [(WINDOW_START, settings.write_end, frame)],
        "write-1h": split_windows(frame, WINDOW_START, settings.write_end, HOUR),
    }
    combos = [(method, variant) for method in WRITE_METHODS for variant in VARIANTS]
    print(
        f"write phase: {frame.height:,} rows, {settings.write_items:,} items, {settings.hours} h",
        flush=True,
    )
    samples = []
    for repetition in range(-settings.warmup, settings.repeat):
        for method, variant in rotate(combos, repetition):
            done = write_attempt(conn, settings, method, variant, by_method[method], repetition)
            samples.append(done)
            print(
                f"  {_round_name(repetition, settings.repeat)} {method:<12} {variant:<13}"
                f" {done.rows / done.seconds:>11,.0f} rows/s ({done.seconds:.2f} s)",
                flush=True,
            )
    set_time_index(conn, False)
    return samples


# --- read phase ---------------------------------------------------------------------


@dataclass(frozen=True)
class ReadOp:
    name: str
    label: str
    run: Callable[[psycopg.Connection], int]
    explain: tuple[sql.Composable, dict[str, Any]] | None  # the statement whose plan matters
    in_cycle: bool  # part of one hourly partition's work


def build_read_ops(settings: Settings, hour_frame: pl.DataFrame) -> list[ReadOp]:
    until = settings.read_until
    lo = until - HOUR
    level = aggregates.LEVELS["1h"]
    refresh = compose(aggregates.__file__, "refresh_1h_from_raw.sql", target=REFRESH_TARGET)
    refresh_params = {
        "width": level.width,
        "origin": aggregates.BUCKET_ORIGIN,
        "lo": lo,
        "hi": until,
    }
    cache_sql = compose(latest.__file__, "latest_prices.sql")
    cache_params = {"since": until - latest.LATEST_LOOKBACK, "until": until}
    step = max(1, settings.read_items // settings.portfolio_items)
    held = list(range(1, settings.read_items + 1, step))[: settings.portfolio_items]
    portfolio_sql = compose(valuation.__file__, "latest_prices_for_items.sql")
    portfolio_params = {"items": held, "at": until, "since": until - valuation.PRICE_LOOKBACK}
    delete_params = {"provider": PROVIDER_ID, "lo": lo, "hi": until}
    hour = [(lo, until, hour_frame)]
    return [
        ReadOp(
            "portfolio",
            f"portfolio lookup, {len(held)} items (ms)",
            lambda conn: len(valuation.latest_prices(conn, held, until)),
            (portfolio_sql, portfolio_params),
            True,
        ),
        ReadOp(
            "latest",
            "cache latest prices, 1 day (ms)",
            lambda conn: len(latest.latest_prices_before(conn, until)),
            (cache_sql, cache_params),
            True,
        ),
        ReadOp(
            "refresh-1h",
            "1h aggregate SELECT, 1 hour (ms)",
            lambda conn: conn.execute(refresh, refresh_params).rowcount,
            (refresh, refresh_params),
            True,
        ),
        ReadOp(
            "delete",
            "window DELETE, 1 hour (ms)",
            lambda conn: conn.execute(WINDOW_DELETE, delete_params).rowcount,
            (WINDOW_DELETE, delete_params),
            False,  # part of the REPLACE write below
        ),
        ReadOp(
            "replace-1h",
            "hourly REPLACE write, 1 hour (ms)",
            lambda conn: write_windows(conn, settings.flavor, hour, settings.chunk_rows),
            None,
            True,
        ),
    ]


def load_read_table(conn: psycopg.Connection, settings: Settings) -> tuple[int, float]:
    """6 full days + ``now_hour`` hours, written one day window at a time, no index."""
    set_time_index(conn, False)
    reset_table(conn, settings.settle)
    rows, seconds = 0, 0.0
    for lo, hi in day_windows(WINDOW_START, settings.read_until):
        frame = build_frame(settings.read_items, lo, hi)
        started = time.perf_counter()
        rows += write_windows(conn, settings.flavor, [(lo, hi, frame)], settings.chunk_rows)
        seconds += time.perf_counter() - started
    return rows, seconds


def day_windows(start: datetime, end: datetime) -> list[tuple[datetime, datetime]]:
    windows, lo = [], start
    while lo < end:
        windows.append((lo, min(lo + DAY, end)))
        lo += DAY
    return windows


def read_round(
    conn: psycopg.Connection, ops: list[ReadOp], variant: str, repetition: int
) -> list[Sample]:
    samples = []
    with conn.transaction(force_rollback=True):
        if variant == WITHOUT:
            conn.execute(DROP_INDEX)
        for op in ops:
            with conn.transaction(force_rollback=True):
                started = time.perf_counter()
                rows = op.run(conn)
                seconds = time.perf_counter() - started
            samples.append(Sample("read", op.name, variant, repetition, rows, seconds))
    return samples


def measure_reads(conn: psycopg.Connection, ops: list[ReadOp], settings: Settings) -> list[Sample]:
    samples = []
    for repetition in range(-settings.warmup, settings.read_repeat):
        for variant in rotate(VARIANTS, repetition):
            done = read_round(conn, ops, variant, repetition)
            settle_table(conn)
            samples.extend(done)
            timings = " ".join(f"{s.operation}={1000 * s.seconds:.0f}" for s in done)
            name = _round_name(repetition, settings.read_repeat)
            print(f"  {name} {variant:<13} ms: {timings}", flush=True)
    check_rows(samples)
    return samples


def check_rows(samples: list[Sample]) -> None:
    """Both variants must return or touch the same number of rows."""
    seen: dict[str, set[int]] = {}
    for sample in samples:
        seen.setdefault(sample.operation, set()).add(sample.rows)
    if odd := {name: rows for name, rows in seen.items() if len(rows) > 1}:
        raise RuntimeError(f"row counts differ between rounds: {odd}")


# --- plans --------------------------------------------------------------------------


def node_label(node: dict[str, Any]) -> str:
    label = node["Node Type"]
    if provider := node.get("Custom Plan Provider"):
        label = provider
    if index := node.get("Index Name"):
        kind = "time idx" if index.endswith("time_idx") else "pkey" if "pkey" in index else index
        label += f" ({kind})"
    return label


def plan_nodes(node: dict[str, Any]) -> list[str]:
    labels = [node_label(node)]
    for child in node.get("Plans", []):
        labels.extend(plan_nodes(child))
    return labels


def plan_shape(conn: psycopg.Connection, statement: sql.Composable, params: dict[str, Any]) -> str:
    row = conn.execute(sql.SQL("EXPLAIN (FORMAT JSON) {}").format(statement), params).fetchone()
    document = row[0][0] if row else {}
    counts = Counter(plan_nodes(document["Plan"]))
    shape = ", ".join(f"{label}×{n}" if n > 1 else label for label, n in counts.items())
    return shape + (" [JIT]" if "JIT" in document else "")


def plan_shapes(conn: psycopg.Connection, ops: list[ReadOp], variant: str) -> dict[str, str]:
    with conn.transaction(force_rollback=True):
        if variant == WITHOUT:
            conn.execute(DROP_INDEX)
        return {op.name: plan_shape(conn, *op.explain) for op in ops if op.explain}


# --- summary ------------------------------------------------------------------------


@dataclass(frozen=True)
class Line:
    operation: str
    label: str
    rate: bool  # rows/s (higher is better) rather than milliseconds
    without: float
    with_index: float
    ratio: float  # with / without, median of per-round ratios
    spread: float  # the larger (max - min) / median of the two variants


def per_round(samples: list[Sample], operation: str, variant: str, rate: bool) -> dict[int, float]:
    values: dict[int, float] = {}
    for s in samples:
        if s.operation == operation and s.variant == variant and s.repetition >= 0:
            value = s.rows / s.seconds if rate else 1000 * s.seconds
            values[s.repetition] = values.get(s.repetition, 0.0) + value
    return values


def spread(values: list[float]) -> float:
    return (max(values) - min(values)) / statistics.median(values)


def line_from(rounds: dict[str, dict[int, float]], operation: str, label: str, rate: bool) -> Line:
    without, with_index = rounds[WITHOUT], rounds[WITH]
    paired = [with_index[r] / without[r] for r in without if r in with_index]
    return Line(
        operation=operation,
        label=label,
        rate=rate,
        without=statistics.median(without.values()),
        with_index=statistics.median(with_index.values()),
        ratio=statistics.median(paired),
        spread=max(spread(list(without.values())), spread(list(with_index.values()))),
    )


def write_labels(hours: int) -> dict[str, str]:
    return {
        "write-window": f"writer, one {hours} h window (rows/s)",
        "write-1h": f"writer, {hours} × 1 h windows (rows/s)",
    }


def summarise(samples: list[Sample], ops: list[ReadOp], hours: int) -> list[Line]:
    lines = []
    for method, label in write_labels(hours).items():
        if any(s.operation == method for s in samples):
            rounds = {v: per_round(samples, method, v, rate=True) for v in VARIANTS}
            lines.append(line_from(rounds, method, label, rate=True))
    for op in ops:
        rounds = {v: per_round(samples, op.name, v, rate=False) for v in VARIANTS}
        lines.append(line_from(rounds, op.name, op.label, rate=False))
    cycle = [op for op in ops if op.in_cycle]
    if cycle:
        rounds = {
            v: {
                r: sum(per_round(samples, op.name, v, rate=False)[r] for op in cycle)
                for r in per_round(samples, cycle[0].name, v, rate=False)
            }
            for v in VARIANTS
        }
        lines.append(line_from(rounds, "hourly-cycle", CYCLE_LABEL, rate=False))
    return lines


def render(header: Sequence[str], rows: list[Sequence[str]]) -> str:
    table = [tuple(header), *map(tuple, rows)]
    widths = [max(len(row[i]) for row in table) for i in range(len(header))]
    out = [
        " | ".join(
            c.ljust(w) if i == 0 else c.rjust(w)
            for i, (c, w) in enumerate(zip(row, widths, strict=True))
        )
        for row in table
    ]
    out.insert(1, "-+-".join("-" * w for w in widths))
    return "\n".join(out)


def format_lines(lines: list[Line], cycle: list[str]) -> str:
    def value(line: Line, number: float) -> str:
        return f"{number:,.0f}" if line.rate else f"{number:,.1f}"

    rows = [
        (
            line.label,
            value(line, line.without),
            value(line, line.with_index),
            f"{line.ratio:.2f}×",
            f"{100 * line.spread:.0f}%",
        )
        for line in lines
    ]
    header = ("operation", WITHOUT, WITH, "ratio with/without", "spread")
    notes = (
        "medians; ratio: median of per-round ratios (rows/s: < 1 means the index slows writes;"
        " ms: < 1 means the index speeds the statement); spread: (max - min) / median"
    )
    if cycle:
        notes += (
            "\n* the sum, per round, of " + " + ".join(cycle) + " (replace-1h includes the DELETE)"
        )
    return render(header, rows) + "\n" + notes


def format_plans(plans: dict[str, dict[str, str]]) -> str:
    out = []
    for name, without in plans[WITHOUT].items():
        with_index = plans[WITH][name]
        if without == with_index:
            out.append(f"  {name}: same plan: {without}")
        else:
            out.append(f"  {name}:\n    {WITHOUT}: {without}\n    {WITH}: {with_index}")
    return "\n".join(out)


def verdict(flavor: Flavor, lines: list[Line], index_mb: float | None) -> str:
    by_name = {line.operation: line for line in lines}
    parts = [f"verdict ({flavor}):"]
    bulk, hourly = by_name.get("write-window"), by_name.get("write-1h")
    if bulk and hourly:
        parts.append(
            f"the index changes the writer's throughput by {_percent(bulk.ratio)} for one"
            f" large window and by {_percent(hourly.ratio)} when the same rows arrive as"
            " hourly windows (the ingestion path, where each window's DELETE must find its"
            " hour)."
        )
    cycle = by_name.get("hourly-cycle")
    if cycle:
        saved = cycle.without - cycle.with_index
        parts.append(
            f"One hourly partition's database work goes from {cycle.without:,.0f} ms to"
            f" {cycle.with_index:,.0f} ms with the index ({_percent(cycle.ratio)}:"
            f" {abs(saved):,.0f} ms {'saved' if saved > 0 else 'more'} per hour)"
            + (f", for {index_mb:,.0f} MB of index." if index_mb is not None else ".")
        )
    parts.append(decision(bulk, hourly, cycle))
    return " ".join(parts)


def decision(bulk: Line | None, hourly: Line | None, cycle: Line | None) -> str:
    if cycle is None or hourly is None:
        return "Run both phases for a recommendation."
    reads_gain = cycle.ratio <= 0.9
    writes_ok = hourly.ratio >= 0.95
    if reads_gain and writes_ok:
        note = (
            f" Only single large windows (bulk loads) pay for it ({_percent(bulk.ratio)})."
            if bulk and bulk.ratio < 0.95
            else ""
        )
        return "Recommendation: add the time index." + note
    if not reads_gain and not writes_ok:
        return "Recommendation: keep omitting the time index."
    if reads_gain:
        return (
            "Recommendation: mixed; the index speeds the hourly work but slows hourly writes"
            " (backfills); add it only if steady-state latency matters more than backfill speed."
        )
    return "Recommendation: keep omitting it; the index does not speed the hourly work enough."


def _percent(ratio: float) -> str:
    """A with/without ratio as a signed change."""
    return f"{100 * (ratio - 1):+.0f}%"


def write_json(settings: Settings, document: dict[str, Any]) -> Path:
    assert settings.results_dir is not None
    settings.results_dir.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    path = settings.results_dir / f"time_index-{settings.flavor}-{stamp}.json"
    path.write_text(json.dumps(document, indent=2, default=str) + "\n")
    return path


# --- main ---------------------------------------------------------------------------


@dataclass
class Outcome:
    samples: list[Sample]
    ops: list[ReadOp]
    plans: dict[str, dict[str, str]]
    facts: dict[str, Any]


def run_read_phase(conn: psycopg.Connection, settings: Settings, outcome: Outcome) -> None:
    rows, load_s = load_read_table(conn, settings)
    build_s = set_time_index(conn, True)
    conn.execute(sql.SQL("ANALYZE {}").format(TABLE))
    settle_table(conn)
    mb = index_bytes(conn, settings.flavor) / 2**20
    outcome.facts.update(
        read_rows=rows, load_rows_per_s=rows / load_s, index_build_s=build_s, index_mb=mb
    )
    print(
        f"read phase: {rows:,} rows loaded ({rows / load_s:,.0f} rows/s), index built in"
        f" {build_s:.1f} s, {mb:,.0f} MB; now = {settings.read_until:%Y-%m-%d %H:%M}",
        flush=True,
    )
    conn.execute(
        sql.SQL("CREATE TEMPORARY TABLE {} AS SELECT * FROM price_1h WITH NO DATA").format(
            sql.Identifier(REFRESH_TARGET)
        )
    )
    hour = build_frame(settings.read_items, settings.read_until - HOUR, settings.read_until)
    outcome.ops = build_read_ops(settings, hour)
    outcome.plans = {v: plan_shapes(conn, outcome.ops, v) for v in VARIANTS}
    outcome.samples.extend(measure_reads(conn, outcome.ops, settings))


def run(settings: Settings) -> Outcome:
    url = database_url(settings.dsn, settings.database)
    recreate_database(settings.dsn, settings.database)
    outcome = Outcome(samples=[], ops=[], plans={}, facts={})
    try:
        with psycopg.connect(url, autocommit=True, prepare_threshold=None) as conn:
            prepare_database(conn, settings)
            outcome.facts.update(server_info(conn))
            outcome.facts["jit"] = conn.execute("SHOW jit").fetchone()[0]
            print(
                f"flavor={settings.flavor} postgres={outcome.facts['server_version']}"
                f" timescaledb={outcome.facts['timescaledb']} jit={outcome.facts['jit']}",
                flush=True,
            )
            if "write" in settings.phases:
                outcome.samples.extend(measure_writes(conn, settings))
            if "read" in settings.phases:
                run_read_phase(conn, settings, outcome)
    finally:
        if not settings.keep_database:
            drop_database(settings.dsn, settings.database)
    return outcome


def main(argv: Sequence[str] | None = None) -> int:
    settings = parse_args(argv)
    outcome = run(settings)
    lines = summarise(outcome.samples, outcome.ops, settings.hours)
    print()
    print(format_lines(lines, [op.name for op in outcome.ops if op.in_cycle]))
    if outcome.plans:
        print("plans (EXPLAIN node types):")
        print(format_plans(outcome.plans))
    text = verdict(settings.flavor, lines, outcome.facts.get("index_mb"))
    print(text)
    if settings.results_dir is not None:
        document = {
            "settings": asdict(settings) | {"flavor": settings.flavor.value},
            "environment": environment() | outcome.facts,
            "samples": [asdict(s) for s in outcome.samples],
            "summary": [asdict(line) for line in lines],
            "plans": outcome.plans,
            "verdict": text,
        }
        print(f"results: {write_json(settings, document)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
