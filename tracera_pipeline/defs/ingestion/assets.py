"""``raw/prices/<provider>``: one time-partitioned asset per enabled provider."""

from datetime import UTC, datetime

import dagster as dg

from tracera_pipeline.defs.ingestion.ingest import IngestReport, ingest_windows
from tracera_pipeline.defs.partitions import (
    BACKFILL_POLICY,
    FRESHNESS,
    HOURLY,
    partition_windows,
    row_metadata,
)
from tracera_pipeline.defs.pricing import PricingResource
from tracera_pipeline.defs.resources import MarketDataResource, PostgresResource, RedisResource
from tracera_pipeline.providers.errors import ProviderError
from tracera_pipeline.storage import quality
from tracera_pipeline.storage.currency import CurrencyError, ensure_database_currency
from tracera_pipeline.storage.retention import BeforeWatermarkError, refuse_before_watermark

RAW_GROUP = "ingestion"


def provider_asset_key(provider: str) -> dg.AssetKey:
    return dg.AssetKey(["raw", "prices", provider])


PRICE_HISTORY_SCHEMA = dg.TableSchema(
    columns=[
        dg.TableColumn("time", "timestamptz", description="when the price was observed"),
        dg.TableColumn("item_id", "integer", description="items.item_id"),
        dg.TableColumn("provider_id", "smallint", description="providers.provider_id (market)"),
        dg.TableColumn("price_cents", "bigint", description="in the database's currency"),
        dg.TableColumn("volume", "integer", description="sales in the sample interval"),
        dg.TableColumn("listings", "integer", description="open listings"),
    ]
)


def _preview(report: IngestReport) -> dg.MetadataValue:
    # A table, not markdown: skin names contain "|", which breaks markdown tables.
    columns = ["time", "market_hash_name", "price_cents", "volume", "listings"]
    records = []
    if report.preview is not None:
        for row in report.preview.select(columns).iter_rows(named=True):
            row["time"] = row["time"].isoformat()
            records.append(dg.TableRecord(row))
    return dg.MetadataValue.table(
        records,
        schema=dg.TableSchema(
            columns=[
                dg.TableColumn("time", "string"),
                dg.TableColumn("market_hash_name", "string"),
                dg.TableColumn("price_cents", "int"),
                dg.TableColumn("volume", "int"),
                dg.TableColumn("listings", "int"),
            ]
        ),
    )


def _metadata(
    context: dg.AssetExecutionContext, report: IngestReport, flavor: str, currency: str
) -> dict[str, object]:
    rate = report.rows_written / report.write_seconds if report.write_seconds else 0.0
    # In a ranged run every partition receives this metadata: figures are run totals.
    return {
        **row_metadata(context, report.rows_written, report.rows_by_partition),
        "rows_fetched": report.rows_fetched,
        "rows_rejected": report.rows_rejected,
        "rejection_reasons": dg.MetadataValue.json(report.rejection_reasons),
        "provider_stats": dg.MetadataValue.json(report.provider_stats),
        "fetch_issues": dg.MetadataValue.json([issue.as_dict() for issue in report.issues]),
        "rows_replaced": report.rows_replaced,
        "provider_latency_ms": round(report.fetch_seconds * 1000, 1),
        "write_seconds": round(report.write_seconds, 3),
        "write_rows_per_second": round(rate),
        "window_start": report.window_start.isoformat(),
        "window_end": report.window_end.isoformat(),
        "history_unavailable": bool(report.history_unavailable),
        "history_unavailable_partitions": len(report.history_unavailable),
        "storage_flavor": flavor,
        "currency": currency,
        "preview": _preview(report),
    }


# Transient provider trouble outlasting the HTTP layer's own retries gets a few
# more tries at the step level. Dagster's exponential backoff waits
# delay × (2^n − 1) before retry n, and PLUS_MINUS jitter adds up to ± delay:
# 5 s, 15 s, 35 s (each ± 5 s). Permanent errors skip them (dg.Failure below).
PROVIDER_RETRY_POLICY = dg.RetryPolicy(
    max_retries=3, delay=5, backoff=dg.Backoff.EXPONENTIAL, jitter=dg.Jitter.PLUS_MINUS
)


