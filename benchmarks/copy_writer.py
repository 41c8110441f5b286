"""Write throughput of the price writer against the alternatives, on one table.

Every method loads the same synthetic rows into the same ``price_history`` table
(primary key ``(item_id, provider_id, time)``), truncated before every attempt;
the methods are interleaved within each repetition (their order rotates) so that
machine noise spreads over all of them:

* ``writer``: ``write_price_window`` in REPLACE mode, timed end to end (delete
  of the window, polars → binary COPY encoding, transfer, commit);
* ``server-copy``: the reference, ``COPY … FROM '<file>' (FORMAT binary)`` of the
  same rows, encoded once beforehand into a file the server reads itself;
* ``adbc``: ``polars.DataFrame.write_database(engine="adbc")``;
* ``insert``: ``executemany`` of single-row INSERTs on a subset, extrapolated;
* diagnostics (``--diagnostics``): ``encode`` (the writer's encoding alone, no
  database) and ``stdin-copy`` (the pre-encoded payload sent with
  ``COPY … FROM STDIN``: transfer and server work, no encoding).

Run from the repository root: ``python -m benchmarks.copy_writer --flavor native``.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from importlib import metadata
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import polars as pl
import psycopg
from psycopg import sql

from tracera_pipeline.providers.synthetic import SyntheticMarket
from tracera_pipeline.storage.binary_copy import PRICE_HISTORY_COLUMNS, iter_copy_payload
from tracera_pipeline.storage.flavor import Flavor, FlavorRequest
from tracera_pipeline.storage.migrations import migrate
from tracera_pipeline.storage.native_partitions import ensure_partitions
from tracera_pipeline.storage.price_writer import WriteMode, write_price_window

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_DSN = "postgresql://postgres@127.0.0.1:5432/postgres"
DEFAULT_RESULTS_DIR = REPO_ROOT / "benchmarks" / "results"
WINDOW_START = datetime(2026, 1, 5, tzinfo=UTC)
PROVIDER_ID = 1
ORIGINAL_SYSTEM_ROWS_PER_S = 50_000
TARGET_RATIO = 0.95

TABLE = sql.Identifier("price_history")
COPY_COLUMNS = [column.name for column in PRICE_HISTORY_COLUMNS]
_COLUMN_LIST = sql.SQL(", ").join(sql.Identifier(name) for name in COPY_COLUMNS)
COPY_FROM_STDIN = sql.SQL("COPY {table} ({columns}) FROM STDIN (FORMAT binary)").format(
    table=TABLE, columns=_COLUMN_LIST
)
INSERT_ROW = sql.SQL("INSERT INTO {table} ({columns}) VALUES ({values})").format(
    table=TABLE,
    columns=_COLUMN_LIST,
    values=sql.SQL(", ").join(sql.Placeholder() * len(COPY_COLUMNS)),
)

MAIN_METHODS = ("writer", "server-copy", "adbc", "insert")
DIAGNOSTIC_METHODS = ("encode", "stdin-copy")
REFERENCE = "server-copy"
SETTLE_MODES = ("none", "checkpoint", "vacuum-checkpoint")


# --- settings -----------------------------------------------------------------------


@dataclass(frozen=True)
class Settings:
    dsn: str
    database: str
    flavor: Flavor
    rows_target: int
    hours: float
    items: int
    repeat: int
    warmup: int
    chunk_rows: int
    insert_rows: int
    settle: str
    methods: tuple[str, ...]
    results_dir: Path | None
    keep_database: bool

    @property
    def window_end(self) -> datetime:
        return WINDOW_START + timedelta(hours=self.hours)


def parse_args(argv: Sequence[str] | None = None) -> Settings:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.copy_writer",
        description="Rows/s of the price writer vs server-side binary COPY, ADBC, row INSERTs.",
    )
    parser.add_argument("--dsn", default=DEFAULT_DSN, help="maintenance URL (postgresql://…)")
    parser.add_argument("--database", default="tracera_bench", help="dropped and re-created")
    parser.add_argument("--flavor", choices=[f.value for f in Flavor], default="native")
    parser.add_argument("--rows-target", type=int, default=1_000_000)
    parser.add_argument("--hours", type=float, default=24.0, help="window length")
    parser.add_argument("--items", type=int, help="default: enough for --rows-target")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--warmup", type=int, default=1, help="untimed rounds first")
    parser.add_argument("--chunk-rows", type=int, default=100_000)
    parser.add_argument("--insert-rows", type=int, default=20_000)
    parser.add_argument(
        "--settle",
        choices=SETTLE_MODES,
        default="vacuum-checkpoint",
        help="after each TRUNCATE (CHECKPOINT measurably cuts the spread; see README)",
    )
    parser.add_argument(
        "--diagnostics", action="store_true", help=f"also run {', '.join(DIAGNOSTIC_METHODS)}"
    )
    parser.add_argument("--results-dir", type=Path, default=DEFAULT_RESULTS_DIR)
    parser.add_argument("--no-json", action="store_true", help="do not write a JSON result")
    parser.add_argument("--keep-database", action="store_true")
    args = parser.parse_args(argv)
    samples = len(SyntheticMarket(items=1).sample_times(WINDOW_START, _end(args.hours)))
    if samples == 0:
        parser.error("--hours is shorter than one sample interval")
    items = args.items or max(1, math.ceil(args.rows_target / samples))
    methods = MAIN_METHODS + (DIAGNOSTIC_METHODS if args.diagnostics else ())
    return Settings(
        dsn=args.dsn,
        database=args.database,
        flavor=Flavor(args.flavor),
        rows_target=args.rows_target,
        hours=args.hours,
        items=items,
        repeat=args.repeat,
        warmup=args.warmup,
        chunk_rows=args.chunk_rows,
        insert_rows=args.insert_rows,
        settle=args.settle,
        methods=methods,
        results_dir=None if args.no_json else args.results_dir,
        keep_database=args.keep_database,
    )


def _end(hours: float) -> datetime:
    return WINDOW_START + timedelta(hours=hours)


def database_url(dsn: str, database: str) -> str:
    """``dsn`` pointing at ``database`` (kept a URL: polars picks the ADBC driver by scheme)."""
    parts = urlsplit(dsn)
    if parts.scheme not in ("postgresql", "postgres"):
        raise SystemExit("--dsn must be a postgresql:// URL")
    return urlunsplit(parts._replace(path=f"/{database}"))


# --- workload -----------------------------------------------------------------------


def build_frame(items: int, start: datetime, end: datetime) -> pl.DataFrame:
    """Synthetic prices with item ids 1..items, in the writer's input shape."""
    market = SyntheticMarket(items=items)
    ids = {name: index for index, name in enumerate(market.item_names, start=1)}
    frame = market.fetch(start, end).select(
        pl.col("time"),
        pl.col("market_hash_name").replace_strict(ids, return_dtype=pl.Int32).alias("item_id"),
        pl.col("price_cents").cast(pl.Int64),
        pl.col("volume").cast(pl.Int32),
        pl.col("listings").cast(pl.Int32),
    )
    if frame.null_count().sum_horizontal().item():
        raise RuntimeError("the synthetic frame has NULLs; the benchmark assumes none")
    return frame


