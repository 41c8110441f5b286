"""Sliding-window volatility per item and market, as of given times (partition ends).

For a window W (1h, 24h, 7d) and an as-of time T, every metric is computed over
the samples in ``[T − W, T)`` — a trailing window that slides with T, not a
calendar bucket — so all three windows have values as soon as they hold two
samples. The metrics come from the 1h aggregates (count and sums combine
exactly; whole days from the 24h ones): ``volatility_plan`` says which buckets
are read, ``volatility_sums`` computes them (formulas in ``window_metrics``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import psycopg
from psycopg import sql

from tracera_pipeline.analytics.volatility_plan import (
    WINDOWS,
    ScanPlan,
    VolatilityWindow,
    plan_scan,
)
from tracera_pipeline.analytics.volatility_sums import (
    read_segments,
    segment_queries,
    window_metrics,
    write_metrics,
)

__all__ = ["WINDOWS", "RankedItem", "VolatilityWindow", "compute_volatility", "plan_scan"]

# Segments per block of items: a block's segments and metrics are held in memory
# (~150 bytes a segment), so a catalogue of any size is computed in bounded memory
# (~60 MB a window). Blocks are kept few: each block's scan visits the pages of
# every hour again (a price_1h page holds every item's rows of its hour).
BLOCK_SEGMENTS = 100_000


@dataclass(frozen=True)
class RankedItem:
    item_id: int
    market_hash_name: str
    market: str
    coefficient_of_variation: float
    stddev_cents: float
    mean_cents: float


def item_blocks(conn: psycopg.Connection, plan: ScanPlan) -> list[range]:
    """Ranges of item ids with about ``BLOCK_SEGMENTS`` segments each, at worst
    (every market tracking every item)."""
    low, high, markets = conn.execute(
        "SELECT min(item_id), max(item_id), (SELECT count(*) FROM providers) FROM items"
    ).fetchone()
    if low is None:
        return []
    per_item = max(1, plan.segments * max(1, markets))
    step = max(1, BLOCK_SEGMENTS // per_item)
    return [range(start, min(start + step, high + 1)) for start in range(low, high + 1, step)]


def compute_volatility(
    conn: psycopg.Connection,
    window: VolatilityWindow,
    as_of: list[datetime],
    *,
    parallel_workers: int | None = None,
) -> int:
    """Replace the metrics of ``window`` at each ``as_of`` (hour boundaries); rows written.

    Reads price_1h and, for whole days, price_24h: refresh both first. One
    transaction, a block of items at a time. ``parallel_workers``: PostgreSQL's
    parallel workers per query (``None``: the server's own setting)."""
    if not as_of:
        return 0
    plan = plan_scan(window, as_of)
    queries = segment_queries(window, as_of, plan)
    written = 0
    with conn.transaction():
        # JIT compilation (~0.3-1 s) would cost more than it saves on these scans. The
        # exact sums of wide segments are a hash aggregate of numeric states, ~2 kB a
        # group (16.8 MB for 8,328 in EXPLAIN): the default 4 MB would spill them.
        conn.execute("SET LOCAL jit = off")
        conn.execute("SET LOCAL work_mem = '256MB'")
        if parallel_workers is not None:
            conn.execute(
                sql.SQL("SET LOCAL max_parallel_workers_per_gather = {}").format(
                    sql.Literal(parallel_workers)
                )
            )
        conn.execute(
            "DELETE FROM item_volatility WHERE window_name = %s AND as_of = ANY(%s)",
            (window.name, as_of),
        )
        for items in item_blocks(conn, plan):
            metrics = window_metrics(read_segments(conn, queries, items), window, as_of, plan)
            write_metrics(conn, metrics)
            written += metrics.height
    return written


def top_volatile(
    conn: psycopg.Connection,
    window: str,
    as_of: datetime,
    *,
    market: str | None = None,
    limit: int | None = None,
) -> list[RankedItem]:
    """Items ranked by coefficient of variation, most volatile first; one market or all."""
    rows = conn.execute(
        "SELECT v.item_id, i.market_hash_name, p.name, v.coefficient_of_variation,"
        " v.stddev_cents, v.mean_cents"
        " FROM item_volatility v JOIN items i USING (item_id) JOIN providers p USING (provider_id)"
        " WHERE v.window_name = %s AND v.as_of = %s AND v.coefficient_of_variation IS NOT NULL"
        " AND (%s::text IS NULL OR p.name = %s)"
        " ORDER BY v.coefficient_of_variation DESC, v.item_id, p.name LIMIT %s",
        (window, as_of, market, market, limit),
    ).fetchall()
    return [RankedItem(*row) for row in rows]