def _fetch_check(report: IngestReport) -> dg.AssetCheckResult:
    """Failing when the fetch should have brought prices and did not (ERROR), or
    brought fewer than it should (WARN); the causes are in the metadata."""
    errors = [issue for issue in report.issues if issue.severity == "error"]
    return dg.AssetCheckResult(
        check_name="fetched_expected_data",
        passed=not report.issues,
        severity=dg.AssetCheckSeverity.ERROR if errors else dg.AssetCheckSeverity.WARN,
        description="; ".join(issue.message for issue in report.issues) or None,
        metadata={
            "fetched": report.fetched,
            "rows_fetched": report.rows_fetched,
            "rows_written": report.rows_written,
            "causes": ", ".join(dict.fromkeys(issue.cause for issue in report.issues)) or "none",
            "issues": dg.MetadataValue.json([issue.as_dict() for issue in report.issues]),
        },
    )


def build_provider_asset(
    provider: str, retry_policy: dg.RetryPolicy | None = PROVIDER_RETRY_POLICY
) -> dg.AssetsDefinition:
    key = provider_asset_key(provider)
    # Blocking: a run that stored bad prices does not go on to compute with them.
    positive = dg.AssetCheckSpec(
        "positive_prices",
        asset=key,
        description="no stored price is zero or negative",
        blocking=True,
    )
    unique = dg.AssetCheckSpec(
        "no_duplicate_rows",
        asset=key,
        description="one row per item and time for this provider",
        blocking=True,
    )
    # Not blocking: a provider that fetched nothing must not hold back the other
    # providers' downstream refresh (failure isolation); its check fails visibly.
    fetched = dg.AssetCheckSpec(
        "fetched_expected_data",
        asset=key,
        description="a fetch that should bring prices brought them (causes in the metadata)",
    )

    @dg.asset(
        key=key,
        group_name=RAW_GROUP,
        description=f"Raw prices from {provider}, written to price_history via binary COPY.",
        partitions_def=HOURLY,
        pool=f"provider_{provider}",
        retry_policy=retry_policy,
        backfill_policy=BACKFILL_POLICY,
        freshness_policy=FRESHNESS,
        kinds={"postgres", "polars"},
        check_specs=[positive, unique, fetched],
        metadata={
            "provider": provider,
            "dagster/table_name": "public.price_history",
            "dagster/column_schema": PRICE_HISTORY_SCHEMA,
        },
    )
    def _provider_prices(
        context: dg.AssetExecutionContext,
        postgres: PostgresResource,
        market: MarketDataResource,
        redis: RedisResource,
        pricing: PricingResource,
    ) -> dg.MaterializeResult:
        windows = partition_windows(context)
        # A scheduled run ingests its partition as of its tick (the next tick or
        # the closed-hour run fetches the rest): reproducible, whatever the delay.
        scheduled_at = context.run.tags.get("tracera/scheduled_at")
        now = datetime.now(UTC)
        if scheduled_at:
            now = min(now, datetime.fromisoformat(scheduled_at))
        with postgres.connection() as conn:
            try:
                # Before asking the provider: hours retention passed cannot take raw rows.
                refuse_before_watermark(conn, windows[0].start)
                currency = pricing.currency_code()
                ensure_database_currency(conn, currency)
                source = market.provider(
                    provider,
                    currency=currency,
                    redis_client=redis.client(),
                    key_prefix=redis.key_prefix,
                )
                report = ingest_windows(
                    conn,
                    postgres.flavor,
                    source,
                    windows,
                    chunk_rows=postgres.copy_chunk_rows,
                    now=now,
                    log=context.log,
                )
            except (CurrencyError, BeforeWatermarkError) as exc:
                # Another currency than the database's, or hours retention already
                # passed, do not heal by retrying.
                raise dg.Failure(description=str(exc), allow_retries=False) from None
            except ProviderError as exc:
                if not exc.permanent:
                    raise  # transient: the step's RetryPolicy tries again
                # A wrong key or setting does not heal by retrying: fail at once.
                raise dg.Failure(description=str(exc), allow_retries=False) from None
            window = (report.provider_id, report.window_start, report.window_end)
            bad_prices = quality.non_positive_prices(conn, *window)
            duplicates = quality.duplicate_keys(conn, *window)
        return dg.MaterializeResult(
            metadata=_metadata(context, report, postgres.flavor.value, currency),
            check_results=[
                dg.AssetCheckResult(
                    check_name="positive_prices",
                    passed=bad_prices == 0,
                    metadata={"non_positive_rows": bad_prices},
                ),
                dg.AssetCheckResult(
                    check_name="no_duplicate_rows",
                    passed=duplicates == 0,
                    metadata={"duplicate_keys": duplicates},
                ),
                _fetch_check(report),
            ],
        )

    return _provider_prices
