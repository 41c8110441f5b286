"""Small helpers shared by tests."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import dagster as dg
import polars as pl
import psycopg

from tracera_pipeline.defs.partitions import HOURLY
from tracera_pipeline.providers.synthetic import SyntheticMarket
from tracera_pipeline.storage.flavor import Flavor
from tracera_pipeline.storage.items import resolve_item_ids
from tracera_pipeline.storage.price_writer import WriteMode, write_price_window

T0 = datetime(2026, 3, 2, tzinfo=UTC)  # a Monday


def hours(start: datetime, count: int) -> list[dg.TimeWindow]:
    return [
        dg.TimeWindow(start + timedelta(hours=i), start + timedelta(hours=i + 1))
        for i in range(count)
    ]


def key(moment: datetime) -> str:
    return HOURLY.get_partition_key_for_timestamp(moment.timestamp())


def open_and_closed_hour(needed_seconds: int) -> tuple[str, str]:
    """The open hour's partition key and the closed one's before it; when fewer than
    ``needed_seconds`` are left of the open hour, those of the next one (a test that
    needs the hour to stay open waits for it)."""
    now = datetime.now(UTC)
    left = 3600 - (now.minute * 60 + now.second)
    if left < needed_seconds:
        time.sleep(left + 1)
        now = datetime.now(UTC)
    return key(now), key(now - timedelta(hours=1))


def with_item_ids(conn: psycopg.Connection, frame: pl.DataFrame) -> pl.DataFrame:
    ids = resolve_item_ids(conn, frame.get_column("market_hash_name").to_list())
    return frame.join(ids, on="market_hash_name").select(
        "time", "item_id", "price_cents", "volume", "listings"
    )


def load_synthetic(
    conn: psycopg.Connection,
    flavor: Flavor,
    start: datetime,
    end: datetime,
    items: int = 10,
    interval: int = 600,
    provider_id: int = 1,
    market_name: str = "synthetic",
) -> pl.DataFrame:
    """Write one simulated market's prices for [start, end) day by day; returns the raw frame."""
    market = SyntheticMarket.for_market(market_name, items=items, interval_seconds=interval)
    frame = market.fetch(start, end)
    rows = with_item_ids(conn, frame)
    day = start
    while day < end:
        nxt = min(day + timedelta(days=1), end)
        part = rows.filter((pl.col("time") >= day) & (pl.col("time") < nxt))
        write_price_window(
            conn,
            part,
            flavor=flavor,
            provider_id=provider_id,
            window_start=day,
            window_end=nxt,
            mode=WriteMode.REPLACE,
        )
        day = nxt
    return frame


def raw_rows(conn: psycopg.Connection) -> pl.DataFrame:
    rows = conn.execute(
        "SELECT time, item_id, provider_id, price_cents, volume, listings FROM price_history"
        " ORDER BY item_id, provider_id, time"
    ).fetchall()
    return pl.DataFrame(
        rows,
        schema={
            "time": pl.Datetime("us", "UTC"),
            "item_id": pl.Int32,
            "provider_id": pl.Int16,
            "price_cents": pl.Int64,
            "volume": pl.Int32,
            "listings": pl.Int32,
        },
        orient="row",
    )


class Sleeps(list):
    """A ``sleep`` stand-in that records the waits asked for."""

    def __call__(self, seconds: float) -> None:
        self.append(seconds)


class StrictLimiter:
    """A server-side rate limit that forgives nothing: at most ``limit`` requests
    arrive in any ``window`` seconds (counted when the handler is entered, 429s
    included), else 429 with Steam's ``null`` body. ``answer`` serves the rest."""

    def __init__(self, limit: int, window: float, answer) -> None:
        import threading

        self.limit, self.window, self.answer = limit, window, answer
        self.arrivals: list[float] = []
        self.rejected = 0
        self._lock = threading.Lock()

    def __call__(self, request):
        import time

        from werkzeug import Response

        with self._lock:
            now = time.monotonic()
            self.arrivals.append(now)
            recent = sum(1 for t in self.arrivals if t > now - self.window)
            if recent > self.limit:
                self.rejected += 1
                return Response("null", status=429, content_type="application/json")
        return self.answer(request)

    def most_in_any_window(self) -> int:
        times = sorted(self.arrivals)
        return max(
            (sum(1 for t in times[i:] if t < start + self.window) for i, start in enumerate(times)),
            default=0,
        )
