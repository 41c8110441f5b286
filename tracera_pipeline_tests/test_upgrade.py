"""An existing database (schema before markets were a dimension) upgrades in place,
on both flavours, without losing a row."""

import shutil
import uuid
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import psycopg
import pytest

from tracera_pipeline import config
from tracera_pipeline.storage.aggregates import LEVELS, refresh_level
from tracera_pipeline.storage.database import ensure_database
from tracera_pipeline.storage.flavor import Flavor, FlavorRequest
from tracera_pipeline.storage.retention import WATERMARK_KEY
from tracera_pipeline_tests.conftest import RUN_ID, _drop, _url
from tracera_pipeline_tests.helpers import T0, load_synthetic

LAST_OLD_VERSION = 5
DAY1, DAY2, DAY3 = T0, T0 + timedelta(days=1), T0 + timedelta(days=2)

# The refresh of the previous schema (markets blended), native flavour.
_OLD_NATIVE_1H = """
INSERT INTO price_1h
SELECT date_bin('1 hour', time, '2000-01-03'::timestamptz), item_id, count(*),
       sum(price_cents)::numeric, sum(price_cents::numeric * price_cents),
       min(price_cents), max(price_cents), sum(volume)::bigint,
       (sum(price_cents)::numeric / count(*))::double precision,
       CASE WHEN count(*) > 1 THEN sqrt(greatest((sum(price_cents::numeric * price_cents)
            - sum(price_cents)::numeric * sum(price_cents)::numeric / count(*))
            / (count(*) - 1), 0))::double precision END
FROM price_history GROUP BY 1, 2
"""
_OLD_NATIVE_ROLLUP = """
INSERT INTO {target}
SELECT date_bin(%s, bucket, '2000-01-03'::timestamptz), item_id, sum(samples)::bigint,
       sum(sum_cents), sum(sum_sq_cents), min(min_cents), max(max_cents),
       sum(total_volume)::bigint, (sum(sum_cents) / sum(samples))::double precision,
       NULL
FROM {source} GROUP BY 1, 2
"""


@pytest.fixture
def old_database(flavor: Flavor, tmp_path: Path) -> Iterator[str]:
    """A database migrated with the migrations that existed before version 006."""
    old_sql = tmp_path / "sql"
    old_sql.mkdir()
    for path in config.sql_dir().glob("*.sql"):
        if int(path.name[:3]) <= LAST_OLD_VERSION:
            shutil.copy(path, old_sql / path.name)
    from tracera_pipeline.storage.migrations import migrate

    name = f"tracera_test_{RUN_ID}_{uuid.uuid4().hex[:8]}"
    url = _url(name)
    ensure_database(url)
    with psycopg.connect(url, autocommit=True) as conn:
        migrate(conn, old_sql, FlavorRequest(flavor.value))
    yield url
    _drop(name)


def _fill_old_schema(conn: psycopg.Connection, flavor: Flavor) -> None:
    for provider_id, market in ((1, "synthetic"), (2, "synthetic_steam")):
        load_synthetic(conn, flavor, DAY1, DAY3, items=3, interval=1200,
                       provider_id=provider_id, market_name=market)  # fmt: skip
    if flavor is Flavor.TIMESCALEDB:
        for view in ("price_1h", "price_24h", "price_7d"):
            # T0 is a Monday: one whole 7-day bucket covers the data.
            week = (DAY1, DAY1 + timedelta(days=7))
            conn.execute("CALL refresh_continuous_aggregate(%s, %s, %s)", (view, *week))
    else:
        conn.execute(_OLD_NATIVE_1H)
        for target, source, width in (("price_24h", "price_1h", "24 hours"),
                                      ("price_7d", "price_24h", "7 days")):  # fmt: skip
            conn.execute(
                psycopg.sql.SQL(_OLD_NATIVE_ROLLUP).format(
                    target=psycopg.sql.Identifier(target), source=psycopg.sql.Identifier(source)
                ),
                (width,),
            )
    conn.execute(
        "INSERT INTO item_volatility (window_name, as_of, item_id, buckets, last_avg_cents,"
        " sma_cents) VALUES ('1h', %s, 1, 24, 100, 100)",
        (DAY2,),
    )
    conn.execute("INSERT INTO portfolios (name) VALUES ('kept')")
    conn.execute(
        "INSERT INTO portfolio_snapshots SELECT %s, portfolio_id, 123, 1, 1 FROM portfolios",
        (DAY2,),
    )
    # Retention already dropped day 1's raw rows: its buckets live only in price_1h.
    if flavor is Flavor.TIMESCALEDB:
        conn.execute("SELECT drop_chunks('price_history', older_than => %s)", (DAY2,))
    else:
        conn.execute(f"DROP TABLE price_history_p{DAY1:%Y%m%d}")
    conn.execute(
        "INSERT INTO pipeline_state (key, value) VALUES (%s, %s)", (WATERMARK_KEY, DAY2.isoformat())
    )