def copy_frame(frame: pl.DataFrame) -> pl.DataFrame:
    """``frame`` with provider_id, in the table's column order (COPY file, ADBC)."""
    provider = pl.lit(PROVIDER_ID, dtype=pl.Int16).alias("provider_id")
    return frame.with_columns(provider).select(COPY_COLUMNS)


def write_copy_file(chunks: list[bytes]) -> Path:
    """The binary COPY stream in a file the server process can read."""
    handle, name = tempfile.mkstemp(prefix="tracera_bench_", suffix=".pgcopy", dir="/tmp")
    with os.fdopen(handle, "wb") as out:
        for chunk in chunks:
            out.write(chunk)
    path = Path(name)
    path.chmod(0o644)
    return path


# --- database -----------------------------------------------------------------------


def recreate_database(dsn: str, database: str) -> None:
    with psycopg.connect(dsn, autocommit=True) as conn:
        name = sql.Identifier(database)
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(name))
        conn.execute(sql.SQL("CREATE DATABASE {}").format(name))


def drop_database(dsn: str, database: str) -> None:
    with psycopg.connect(dsn, autocommit=True) as conn:
        name = sql.Identifier(database)
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(name))


def prepare_schema(conn: psycopg.Connection, settings: Settings) -> None:
    migrate(conn, REPO_ROOT / "sql", FlavorRequest(settings.flavor.value))
    if settings.flavor is Flavor.NATIVE:
        ensure_partitions(conn, WINDOW_START, settings.window_end)


