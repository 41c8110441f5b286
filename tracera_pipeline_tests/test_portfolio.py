"""Portfolio loading and point-in-time valuation."""

import json
import re
from datetime import timedelta
from pathlib import Path

import polars as pl
import pytest

from tracera_pipeline.analytics.reference import (
    LATEST_SCHEMA,
    ReferencePolicy,
    latest_market_prices,
)
from tracera_pipeline.portfolio.loader import (
    PortfolioFileError,
    load_portfolios,
    parse_portfolio_file,
)
from tracera_pipeline.portfolio.valuation import snapshot_portfolios, write_reference_prices
from tracera_pipeline.providers.base import PRICE_SCHEMA
from tracera_pipeline.storage.items import provider_id, resolve_item_ids
from tracera_pipeline.storage.price_writer import write_price_window
from tracera_pipeline_tests.helpers import T0, load_synthetic, with_item_ids

AK = "AK-47 | Redline (Field-Tested)"
GLOVES = "★ Sport Gloves | Pandora's Box (Field-Tested)"


WEEK = 7 * 24 * 3600
ONE_MARKET = ReferencePolicy.parse("priority", ["synthetic"], WEEK)


def _prices(conn, flavor, rows: list[tuple], provider_id: int = 1) -> None:
    frame = pl.DataFrame(
        rows,
        orient="row",
        schema=PRICE_SCHEMA,
    )
    ids = with_item_ids(conn, frame)
    write_price_window(
        conn,
        ids,
        flavor=flavor,
        provider_id=provider_id,
        window_start=T0,
        window_end=T0 + timedelta(days=1),
    )