def test_an_old_database_upgrades_without_losing_a_row(old_database, flavor) -> None:
    from tracera_pipeline.storage.migrations import migrate

    with psycopg.connect(old_database, autocommit=True) as conn:
        _fill_old_schema(conn, flavor)
        old_day1 = conn.execute(
            "SELECT bucket, item_id, samples, sum_cents, avg_cents FROM price_1h"
            " WHERE bucket < %s ORDER BY 1, 2",
            (DAY2,),
        ).fetchall()
        old_totals = conn.execute("SELECT sum(samples), sum(sum_cents) FROM price_24h").fetchone()
        checksums = dict(conn.execute("SELECT version, checksum FROM schema_migrations"))

        report = migrate(conn, config.sql_dir(), FlavorRequest(flavor.value))
        assert report.applied[:2] == ("006_markets.sql", f"007_market_aggregates.{flavor}.sql")
        # Applied files stay untouched (the runner would refuse edited ones).
        for version, checksum in conn.execute("SELECT version, checksum FROM schema_migrations"):
            assert checksums.get(version, checksum) == checksum

        # Day 1 (raw dropped): carried over as the `legacy` blend, row for row.
        assert len(old_day1) == 3 * 24
        carried = conn.execute(
            "SELECT bucket, item_id, samples, sum_cents, avg_cents FROM price_1h"
            " WHERE bucket < %s AND provider_id = 0 ORDER BY 1, 2",
            (DAY2,),
        ).fetchall()
        assert carried == old_day1
        # Day 2 (raw kept): recomputed per market from the raw rows.
        per_market = conn.execute(
            "SELECT provider_id, sum(samples) FROM price_1h WHERE bucket >= %s"
            " GROUP BY 1 ORDER BY 1",
            (DAY2,),
        ).fetchall()
        raw = conn.execute(
            "SELECT provider_id, count(*) FROM price_history GROUP BY 1 ORDER BY 1"
        ).fetchall()
        assert per_market == raw == [(1, 3 * 3 * 24), (2, 3 * 3 * 24)]
        # Coarser levels hold every sample they held before, now split by market.
        assert (
            conn.execute("SELECT sum(samples), sum(sum_cents) FROM price_24h").fetchone()
            == old_totals
        )
        assert conn.execute("SELECT count(*) FROM item_volatility_v1").fetchone()[0] == 1
        assert conn.execute("SELECT value_cents FROM portfolio_snapshots").fetchall() == [(123,)]

        # The upgraded aggregates refresh normally, and never erase the carried buckets.
        for level in ("1h", "24h", "7d"):
            refresh_level(conn, flavor, LEVELS[level], DAY1, DAY3)
        assert conn.execute("SELECT count(*) FROM price_1h WHERE provider_id = 0").fetchone()[
            0
        ] == len(old_day1)
        assert (
            conn.execute("SELECT sum(samples), sum(sum_cents) FROM price_24h").fetchone()
            == old_totals
        )