def reset_table(conn: psycopg.Connection, settle: str) -> None:
    conn.execute(sql.SQL("TRUNCATE {}").format(TABLE))
    if settle == "vacuum-checkpoint":
        conn.execute("VACUUM")
    if settle in ("checkpoint", "vacuum-checkpoint"):
        conn.execute("CHECKPOINT")


def count_rows(conn: psycopg.Connection) -> int:
    row = conn.execute(sql.SQL("SELECT count(*) FROM {}").format(TABLE)).fetchone()
    return int(row[0]) if row else 0


def server_info(conn: psycopg.Connection) -> dict[str, str]:
    version = conn.execute("SHOW server_version").fetchone()
    timescale = conn.execute(
        "SELECT extversion FROM pg_extension WHERE extname = 'timescaledb'"
    ).fetchone()
    return {
        "server_version": version[0] if version else "?",
        "timescaledb": timescale[0] if timescale else "not installed in the bench database",
    }


# --- methods ------------------------------------------------------------------------


@dataclass
class Context:
    settings: Settings
    url: str
    conn: psycopg.Connection
    frame: pl.DataFrame  # the writer's input
    table_frame: pl.DataFrame  # + provider_id, table column order
    chunks: list[bytes]  # the encoded COPY stream
    copy_file: Path
    insert_params: list[tuple[Any, ...]] = field(default_factory=list)


def run_writer(ctx: Context) -> int:
    result = write_price_window(
        ctx.conn,
        ctx.frame,
        flavor=ctx.settings.flavor,
        provider_id=PROVIDER_ID,
        window_start=WINDOW_START,
        window_end=ctx.settings.window_end,
        mode=WriteMode.REPLACE,
        chunk_rows=ctx.settings.chunk_rows,
    )
    return result.rows_written


def run_server_copy(ctx: Context) -> int:
    statement = sql.SQL("COPY {table} ({columns}) FROM {path} (FORMAT binary)").format(
        table=TABLE, columns=_COLUMN_LIST, path=sql.Literal(str(ctx.copy_file))
    )
    with ctx.conn.transaction():
        return ctx.conn.execute(statement).rowcount


def run_adbc(ctx: Context) -> int:
    ctx.table_frame.write_database(
        "price_history", connection=ctx.url, engine="adbc", if_table_exists="append"
    )
    return ctx.table_frame.height


def run_insert(ctx: Context) -> int:
    with ctx.conn.transaction(), ctx.conn.cursor() as cur:
        cur.executemany(INSERT_ROW, ctx.insert_params)
    return len(ctx.insert_params)


def run_stdin_copy(ctx: Context) -> int:
    with ctx.conn.transaction(), ctx.conn.cursor() as cur, cur.copy(COPY_FROM_STDIN) as copy:
        for chunk in ctx.chunks:
            copy.write(chunk)
    return ctx.frame.height


def run_encode(ctx: Context) -> int:
    frame = ctx.frame.with_columns(pl.lit(PROVIDER_ID, dtype=pl.Int16).alias("provider_id"))
    for _ in iter_copy_payload(frame, ctx.settings.chunk_rows):
        pass
    return ctx.frame.height


