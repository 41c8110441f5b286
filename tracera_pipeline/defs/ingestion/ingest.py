"""Fetch → validate → quarantine → resolve items → COPY, for a range of windows."""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime

import dagster as dg
import numpy as np
import polars as pl
import psycopg

from tracera_pipeline.providers.base import FetchIssue, PriceProvider
from tracera_pipeline.providers.validation import validate_prices
from tracera_pipeline.storage.flavor import Flavor
from tracera_pipeline.storage.items import attach_item_ids
from tracera_pipeline.storage.items import provider_id as lookup_provider_id
from tracera_pipeline.storage.price_writer import Window, write_price_windows

PREVIEW_ROWS = 10


@dataclass
class IngestReport:
    provider: str
    provider_id: int
    window_start: datetime
    window_end: datetime
    partitions: int
    rows_fetched: int = 0
    rows_written: int = 0
    rows_rejected: int = 0
    rows_replaced: int = 0
    fetch_seconds: float = 0.0
    write_seconds: float = 0.0
    # Partitions a live-only provider cannot fill (recorded as 0 rows, flagged).
    history_unavailable: list[str] = field(default_factory=list)
    rejection_reasons: dict[str, int] = field(default_factory=dict)
    # The adapter's own counts (e.g. Steam: priced, no_price, unknown, failed).
    provider_stats: dict[str, int] = field(default_factory=dict)
    rows_by_partition: dict[str, int] = field(default_factory=dict)
    # Whether the provider was asked at all (not for the future, nor for history
    # a live-only provider cannot give), and what it got wrong without failing.
    fetched: bool = False
    issues: list[FetchIssue] = field(default_factory=list)
    preview: pl.DataFrame | None = None


def _quarantine(
    conn: psycopg.Connection, provider: str, run_range: str, rejected: pl.DataFrame
) -> None:
    raw_rows = rejected.drop("reason").to_dicts()
    with conn.transaction(), conn.cursor() as cur:
        cur.executemany(
            "INSERT INTO rejected_price_points"
            " (provider, partition_key, market_hash_name, observed_at, reason, raw)"
            " VALUES (%s, %s, %s, %s, %s, %s::jsonb)",
            [
                (
                    provider,
                    run_range,
                    raw.get("market_hash_name"),
                    raw.get("time"),
                    reason,
                    json.dumps(raw, default=str, ensure_ascii=False),
                )
                for raw, reason in zip(raw_rows, rejected.get_column("reason"), strict=True)
            ],
        )


def ingest_windows(
    conn: psycopg.Connection,
    flavor: Flavor,
    provider: PriceProvider,
    windows: list[dg.TimeWindow],
    *,
    chunk_rows: int,
    now: datetime | None = None,
    log: logging.Logger | dg.DagsterLogManager | None = None,
) -> IngestReport:
    """Ingest ``windows`` (consecutive hourly partitions) for one provider."""
    now = now or datetime.now(UTC)
    log = log or logging.getLogger(__name__)
    start, end = windows[0].start, windows[-1].end
    report = IngestReport(
        provider.name, lookup_provider_id(conn, provider.name), start, end, len(windows)
    )
    if not provider.supports_history:
        # A live-only provider can only fill the window that contains "now".
        report.history_unavailable = [
            w.start.isoformat() for w in windows if not (w.start <= now < w.end)
        ]
        windows = [w for w in windows if w.start <= now < w.end]
        if report.history_unavailable:
            log.warning(
                f"{provider.name} only serves live prices: {len(report.history_unavailable)}"
                " historical partition(s) recorded with 0 rows (history_unavailable)"
            )
    windows = [w for w in windows if w.start < now]  # never ask for the future
    if not windows:
        return report
    fetch_start, fetch_end = windows[0].start, min(windows[-1].end, now)

    started = time.perf_counter()
    frame = provider.fetch(fetch_start, fetch_end)
    report.fetch_seconds = time.perf_counter() - started
    report.rows_fetched = frame.height
    report.provider_stats = dict(getattr(provider, "last_stats", None) or {})
    report.fetched = True
    report.issues = list(getattr(provider, "last_issues", None) or [])
    log.info(f"{provider.name}: fetched {frame.height} rows in {report.fetch_seconds:.2f}s")

    # Against the partitions' bounds, not `now`: a live snapshot is stamped when
    # the answer arrives, a moment after the fetch began.
    validated = validate_prices(frame, fetch_start, windows[-1].end)
    run_range = f"{windows[0].start.isoformat()}..{windows[-1].end.isoformat()}"
    if validated.rejected.height:
        _quarantine(conn, provider.name, run_range, validated.rejected)
        report.rows_rejected = validated.rejected.height
        report.rejection_reasons = dict(
            validated.rejected.group_by("reason").len().sort("reason").iter_rows()
        )
        log.warning(
            f"{provider.name}: {report.rows_rejected} row(s) quarantined in"
            f" rejected_price_points: {report.rejection_reasons}"
        )

    accepted = validated.accepted
    if frame.height and not accepted.height and not _has_error(report.issues):
        report.issues.append(
            FetchIssue(
                "all_rows_rejected",
                f"all {frame.height} fetched row(s) were quarantined"
                f" ({_reasons_text(report.rejection_reasons)}); see rejected_price_points",
            )
        )
    for issue in report.issues:
        log.warning(f"{provider.name}: {issue.message} [{issue.cause}]")
    rows = attach_item_ids(conn, accepted, validated.name_blocks)
    report.preview = rows.head(PREVIEW_ROWS)
    rows = rows.select("time", "item_id", "price_cents", "volume", "listings")
    # One write for the whole range, in the provider's own row order (item-major
    # rows make primary-key inserts sequential, which COPY likes).
    counts = _rows_per_window(rows, windows)
    written = [Window(w.start, w.end) for w, n in zip(windows, counts, strict=True) if n]
    result = write_price_windows(
        conn,
        rows,
        written,
        flavor=flavor,
        provider_id=report.provider_id,
        mode=provider.write_mode,
        chunk_rows=chunk_rows,
    )
    report.rows_written = result.rows_written
    report.rows_replaced = result.rows_replaced
    report.write_seconds = result.seconds
    report.rows_by_partition = {
        w.start.strftime("%Y-%m-%d-%H:%M"): n for w, n in zip(windows, counts, strict=True)
    }
    log.info(
        f"{provider.name}: wrote {report.rows_written} rows over {len(windows)} partition(s)"
        f" in {report.write_seconds:.2f}s"
    )
    return report


def _has_error(issues: list[FetchIssue]) -> bool:
    return any(issue.severity == "error" for issue in issues)


def _reasons_text(reasons: dict[str, int], limit: int = 3) -> str:
    top = sorted(reasons.items(), key=lambda item: -item[1])[:limit]
    more = f", and {len(reasons) - limit} other reason(s)" if len(reasons) > limit else ""
    return "; ".join(f"{count}× {reason}" for reason, count in top) + more


def _rows_per_window(rows: pl.DataFrame, windows: list[dg.TimeWindow]) -> list[int]:
    """How many of ``rows`` fall in each window (validation keeps rows inside them)."""
    starts = pl.Series([w.start for w in windows], dtype=pl.Datetime("us", "UTC")).to_numpy()
    index = np.searchsorted(starts, rows.get_column("time").to_numpy(), side="right") - 1
    return np.bincount(index, minlength=len(windows)).tolist()
