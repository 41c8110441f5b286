"""``raw/prices/<provider>``: one time-partitioned asset per enabled provider."""

import dagster as dg

from tracera_pipeline.defs.ingestion.ingest import IngestReport, ingest_windows
from tracera_pipeline.defs.partitions import BACKFILL_POLICY, HOURLY, partition_windows
from tracera_pipeline.defs.resources import MarketDataResource, PostgresResource, RedisResource
from tracera_pipeline.providers.errors import ProviderError
from tracera_pipeline.storage import quality

RAW_GROUP = "ingestion"


def provider_asset_key(provider: str) -> dg.AssetKey:
    return dg.AssetKey(["raw", "prices", provider])


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


def _metadata(report: IngestReport, flavor: str) -> dict[str, object]:
    rate = report.rows_written / report.write_seconds if report.write_seconds else 0.0
    # In a ranged run every partition receives this metadata: figures are run totals.
    return {
        "dagster/row_count": report.rows_written,
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
        "partitions_in_run": report.partitions,
        "history_unavailable": bool(report.history_unavailable),
        "history_unavailable_partitions": len(report.history_unavailable),
        "storage_flavor": flavor,
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
    positive = dg.AssetCheckSpec(
        "positive_prices", asset=key, description="no stored price is zero or negative"
    )
    unique = dg.AssetCheckSpec(
        "no_duplicate_rows", asset=key, description="one row per item and time for this provider"
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
        kinds={"postgres", "polars"},
        check_specs=[positive, unique, fetched],
        metadata={"provider": provider, "table": "price_history"},
    )
    def _provider_prices(
        context: dg.AssetExecutionContext,
        postgres: PostgresResource,
        market: MarketDataResource,
        redis: RedisResource,
    ) -> dg.MaterializeResult:
        windows = partition_windows(context)
        with postgres.connection() as conn:
            try:
                source = market.provider(
                    provider, redis_client=redis.client(), key_prefix=redis.key_prefix
                )
                report = ingest_windows(
                    conn,
                    postgres.flavor,
                    source,
                    windows,
                    chunk_rows=postgres.copy_chunk_rows,
                    log=context.log,
                )
            except ProviderError as exc:
                if not exc.permanent:
                    raise  # transient: the step's RetryPolicy tries again
                # A wrong key or setting does not heal by retrying: fail at once.
                raise dg.Failure(description=str(exc), allow_retries=False) from None
            window = (report.provider_id, report.window_start, report.window_end)
            bad_prices = quality.non_positive_prices(conn, *window)
            duplicates = quality.duplicate_keys(conn, *window)
        return dg.MaterializeResult(
            metadata=_metadata(report, postgres.flavor.value),
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
