"""The raw steps' quality checks: read from the schema where it guarantees the
answer (the primary key, migration 010's positive-price constraint), counted from
the rows where it does not."""

from datetime import timedelta

import psycopg
import pytest

from tracera_pipeline import config
from tracera_pipeline.storage import quality
from tracera_pipeline.storage.flavor import FlavorRequest
from tracera_pipeline.storage.migrations import migrate
from tracera_pipeline_tests.helpers import T0, load_synthetic


def test_duplicates_are_counted_once_the_key_no_longer_refuses_them(conn, flavor) -> None:
    load_synthetic(conn, flavor, T0, T0 + timedelta(hours=2), items=3, interval=600)
    window = (1, T0, T0 + timedelta(hours=2))
    assert quality.price_key_enforced(conn) is True
    assert quality.duplicate_keys(conn, *window) == 0

    conn.execute("ALTER TABLE price_history DROP CONSTRAINT price_history_pkey")
    assert quality.price_key_enforced(conn) is False
    assert quality.duplicate_keys(conn, *window) == 0  # none stored yet: counted, not assumed
    conn.execute(
        "INSERT INTO price_history SELECT * FROM price_history"
        " WHERE provider_id = 1 AND item_id IN (1, 2) AND time < %s",
        (T0 + timedelta(hours=1),),
    )
    assert quality.duplicate_keys(conn, *window) == 2 * 6  # 2 items × 6 samples in hour one
    assert quality.duplicate_keys(conn, 1, T0 + timedelta(hours=1), window[2]) == 0


def test_non_positive_prices_are_refused_then_counted_once_nothing_refuses_them(
    conn, flavor
) -> None:
    load_synthetic(conn, flavor, T0, T0 + timedelta(hours=2), items=3, interval=600)
    window = (1, T0, T0 + timedelta(hours=1))
    assert quality.positive_price_enforced(conn) is True
    assert quality.non_positive_prices(conn, *window) == 0
    zero_item_one = "UPDATE price_history SET price_cents = 0 WHERE item_id = 1 AND time < %s"
    with pytest.raises(psycopg.errors.CheckViolation):
        conn.execute(zero_item_one, (T0 + timedelta(hours=1),))

    conn.execute("ALTER TABLE price_history DROP CONSTRAINT price_history_price_positive")
    assert quality.positive_price_enforced(conn) is False
    conn.execute(zero_item_one, (T0 + timedelta(hours=1),))
    assert quality.non_positive_prices(conn, *window) == 6
    assert (
        quality.non_positive_prices(conn, 1, T0 + timedelta(hours=1), T0 + timedelta(hours=2)) == 0
    )


def test_history_with_bad_prices_keeps_the_constraint_unvalidated_and_counted(conn, flavor) -> None:
    """Migration 010 over a history holding a zero price: applied, but NOT VALID
    (nothing deleted), so the check keeps counting until the data is fixed."""
    load_synthetic(conn, flavor, T0, T0 + timedelta(hours=1), items=3, interval=600)
    conn.execute("ALTER TABLE price_history DROP CONSTRAINT price_history_price_positive")
    conn.execute("DELETE FROM schema_migrations WHERE version = 10")
    conn.execute("UPDATE price_history SET price_cents = 0 WHERE item_id = 1")

    report = migrate(conn, config.sql_dir(), FlavorRequest(flavor.value))

    assert report.applied == ("010_positive_prices.sql",)
    assert quality.positive_price_enforced(conn) is False
    assert quality.non_positive_prices(conn, 1, T0, T0 + timedelta(hours=1)) == 6
    with pytest.raises(psycopg.errors.CheckViolation):  # new rows are held to it already
        conn.execute("UPDATE price_history SET price_cents = -1 WHERE item_id = 2")
    conn.execute("UPDATE price_history SET price_cents = 1 WHERE item_id = 1")
    conn.execute("ALTER TABLE price_history VALIDATE CONSTRAINT price_history_price_positive")
    assert quality.positive_price_enforced(conn) is True
