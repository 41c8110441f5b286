"""Resolving item names draws identity values only for names the catalogue lacks."""

from __future__ import annotations

import threading
import time
from datetime import timedelta

import polars as pl
import psycopg

from tracera_pipeline.providers.synthetic import SyntheticMarket
from tracera_pipeline.providers.validation import validate_prices
from tracera_pipeline.storage.items import attach_item_ids, existing_item_ids, resolve_item_ids
from tracera_pipeline_tests.helpers import T0

HALF_HOUR = timedelta(minutes=30)


def _sequence_position(conn: psycopg.Connection) -> int | None:
    """The last value the items identity handed out (None: none yet)."""
    return conn.execute(
        "SELECT pg_sequence_last_value(pg_get_serial_sequence('items', 'item_id')::regclass)"
    ).fetchone()[0]


def test_known_names_leave_the_identity_sequence_alone(conn) -> None:
    first = resolve_item_ids(conn, ["b", "a", "a"])
    assert sorted(first.get_column("market_hash_name")) == ["a", "b"]
    after_first = _sequence_position(conn)

    again = resolve_item_ids(conn, ["a", "b"] * 1000)
    assert dict(again.iter_rows()) == dict(first.iter_rows())
    assert _sequence_position(conn) == after_first  # nothing drawn for known names

    grown = dict(resolve_item_ids(conn, ["a", "b", "c"]).iter_rows())
    assert _sequence_position(conn) == after_first + 1  # one new name, one value
    assert grown["c"] == after_first + 1


def test_existing_item_ids_adds_nothing(conn) -> None:
    resolve_item_ids(conn, ["known"])
    found = existing_item_ids(conn, ["known", "unknown"])
    assert found.get_column("market_hash_name").to_list() == ["known"]
    assert (
        conn.execute("SELECT count(*) FROM items WHERE market_hash_name = 'unknown'").fetchone()[0]
        == 0
    )


def test_a_name_another_writer_adds_meanwhile_still_resolves(conn, database_url) -> None:
    """The other writer's name commits after the resolving statement's snapshot: its
    insert skips the name and its snapshot cannot see it, yet the name resolves."""
    resolved: dict[str, int] = {}

    def resolve() -> None:
        with psycopg.connect(database_url, autocommit=True) as own:
            resolved.update(resolve_item_ids(own, ["fresh", "raced"]).iter_rows())

    with psycopg.connect(database_url) as other:  # not autocommit: stays open
        other.execute("INSERT INTO items (market_hash_name) VALUES ('raced')")
        thread = threading.Thread(target=resolve)
        thread.start()
        waiting = (
            "SELECT count(*) FROM pg_stat_activity"
            " WHERE wait_event_type = 'Lock' AND datname = current_database()"
        )
        deadline = time.monotonic() + 10
        while conn.execute(waiting).fetchone()[0] == 0 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert conn.execute(waiting).fetchone()[0] == 1, "the insert never waited"
        other.commit()
    thread.join(timeout=10)
    stored = dict(conn.execute("SELECT market_hash_name, item_id FROM items").fetchall())
    assert resolved == stored and set(stored) == {"fresh", "raced"}


def test_ids_attached_per_name_block_equal_those_joined_per_row(conn) -> None:
    frame = SyntheticMarket(items=25, interval_seconds=600).fetch(T0, T0 + timedelta(hours=2))
    # One block per name, of unequal lengths: every third name lacks its first half hour.
    late = (pl.col("market_hash_name").rank("dense") % 3 == 0) & (pl.col("time") < T0 + HALF_HOUR)
    frame = frame.filter(~late).sort("market_hash_name", "time")
    checked = validate_prices(frame, T0, T0 + timedelta(hours=2))
    assert checked.name_blocks is not None and checked.name_blocks.len() == 25
    by_block = attach_item_ids(conn, checked.accepted, checked.name_blocks)
    by_row = attach_item_ids(conn, checked.accepted)
    assert by_block.equals(by_row) and by_block.columns[-1] == "item_id"
    stored = dict(conn.execute("SELECT market_hash_name, item_id FROM items").fetchall())
    expected = [stored[name] for name in frame.get_column("market_hash_name")]
    assert by_block.get_column("item_id").to_list() == expected
    # Rows not in one block per name: no blocks, and the join.
    mixed = validate_prices(frame.sort("time", "market_hash_name"), T0, T0 + timedelta(hours=2))
    assert mixed.name_blocks is None
