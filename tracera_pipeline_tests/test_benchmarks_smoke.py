"""The benchmarks at tiny sizes: they still run and report what the README quotes.

Not a performance test (no figure is compared with a target); it catches a
benchmark broken by a change before someone needs its figures."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tracera_pipeline import config
from tracera_pipeline_tests.conftest import REDIS_URL, SERVER_URL


def _bench(tmp_path: Path, *args: str) -> dict[str, dict]:
    out = tmp_path / "figures.json"
    command = [sys.executable, "-m", "benchmarks", *args, "--smoke", "--json", str(out)]
    command += ["--server", SERVER_URL, "--redis", REDIS_URL]
    done = subprocess.run(
        command, cwd=config.REPO_ROOT, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(out.read_text())


def test_backfill_reports_the_rate_the_floor_and_the_raw_step_split(tmp_path: Path) -> None:
    figures = _bench(tmp_path, "backfill", "--flavor", "native")["backfill/native"]
    assert figures["rows"] == 1 * 24 * 12 * 20 * 3  # a day, 20 items, 3 markets, 5 min
    # At these sizes a run is all Dagster: the rate and its ceiling are both tiny.
    assert 0 < figures["ratio"] < 1 and 0 < figures["ceiling_ratio_copy_under_floor"] < 1
    floor = figures["dagster_floor"]
    assert floor["runs"] == 1 and floor["partitions_per_run"] == 24
    assert set(floor["step_seconds"]) == set(figures["step_seconds"])
    assert 0 <= figures["raw_step_rest_share_dagster"] <= max(figures["raw_step_rest_share"], 0)
    assert figures["raw_step_rest_share"] < 1


@pytest.mark.parametrize("scenario", ["downstream", "redis", "portfolios"])
def test_serving_scenarios_run(tmp_path: Path, scenario: str) -> None:
    figures = _bench(tmp_path, scenario, "--flavor", "native")
    assert figures and all(values for values in figures.values())