def test_csv_and_json_load_and_reload_replaces_holdings(conn, tmp_path: Path) -> None:
    csv_file = tmp_path / "h.csv"
    csv_file.write_text(
        f'portfolio,market_hash_name,quantity,owner\nmain,"{AK}",2,ann\nmain,"{GLOVES}",1,ann\n'
    )
    result = load_portfolios(conn, parse_portfolio_file(csv_file), add_unknown_items=True)
    assert (result.portfolios, result.holdings, result.items_added) == (1, 2, 2)
    assert conn.execute("SELECT quantity FROM portfolio_holdings ORDER BY quantity").fetchall() == [
        (1,),
        (2,),
    ]
    json_file = tmp_path / "h.json"
    json_file.write_text(
        json.dumps(
            [
                {
                    "name": "main",
                    "owner": "ann",
                    "holdings": [{"market_hash_name": AK, "quantity": 7}],
                }
            ]
        )
    )
    result = load_portfolios(conn, parse_portfolio_file(json_file))  # known names by now
    assert (result.portfolios, result.holdings, result.items_added) == (1, 1, 0)
    assert conn.execute("SELECT quantity FROM portfolio_holdings").fetchall() == [(7,)]


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("portfolio,market_hash_name,quantity\nmain,AK,zero\n", "h.csv:2: quantity 'zero' is not"),
        ("portfolio,market_hash_name,quantity\nmain,AK,-1\n", "h.csv:2: quantity must be positive"),
        ("portfolio,market_hash_name,quantity\nmain,,1\n", "h.csv:2: market_hash_name is empty"),
        ("portfolio,name\nmain,AK\n", "h.csv:1: header: unknown column 'name', column"),
    ],
)
def test_bad_portfolio_files_say_where(tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / "h.csv"
    path.write_text(content)
    with pytest.raises(PortfolioFileError, match=re.escape(message)):
        parse_portfolio_file(path)


def test_valuation_uses_only_prices_known_at_each_time(conn, flavor, tmp_path: Path) -> None:
    path = tmp_path / "p.json"
    path.write_text(
        json.dumps(
            [
                {
                    "name": "a",
                    "holdings": [
                        {"market_hash_name": AK, "quantity": 2},
                        {"market_hash_name": GLOVES, "quantity": 1},
                    ],
                },
                {"name": "empty", "holdings": []},
            ]
        )
    )
    load_portfolios(conn, parse_portfolio_file(path), add_unknown_items=True)
    _prices(
        conn,
        flavor,
        [
            (T0 + timedelta(hours=1), AK, 1000, 1, 1),
            (T0 + timedelta(hours=3), AK, 1500, 1, 1),
            (T0 + timedelta(hours=2), GLOVES, 90000, 1, 1),
        ],
    )
    for hour in (1, 2, 3, 4):
        snapshot_portfolios(conn, T0 + timedelta(hours=hour), ONE_MARKET)
    rows = conn.execute(
        "SELECT s.time, p.name, s.value_cents, s.items_priced, s.items_held"
        " FROM portfolio_snapshots s JOIN portfolios p USING (portfolio_id) ORDER BY 1, 2"
    ).fetchall()
    at = [T0 + timedelta(hours=h) for h in (1, 2, 3, 4)]
    assert rows == [
        (at[0], "a", 0, 0, 2),
        (at[0], "empty", 0, 0, 0),  # nothing before 01:00
        (at[1], "a", 2000, 1, 2),
        (at[1], "empty", 0, 0, 0),  # AK at 10.00
        (at[2], "a", 92000, 2, 2),
        (at[2], "empty", 0, 0, 0),  # + gloves from 02:00
        (at[3], "a", 93000, 2, 2),
        (at[3], "empty", 0, 0, 0),  # AK now 15.00
    ]
    snapshot_portfolios(conn, at[3], ONE_MARKET)  # idempotent
    assert conn.execute("SELECT count(*) FROM portfolio_snapshots").fetchone()[0] == 8


def _one_portfolio(conn, tmp_path: Path) -> None:
    path = tmp_path / "p.json"
    holdings = [
        {"market_hash_name": AK, "quantity": 2},
        {"market_hash_name": GLOVES, "quantity": 1},
    ]
    path.write_text(json.dumps([{"name": "a", "holdings": holdings}]))
    load_portfolios(conn, parse_portfolio_file(path), add_unknown_items=True)


def _two_markets(conn, flavor) -> None:
    # synthetic (id 1): AK 10.00 at 01:00, gloves 900.00 at 01:00
    _prices(conn, flavor, [(T0 + timedelta(hours=1), AK, 1000, 1, 1),
                           (T0 + timedelta(hours=1), GLOVES, 90000, 1, 1)])  # fmt: skip
    # synthetic_steam (id 6): AK 12.01 at 02:30 only
    _prices(conn, flavor, [(T0 + timedelta(hours=2, minutes=30), AK, 1201, 1, 1)], provider_id=6)


def test_priority_rule_takes_the_first_fresh_market_and_records_it(
    conn, flavor, tmp_path: Path
) -> None:
    _one_portfolio(conn, tmp_path)
    _two_markets(conn, flavor)
    at = T0 + timedelta(hours=3)
    steam_first = ReferencePolicy.parse("priority", ["synthetic_steam", "synthetic"], 3 * 3600)
    result = snapshot_portfolios(conn, at, steam_first)
    assert result.priced_by == {"synthetic": 1, "synthetic_steam": 1}
    row = conn.execute(
        "SELECT value_cents, items_priced, reference_rule, priced_by FROM portfolio_snapshots"
    ).fetchone()
    assert row == (2 * 1201 + 90000, 2, "priority(synthetic_steam,synthetic)",
                   {"synthetic": 1, "synthetic_steam": 1})  # fmt: skip
    markets = conn.execute(
        "SELECT i.market_hash_name, r.market, r.price_cents, r.markets FROM reference_prices r"
        " JOIN items i USING (item_id) WHERE r.time = %s ORDER BY 1",
        (at,),
    ).fetchall()
    assert markets == [
        (AK, "synthetic_steam", 1201, ["synthetic_steam", "synthetic"]),
        (GLOVES, "synthetic", 90000, ["synthetic"]),
    ]
    # With a 1-hour freshness limit synthetic's 01:00 prices are stale at 03:00.
    fresh_only = ReferencePolicy.parse("priority", ["synthetic", "synthetic_steam"], 3600)
    assert snapshot_portfolios(conn, at, fresh_only).priced_by == {"synthetic_steam": 1}


def test_median_rule_rounds_half_up_over_fresh_markets(conn, flavor, tmp_path: Path) -> None:
    _one_portfolio(conn, tmp_path)
    _two_markets(conn, flavor)
    median = ReferencePolicy.parse("median", ["synthetic", "synthetic_steam"], WEEK)
    result = snapshot_portfolios(conn, T0 + timedelta(hours=3), median)
    assert result.priced_by == {"median": 2}
    prices = conn.execute("SELECT price_cents FROM reference_prices ORDER BY 1").fetchall()
    assert prices == [(1101,), (90000,)]  # (1000 + 1201) / 2 = 1100.5 → 1101


def test_the_newest_prices_lookups_give_the_windows_newest_rows(conn, flavor) -> None:
    """Every item's (or the held items') newest price per market comes from one probe
    per item and market down the primary key; it must give exactly the window's newest
    rows, picked here from all of them: across midnight (two day partitions or
    chunks), on every listed market only, with items whose prices are too old or
    missing left out."""
    for market in ("synthetic", "synthetic_buff", "synthetic_steam"):
        load_synthetic(
            conn, flavor, T0, T0 + timedelta(days=2), items=12, interval=900,
            provider_id=provider_id(conn, market), market_name=market,
        )  # fmt: skip
    until, lookback = T0 + timedelta(days=1, minutes=40), timedelta(hours=2)
    markets = ["synthetic_buff", "synthetic"]  # synthetic_steam is not listed
    # Item 3's prices on one market all predate the window: it has none there.
    conn.execute(
        "DELETE FROM price_history WHERE item_id = 3 AND provider_id = %s AND time >= %s",
        (provider_id(conn, "synthetic"), until - lookback),
    )
    window = conn.execute(
        "SELECT p.item_id, i.market_hash_name, pr.name, p.time, p.price_cents, p.volume,"
        " p.listings FROM price_history p JOIN items i USING (item_id)"
        " JOIN providers pr USING (provider_id) WHERE p.time >= %s AND p.time < %s",
        (until - lookback, until),
    ).fetchall()
    newest = (
        pl.DataFrame(window, schema=LATEST_SCHEMA, orient="row")
        .filter(pl.col("market").is_in(markets))
        .sort("time")
        .group_by("item_id", "market")
        .last()
        .select(LATEST_SCHEMA.keys())
    )
    ids = {market: provider_id(conn, market) for market in markets}
    expected = newest.sort(pl.col("item_id"), pl.col("market").replace_strict(ids))
    everything = latest_market_prices(conn, until, lookback, markets)
    assert everything.height == 12 * 2 - 1
    assert everything.equals(expected)
    held = [3, 5, 8, 11, 999_999, 5]  # 999,999 is no item at all; 5 comes twice
    targeted = latest_market_prices(conn, until, lookback, markets, held)
    assert targeted.height == 4 * 2 - 1
    assert targeted.equals(expected.filter(pl.col("item_id").is_in(held)))
    assert targeted.get_column("time").max() < until
    assert targeted.get_column("time").min() >= until - lookback


def test_reference_prices_keep_any_market_name_and_the_times(conn) -> None:
    """Reference prices go to PostgreSQL as CSV with the considered markets as an array
    literal: names with commas, quotes, backslashes, braces or spaces come back as
    they were, and times keep their microseconds; a second write at the same time
    replaces the first."""
    item = resolve_item_ids(conn, [AK]).get_column("item_id")[0]
    odd = ["a,b", 'q"u\\x', "{br}", "sp ace", "ünï"]
    observed = T0 - timedelta(microseconds=1)
    refs = pl.DataFrame(
        {"item_id": [item], "price_cents": [2**40], "market": ["median"], "markets": [odd],
         "time": [observed]},
        schema_overrides={"item_id": pl.Int32, "time": pl.Datetime("us", "UTC")},
    )  # fmt: skip
    with conn.transaction():
        write_reference_prices(conn, T0, refs.with_columns(price_cents=pl.lit(1)))
    with conn.transaction():
        write_reference_prices(conn, T0, refs)
    rows = conn.execute(
        "SELECT time, item_id, price_cents, market, markets, observed_at FROM reference_prices"
    ).fetchall()
    assert rows == [(T0, item, 2**40, "median", odd, observed)]