METHODS: dict[str, Callable[[Context], int]] = {
    "writer": run_writer,
    "server-copy": run_server_copy,
    "adbc": run_adbc,
    "insert": run_insert,
    "stdin-copy": run_stdin_copy,
    "encode": run_encode,
}
LABELS = {
    "writer": "writer (write_price_window)",
    "server-copy": "server COPY FROM file (binary)",
    "adbc": "polars write_database (ADBC)",
    "insert": "row INSERTs (executemany)",
    "stdin-copy": "diag: COPY FROM STDIN, pre-encoded",
    "encode": "diag: encoding only (no database)",
}
WRITES_TABLE = {name: name != "encode" for name in METHODS}


# --- measurement --------------------------------------------------------------------


@dataclass(frozen=True)
class Attempt:
    method: str
    repetition: int
    rows: int
    seconds: float

    @property
    def rows_per_s(self) -> float:
        return self.rows / self.seconds


def attempt(ctx: Context, method: str, repetition: int) -> Attempt:
    if WRITES_TABLE[method]:
        reset_table(ctx.conn, ctx.settings.settle)
    started = time.perf_counter()
    rows = METHODS[method](ctx)
    seconds = time.perf_counter() - started
    if WRITES_TABLE[method] and (stored := count_rows(ctx.conn)) != rows:
        raise RuntimeError(f"{method}: {rows} rows reported but {stored} stored")
    return Attempt(method, repetition, rows, seconds)


def rotated(methods: tuple[str, ...], repetition: int) -> tuple[str, ...]:
    shift = repetition % len(methods)
    return methods[shift:] + methods[:shift]


def measure(ctx: Context) -> list[Attempt]:
    methods = ctx.settings.methods
    for _ in range(ctx.settings.warmup):
        for method in methods:
            attempt(ctx, method, -1)
    attempts = []
    for repetition in range(ctx.settings.repeat):
        for method in rotated(methods, repetition):
            done = attempt(ctx, method, repetition)
            attempts.append(done)
            print(
                f"  rep {repetition + 1}/{ctx.settings.repeat} {method:<12}"
                f" {done.rows_per_s:>13,.0f} rows/s ({done.seconds:.3f} s)",
                flush=True,
            )
    return attempts


@dataclass(frozen=True)
class Summary:
    method: str
    rows: int
    median_rows_per_s: float
    best_rows_per_s: float
    spread: float  # (max - min) / median of the rates
    median_ratio: float | None  # vs the reference, paired per repetition


def summarise(attempts: list[Attempt], methods: tuple[str, ...]) -> list[Summary]:
    reference = {a.repetition: a.rows_per_s for a in attempts if a.method == REFERENCE}
    summaries = []
    for method in methods:
        mine = [a for a in attempts if a.method == method]
        rates = [a.rows_per_s for a in mine]
        median = statistics.median(rates)
        ratios = [a.rows_per_s / reference[a.repetition] for a in mine if a.repetition in reference]
        summaries.append(
            Summary(
                method=method,
                rows=mine[0].rows,
                median_rows_per_s=median,
                best_rows_per_s=max(rates),
                spread=(max(rates) - min(rates)) / median,
                median_ratio=statistics.median(ratios) if ratios else None,
            )
        )
    return summaries


# --- report -------------------------------------------------------------------------


def format_table(summaries: list[Summary]) -> str:
    header = ("method", "rows", "median rows/s", "best rows/s", "spread", "ratio vs server COPY")
    lines = [header]
    for s in summaries:
        ratio = f"{s.median_ratio:.3f}×" if s.median_ratio is not None else "-"
        rows = f"{s.rows:,}" + ("*" if s.method == "insert" else "")
        lines.append(
            (
                LABELS[s.method],
                rows,
                f"{s.median_rows_per_s:,.0f}",
                f"{s.best_rows_per_s:,.0f}",
                f"{100 * s.spread:.1f}%",
                ratio,
            )
        )
    widths = [max(len(line[i]) for line in lines) for i in range(len(header))]
    rendered = [
        " | ".join(
            cell.ljust(width) if i == 0 else cell.rjust(width)
            for i, (cell, width) in enumerate(zip(line, widths, strict=True))
        )
        for line in lines
    ]
    rendered.insert(1, "-+-".join("-" * width for width in widths))
    if any(s.method == "insert" for s in summaries):
        rendered.append("* a subset: its rows/s is extrapolated to the full load")
    rendered.append("spread: (max - min) / median rate; ratio: median of per-repetition ratios")
    return "\n".join(rendered)


