"""``tracera-pipeline demo``: the whole graph over the last 48 hours, through Dagster."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from importlib import resources as package_files
from pathlib import Path

import dagster as dg
from psycopg import sql

from tracera_pipeline.analytics.volatility import top_volatile
from tracera_pipeline.definitions import build_assets
from tracera_pipeline.defs.partitions import HOURLY
from tracera_pipeline.defs.resources import default_resources
from tracera_pipeline.portfolio.loader import load_portfolios, parse_portfolio_file
from tracera_pipeline.providers.item_names import item_names
from tracera_pipeline.storage.items import resolve_item_ids

DEMO_HOURS = 48


def sample_portfolios_path() -> Path:
    return Path(str(package_files.files("tracera_pipeline") / "sample_data" / "portfolios.json"))


def run_demo(
    hours: int = DEMO_HOURS,
    now: datetime | None = None,
    echo: Callable[[str], object] = print,
    log_level: str = "WARNING",
) -> dg.ExecuteInProcessResult:
    resources = default_resources(resolve=True)
    postgres, redis, market = resources["postgres"], resources["redis"], resources["market"]
    now = now or datetime.now(UTC)
    # The last `hours` complete hours.
    last = HOURLY.get_partition_key_for_timestamp((now - timedelta(hours=1)).timestamp())
    first = HOURLY.get_partition_key_for_timestamp((now - timedelta(hours=hours)).timestamp())
    with postgres.connection() as conn:
        echo(f"database {postgres.display_url}: migrated, flavour {postgres.flavor.value}")
        catalogue = resolve_item_ids(conn, item_names(market.provider("synthetic").items))
        holdings = load_portfolios(conn, parse_portfolio_file(sample_portfolios_path()))
    echo(f"catalogue: {catalogue.height} items; sample portfolios: {holdings} holdings")
    echo(f"materializing partitions {first} .. {last} for every asset (synthetic provider)")
    result = dg.materialize(
        build_assets(["synthetic"]),
        resources=resources,
        instance=dg.DagsterInstance.ephemeral(),
        tags={
            "dagster/asset_partition_range_start": first,
            "dagster/asset_partition_range_end": last,
        },
        run_config={"loggers": {"console": {"config": {"log_level": log_level}}}},
        raise_on_error=True,
    )
    as_of = HOURLY.time_window_for_partition_key(last).end
    with postgres.connection() as conn:
        rows = conn.execute("SELECT count(*) FROM price_history").fetchone()[0]
        agg = {
            table: conn.execute(
                sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier(table))
            ).fetchone()[0]
            for table in ("price_1h", "price_24h", "price_7d")
        }
        top = top_volatile(conn, "1h", as_of, limit=5)
        values = conn.execute(
            "SELECT p.name, s.value_cents, s.items_priced, s.items_held FROM portfolio_snapshots s"
            " JOIN portfolios p USING (portfolio_id) WHERE s.time = %s ORDER BY p.name",
            (as_of,),
        ).fetchall()
    cached = redis.cache().top_volatile("1h", 5)
    echo(f"price_history: {rows} rows; aggregates: {agg}")
    echo(f"most volatile items (1h buckets over the last day, as of {as_of:%Y-%m-%d %H:%M} UTC):")
    for _, name, cv, stddev in top:
        echo(f"  {name:<60} cv {cv:.4f}  σ {stddev / 100:,.2f} $")
    echo(f"portfolio values as of {as_of:%Y-%m-%d %H:%M} UTC:")
    for name, value, priced, held in values:
        echo(f"  {name:<20} {value / 100:>14,.2f} $  ({priced}/{held} items priced)")
    echo(f"redis: {redis.cache().ranking_key('1h')} holds the top {len(cached)} shown above")
    return result
