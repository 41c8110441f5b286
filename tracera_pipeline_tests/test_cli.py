"""The tracera-pipeline command line."""

from pathlib import Path

import pytest

from tracera_pipeline.cli import main


@pytest.fixture
def env(monkeypatch, database_url, flavor) -> str:
    monkeypatch.setenv("TRACERA_DATABASE_URL", database_url)
    monkeypatch.setenv("TRACERA_STORAGE_FLAVOR", flavor.value)
    return database_url


def test_migrate_twice_is_a_no_op(env, capsys) -> None:
    assert main(["migrate"]) == 0
    assert "applied: nothing (up to date)" in capsys.readouterr().out


def test_load_portfolios_from_csv_and_a_clear_error_for_a_bad_file(
    env, conn, tmp_path: Path, capsys
) -> None:
    good = tmp_path / "holdings.csv"
    good.write_text(
        'portfolio,market_hash_name,quantity\nmine,"AK-47 | Redline (Field-Tested)",3\n'
    )
    assert main(["load-portfolios", str(good), "--add-unknown-items"]) == 0
    assert "loaded 1 portfolio(s), 1 holding(s)" in capsys.readouterr().out
    assert conn.execute("SELECT quantity FROM portfolio_holdings").fetchall() == [(3,)]
    bad = tmp_path / "holdings.txt"
    bad.write_text("x")
    assert main(["load-portfolios", str(bad)]) == 1
    assert "expected a .csv or .json file" in capsys.readouterr().err


def test_demo_runs_the_whole_graph_from_environment_settings(
    env, monkeypatch, redis_prefix
) -> None:
    from tracera_pipeline.demo import run_demo
    from tracera_pipeline_tests.conftest import REDIS_URL

    monkeypatch.setenv("TRACERA_REDIS_URL", REDIS_URL)
    monkeypatch.setenv("TRACERA_REDIS_PREFIX", redis_prefix)
    monkeypatch.setenv("TRACERA_SYNTHETIC_ITEMS", "30")
    lines: list[str] = []
    result = run_demo(hours=3, echo=lines.append)
    assert result.success
    text = "\n".join(lines)
    # 30 items × 12 samples × 3 hours on each simulated market
    assert (
        "price_history rows per market: {'synthetic': 1080, 'synthetic_buff': 1080,"
        " 'synthetic_steam': 1080}" in text
    )
    assert "Main inventory" in text and "most volatile items per market" in text
    assert "top cross-market spreads" in text and "% net" in text
    # All three sliding windows rank every item after only 3 hours.
    for window in ("1h", "24h", "7d"):
        assert f"{redis_prefix}rankings:volatile:{window}=30" in text
    assert f"{redis_prefix}spreads:top holds 30 items" in text


def test_dev_help_says_its_options_go_to_dagster_dev(capsys) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["dev", "--help"])
    assert exit_info.value.code == 0
    text = " ".join(capsys.readouterr().out.split())
    assert "[dagster dev options]" in text and "`dagster dev --help` lists them" in text
