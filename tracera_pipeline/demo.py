"""``tracera-pipeline demo``: the whole graph over the last 48 hours, through Dagster."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from importlib import resources as package_files
from pathlib import Path

import dagster as dg
from psycopg import sql

from tracera_pipeline import config, settings
from tracera_pipeline.analytics.volatility import WINDOWS, top_volatile
from tracera_pipeline.definitions import build_assets
from tracera_pipeline.defs.partitions import HOURLY
from tracera_pipeline.defs.resources import checked_resources, default_resources
from tracera_pipeline.portfolio.loader import load_portfolios, parse_portfolio_file
from tracera_pipeline.providers.item_names import item_names
from tracera_pipeline.providers.synthetic import SYNTHETIC_MARKETS
from tracera_pipeline.storage.items import resolve_item_ids

DEMO_HOURS = 48


def sample_portfolios_path() -> Path:
    return Path(str(package_files.files("tracera_pipeline") / "sample_data" / "portfolios.json"))


def demo_markets() -> list[str]:
    """The enabled providers; with only ``synthetic``, every simulated market, so the
    demo shows multi-market output (per-market numbers, spreads) without network."""
    enabled = config.enabled_providers()
    return list(SYNTHETIC_MARKETS) if enabled == ["synthetic"] else enabled


def run_demo(
    hours: int = DEMO_HOURS,
    now: datetime | None = None,
    echo: Callable[[str], object] = print,
    log_level: str = "WARNING",
) -> dg.ExecuteInProcessResult:
    # Read and checked now (one sentence per unusable setting); the runs get the
    # same settings as EnvVars, so no resolved secret lands in the run's snapshot.
    resources = checked_resources()
    postgres, redis, market = resources["postgres"], resources["redis"], resources["market"]
    pricing = resources["pricing"]
    markets = demo_markets()
    settings.raise_problems(market.missing_keys(markets))
    redis.client()  # Redis down or refusing: its one sentence now, before 48 hours of work
    now = now or datetime.now(UTC)
    # The last `hours` complete hours.
    last = HOURLY.get_partition_key_for_timestamp((now - timedelta(hours=1)).timestamp())
    first = HOURLY.get_partition_key_for_timestamp((now - timedelta(hours=hours)).timestamp())
    with postgres.connection() as conn:
        echo(f"database {postgres.display_url}: migrated, flavour {postgres.flavor.value}")
        catalogue = resolve_item_ids(conn, item_names(market.provider("synthetic").items))
        # The samples name real items, some beyond a small synthetic catalogue.
        samples = parse_portfolio_file(sample_portfolios_path())
        holdings = load_portfolios(conn, samples, add_unknown_items=True).holdings
    echo(f"catalogue: {catalogue.height} items; sample portfolios: {holdings} holdings")
    echo(f"materializing partitions {first} .. {last} for every asset; markets: {markets}")
    result = dg.materialize(
        build_assets(markets),
        resources=default_resources(),
        instance=dg.DagsterInstance.ephemeral(),
        tags={
            "dagster/asset_partition_range_start": first,
            "dagster/asset_partition_range_end": last,
        },
        run_config={"loggers": {"console": {"config": {"log_level": log_level}}}},
        raise_on_error=True,
    )
    as_of = HOURLY.time_window_for_partition_key(last).end
    currency = pricing.currency_code()
    policy = pricing.policy(markets)
    with postgres.connection() as conn:
        rows = conn.execute(
            "SELECT p.name, count(*) FROM price_history JOIN providers p USING (provider_id)"
            " GROUP BY 1 ORDER BY 1"
        ).fetchall()
        agg = {
            table: conn.execute(
                sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier(table))
            ).fetchone()[0]
            for table in ("price_1h", "price_24h", "price_7d")
        }
        tops = {
            (window, m): top_volatile(conn, window, as_of, market=m, limit=3)
            for window in WINDOWS
            for m in markets
        }
        spreads = conn.execute(
            "SELECT i.market_hash_name, s.prices, s.cheapest_market, s.best_net_market,"
            " s.spread_pct, s.net_spread_pct FROM market_spreads s JOIN items i USING (item_id)"
            " WHERE s.bucket = %s ORDER BY s.net_spread_pct DESC, s.item_id LIMIT 5",
            (as_of - timedelta(hours=1),),
        ).fetchall()
        values = conn.execute(
            "SELECT p.name, s.value_cents, s.items_priced, s.items_held, s.priced_by"
            " FROM portfolio_snapshots s JOIN portfolios p USING (portfolio_id)"
            " WHERE s.time = %s ORDER BY p.name",
            (as_of,),
        ).fetchall()
    cache = redis.cache()
    echo(f"price_history rows per market: {dict(rows)}; aggregates: {agg}")
    echo(f"prices in {currency}; reference rule {policy.describe()}")
    echo(f"most volatile items per market (sliding windows ending {as_of:%Y-%m-%d %H:%M} UTC):")
    for (window, m), top in tops.items():
        for r in top:
            echo(
                f"  {window:>3} {m:<16} {r.market_hash_name:<52}"
                f" cv {r.coefficient_of_variation:.4f}"
                f"  σ {r.stddev_cents / 100:,.2f}  mean {r.mean_cents / 100:,.2f}"
            )
    if len(markets) > 1:
        echo(f"top cross-market spreads, hour ending {as_of:%H:%M} UTC (net of seller fees):")
        for name, prices, buy, sell, gross, net in spreads:
            quoted = ", ".join(f"{m} {p / 100:,.2f}" for m, p in sorted(prices.items()))
            echo(f"  {name:<52} buy {buy}, sell {sell}: {gross:5.1f}% gross, {net:5.1f}% net")
            echo(f"    {quoted}")
    echo(f"portfolio values as of {as_of:%Y-%m-%d %H:%M} UTC:")
    for name, value, priced, held, priced_by in values:
        echo(
            f"  {name:<20} {value / 100:>14,.2f} {currency}  ({priced}/{held} items priced;"
            f" by {priced_by or {}})"
        )
    sizes = {w: cache.client.zcard(cache.ranking_key(w)) for w in WINDOWS}
    echo(f"redis: rankings {', '.join(f'{cache.ranking_key(w)}={n}' for w, n in sizes.items())}")
    echo(f"redis: {cache.spreads_key()} holds {cache.client.zcard(cache.spreads_key())} items")
    return result