def verdict(summaries: list[Summary]) -> str:
    by_method = {s.method: s for s in summaries}
    writer = by_method.get("writer")
    if writer is None or writer.median_ratio is None:
        return "verdict: writer or server COPY not measured"
    met = "met" if writer.median_ratio >= TARGET_RATIO else "MISSED"
    original = writer.median_rows_per_s / ORIGINAL_SYSTEM_ROWS_PER_S
    return (
        f"verdict: the writer reached {writer.median_ratio:.2f}× of server-side binary COPY"
        f" (target ≥ {TARGET_RATIO}×: {met}) and {original:.1f}× the original system's"
        f" {ORIGINAL_SYSTEM_ROWS_PER_S:,} rows/s"
    )


def environment() -> dict[str, str]:
    packages = ("psycopg", "polars", "numpy", "pyarrow", "adbc-driver-postgresql")
    info = {name: _version(name) for name in packages}
    info.update(
        python=platform.python_version(),
        machine=platform.machine(),
        cpus=str(os.cpu_count()),
        libpq=str(psycopg.pq.version()),
    )
    return info


def _version(package: str) -> str:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return "not installed"


def write_json(
    settings: Settings,
    info: dict[str, str],
    attempts: list[Attempt],
    summaries: list[Summary],
) -> Path:
    assert settings.results_dir is not None
    settings.results_dir.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    path = settings.results_dir / f"copy_writer-{settings.flavor}-{stamp}.json"
    document = {
        "settings": {
            **asdict(settings),
            "flavor": settings.flavor.value,
            "results_dir": str(settings.results_dir),
            "dsn": settings.dsn,
        },
        "environment": info,
        "attempts": [asdict(a) | {"rows_per_s": a.rows_per_s} for a in attempts],
        "summary": [asdict(s) for s in summaries],
        "verdict": verdict(summaries),
    }
    path.write_text(json.dumps(document, indent=2, default=str) + "\n")
    return path


# --- main ---------------------------------------------------------------------------


def build_context(settings: Settings, url: str, conn: psycopg.Connection) -> Context:
    frame = build_frame(settings.items, WINDOW_START, settings.window_end)
    table_frame = copy_frame(frame)
    chunks = list(iter_copy_payload(table_frame, settings.chunk_rows))
    insert_params = table_frame.head(settings.insert_rows).rows()
    return Context(
        settings=settings,
        url=url,
        conn=conn,
        frame=frame,
        table_frame=table_frame,
        chunks=chunks,
        copy_file=write_copy_file(chunks),
        insert_params=insert_params,
    )


def main(argv: Sequence[str] | None = None) -> int:
    settings = parse_args(argv)
    url = database_url(settings.dsn, settings.database)
    recreate_database(settings.dsn, settings.database)
    ctx: Context | None = None
    try:
        with psycopg.connect(url, autocommit=True) as conn:
            prepare_schema(conn, settings)
            info = environment() | server_info(conn)
            ctx = build_context(settings, url, conn)
            print(
                f"flavor={settings.flavor} rows={ctx.frame.height:,} items={settings.items:,}"
                f" hours={settings.hours:g} chunk_rows={settings.chunk_rows:,}"
                f" repeat={settings.repeat} warmup={settings.warmup} settle={settings.settle}"
                f" payload={sum(map(len, ctx.chunks)) / 1e6:.1f} MB"
                f" postgres={info['server_version']} timescaledb={info['timescaledb']}",
                flush=True,
            )
            attempts = measure(ctx)
    finally:
        if ctx is not None:
            ctx.copy_file.unlink(missing_ok=True)
        if not settings.keep_database:
            drop_database(settings.dsn, settings.database)
    summaries = summarise(attempts, settings.methods)
    print()
    print(format_table(summaries))
    print(verdict(summaries))
    if settings.results_dir is not None:
        print(f"results: {write_json(settings, info, attempts, summaries)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
