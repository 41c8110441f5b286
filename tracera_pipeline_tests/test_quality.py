"""The raw steps' quality checks: read from the schema where it guarantees the
answer, counted from the rows where it does not."""

from datetime import timedelta

from tracera_pipeline.storage import quality
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


def test_non_positive_prices_are_counted_in_the_window_only(conn, flavor) -> None:
    load_synthetic(conn, flavor, T0, T0 + timedelta(hours=2), items=3, interval=600)
    conn.execute(
        "UPDATE price_history SET price_cents = 0 WHERE item_id = 1 AND time < %s",
        (T0 + timedelta(hours=1),),
    )
    assert quality.non_positive_prices(conn, 1, T0, T0 + timedelta(hours=1)) == 6
    assert (
        quality.non_positive_prices(conn, 1, T0 + timedelta(hours=1), T0 + timedelta(hours=2)) == 0
    )
