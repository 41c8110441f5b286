"""Ingestion: quarantine with reasons, checks that fail on bad stored data, no secrets."""

from dataclasses import dataclass
from datetime import datetime, timedelta

import dagster as dg
import polars as pl
import psycopg
import pytest

from tracera_pipeline.definitions import build_assets
from tracera_pipeline.defs.ingestion.ingest import ingest_windows
from tracera_pipeline.defs.resources import MarketDataResource, PostgresResource
from tracera_pipeline.providers.base import PRICE_SCHEMA
from tracera_pipeline.providers.synthetic import SyntheticMarket
from tracera_pipeline.storage.database import redact
from tracera_pipeline.storage.price_writer import WriteMode
from tracera_pipeline_tests.helpers import T0, hours, key


@dataclass
class _MixedProvider:
    """Serves a fixed frame, as an API with some bad rows would."""

    frame: pl.DataFrame
    name: str = "synthetic"
    supports_history: bool = True
    write_mode: WriteMode = WriteMode.REPLACE

    def fetch(self, window_start: datetime, window_end: datetime) -> pl.DataFrame:
        return self.frame


def _mixed() -> pl.DataFrame:
    t = T0 + timedelta(minutes=10)
    return pl.DataFrame(
        [
            (t, "AK-47 | Redline (Field-Tested)", 1250, 4, 30),
            (t, "AWP | Asiimov (Field-Tested)", -3, 1, 2),
            (t, "", 100, 1, 1),
            (T0 + timedelta(hours=1, minutes=5), "Recoil Case", 35, 100, 2000),
            (t, "AK-47 | Redline (Field-Tested)", 1300, 4, 30),
        ],
        schema=PRICE_SCHEMA,
        orient="row",
    )


def test_bad_rows_are_quarantined_with_reason_and_raw_value_while_the_rest_land(
    conn, flavor
) -> None:
    report = ingest_windows(
        conn,
        flavor,
        _MixedProvider(_mixed()),
        hours(T0, 2),
        chunk_rows=10,
        now=T0 + timedelta(days=1),
    )
    assert (report.rows_written, report.rows_rejected) == (2, 3)
    assert report.rejection_reasons == {
        "duplicate market_hash_name and time in one fetch": 1,
        "empty market_hash_name": 1,
        "non-positive price": 1,
    }
    stored = conn.execute(
        "SELECT i.market_hash_name, p.price_cents FROM price_history p JOIN items i USING (item_id)"
        " ORDER BY 1"
    ).fetchall()
    assert stored == [("AK-47 | Redline (Field-Tested)", 1250), ("Recoil Case", 35)]
    rejected = conn.execute(
        "SELECT provider, market_hash_name, reason, raw->>'price_cents' FROM rejected_price_points"
        " ORDER BY reason"
    ).fetchall()
    assert rejected == [
        (
            "synthetic",
            "AK-47 | Redline (Field-Tested)",
            "duplicate market_hash_name and time in one fetch",
            "1300",
        ),
        ("synthetic", "", "empty market_hash_name", "100"),
        ("synthetic", "AWP | Asiimov (Field-Tested)", "non-positive price", "-3"),
    ]


class _MergingMarket(MarketDataResource):
    """The synthetic market written the way live snapshots are (merge, no replace)."""

    def provider(self, name: str, **kwargs) -> SyntheticMarket:
        return SyntheticMarket(items=5, interval_seconds=600, write_mode=WriteMode.MERGE)


def test_checks_fail_when_stored_data_is_bad(conn, resources) -> None:
    resources = {**resources, "market": _MergingMarket()}
    instance = dg.DagsterInstance.ephemeral()
    raw = build_assets(["synthetic"])[:1]
    first = dg.materialize(raw, resources=resources, instance=instance, partition_key=key(T0))
    assert {c.check_name: c.passed for c in first.get_asset_check_evaluations()} == {
        "positive_prices": True,
        "no_duplicate_rows": True,
        "fetched_expected_data": True,
    }
    # A bad row written behind the pipeline's back (e.g. a manual fix-up) is refused
    # by the schema (migration 010)...
    bad_row = (
        "INSERT INTO price_history (time, item_id, provider_id, price_cents)"
        " SELECT %s, min(item_id), 1, -5 FROM items"
    )
    with pytest.raises(psycopg.errors.CheckViolation):
        conn.execute(bad_row, (T0 + timedelta(seconds=1),))
    # ...and where that constraint is missing, it survives a merge re-run of the
    # window and the check counts it.
    conn.execute("ALTER TABLE price_history DROP CONSTRAINT price_history_price_positive")
    conn.execute(bad_row, (T0 + timedelta(seconds=1),))
    again = dg.materialize(
        raw, resources=resources, instance=instance, partition_key=key(T0), raise_on_error=False
    )
    assert not again.success  # the check is blocking: downstream steps would not run
    evaluations = {c.check_name: c for c in again.get_asset_check_evaluations()}
    assert evaluations["positive_prices"].passed is False
    assert evaluations["positive_prices"].metadata["non_positive_rows"].value == 1
    assert evaluations["no_duplicate_rows"].passed is True


def test_database_password_never_reaches_logs_or_metadata(
    database_url, flavor, caplog, resources
) -> None:
    assert "s3cret" not in redact("postgresql://tracera:s3cret@db.example:5432/tracera")
    # The server trusts local connections, so a password in the URL is accepted and
    # unused: run the ingestion with one and look for it in everything emitted.
    url = psycopg.conninfo.make_conninfo(database_url, password="s3cret-pw")
    resources = {
        **resources,
        "postgres": PostgresResource(database_url=url, storage_flavor=flavor.value),
    }
    instance = dg.DagsterInstance.ephemeral()
    result = dg.materialize(
        build_assets(["synthetic"])[:1],
        resources=resources,
        instance=instance,
        partition_key=key(T0),
    )
    assert result.success
    records = instance.get_records_for_run(result.run_id).records
    emitted = " ".join(str(r.event_log_entry) for r in records) + caplog.text
    assert "s3cret-pw" not in emitted
