"""``tracera-pipeline backfill``: history over a partition range, two ways.

* Through the instance (default): a real Dagster partition backfill launched via
  the webserver's GraphQL API, so the UI shows it and the daemon runs it in runs of
  24 partitions. By default only the provider assets are targeted; the downstream
  automation then computes aggregates, volatility, spreads, caches and snapshots
  for exactly that range (``--assets all`` targets the whole graph instead).
* ``--in-process``: the whole graph over the range here, 24 partitions per run,
  without webserver or daemon (the runs go to ``$DAGSTER_HOME`` when it is set).

Both print a progress bar.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import httpx

Echo = Callable[[str], object]

LAUNCH = """
mutation Launch($params: LaunchBackfillParams!) {
  launchPartitionBackfill(backfillParams: $params) {
    __typename
    ... on LaunchBackfillSuccess { backfillId }
    ... on PythonError { message }
    ... on InvalidSubsetError { message }
    ... on PartitionSetNotFoundError { message }
    ... on UnauthorizedError { message }
  }
}"""
STATUS = """
query Status($id: String!) {
  partitionBackfillOrError(backfillId: $id) {
    __typename
    ... on PartitionBackfill {
      status
      assetBackfillData { assetBackfillStatuses { ... on AssetPartitionsStatusCounts {
        numPartitionsTargeted numPartitionsMaterialized numPartitionsFailed
      } } }
    }
    ... on PythonError { message }
  }
}"""
UNFINISHED = {"REQUESTED", "CANCELING", "FAILING"}


class BackfillError(RuntimeError):
    pass


@dataclass(frozen=True)
class Progress:
    status: str
    targeted: int
    materialized: int
    failed: int

    @property
    def finished(self) -> bool:
        return self.status not in UNFINISHED


def partition_keys(first: str, last: str) -> list[str]:
    """Hourly keys from ``first`` to ``last`` inclusive; one sentence on a bad range."""
    from tracera_pipeline.defs.partitions import HOURLY

    keys = HOURLY.get_partition_keys()
    for name, key in (("--from", first), ("--to", last)):
        if key not in keys:
            raise BackfillError(
                f"{name} {key!r} is not an hourly partition; use YYYY-MM-DD-HH:00 between"
                f" {keys[0]} and {keys[-1]} (TRACERA_PARTITION_START sets the first)"
            )
    lo, hi = keys.index(first), keys.index(last)
    if lo > hi:
        raise BackfillError(f"--from {first} is after --to {last}; swap them")
    return keys[lo : hi + 1]


def _graphql(url: str, query: str, variables: dict) -> dict:
    try:
        response = httpx.post(
            f"{url.rstrip('/')}/graphql",
            json={"query": query, "variables": variables},
            timeout=60,
        )
    except httpx.TransportError:
        raise BackfillError(
            f"no Dagster webserver answers at {url}; start one with `tracera-pipeline dev`,"
            " pass --webserver URL, or run the range here with --in-process"
        ) from None
    if response.status_code != 200:
        raise BackfillError(f"the webserver at {url} answered HTTP {response.status_code}")
    body = response.json()
    if body.get("errors"):
        raise BackfillError(f"the webserver refused the request: {body['errors'][0]['message']}")
    return body["data"]


def submit(url: str, keys: Sequence[str], assets: Sequence[Sequence[str]]) -> str:
    """Launch a partition backfill of ``assets`` over ``keys``; returns its id."""
    params = {"partitionNames": list(keys), "assetSelection": [{"path": list(a)} for a in assets]}
    result = _graphql(url, LAUNCH, {"params": params})["launchPartitionBackfill"]
    if result["__typename"] != "LaunchBackfillSuccess":
        raise BackfillError(f"the backfill was not launched: {result.get('message', result)}")
    return result["backfillId"]


def progress(url: str, backfill_id: str) -> Progress:
    backfill = _graphql(url, STATUS, {"id": backfill_id})["partitionBackfillOrError"]
    if backfill["__typename"] != "PartitionBackfill":
        raise BackfillError(f"backfill {backfill_id}: {backfill.get('message', backfill)}")
    counts = [s for s in backfill["assetBackfillData"]["assetBackfillStatuses"] if s]
    return Progress(
        backfill["status"],
        sum(s["numPartitionsTargeted"] for s in counts),
        sum(s["numPartitionsMaterialized"] for s in counts),
        sum(s["numPartitionsFailed"] for s in counts),
    )


def bar(done: int, total: int, width: int = 30) -> str:
    filled = width * done // total if total else width
    return f"[{'#' * filled}{'.' * (width - filled)}] {done}/{total}"


class ProgressLine:
    """One updating line on a terminal, a line per change elsewhere (CI logs)."""

    def __init__(self, echo: Echo | None = None) -> None:
        self.tty = echo is None and sys.stdout.isatty()
        self.echo = echo or print
        self.last = ""

    def show(self, text: str) -> None:
        if text == self.last:
            return
        self.last = text
        if self.tty:
            sys.stdout.write(f"\r{text}")
            sys.stdout.flush()
        else:
            self.echo(text)

    def close(self) -> None:
        if self.tty and self.last:
            sys.stdout.write("\n")


def watch(url: str, backfill_id: str, echo: Echo | None = None, poll: float = 2.0) -> Progress:
    """Follow the backfill until the daemon has finished it."""
    line = ProgressLine(echo)
    try:
        while True:
            state = progress(url, backfill_id)
            line.show(
                f"{bar(state.materialized, state.targeted)} asset partitions materialized,"
                f" {state.failed} failed ({state.status.lower()})"
            )
            if state.finished:
                return state
            time.sleep(poll)
    finally:
        line.close()


def run_in_process(keys: Sequence[str], echo: Echo | None = None) -> int:
    """The whole graph over ``keys``, one run per 24 partitions; runs that failed."""
    import dagster as dg

    from tracera_pipeline import config, settings
    from tracera_pipeline.definitions import build_assets
    from tracera_pipeline.defs.partitions import BACKFILL_POLICY
    from tracera_pipeline.defs.resources import checked_resources, default_resources

    # Settings, PostgreSQL and Redis checked before the first run: one sentence each.
    checked = checked_resources()
    settings.raise_problems(checked["market"].missing_keys(config.enabled_providers()))
    with checked["postgres"].connection():
        checked["redis"].client()
    size = BACKFILL_POLICY.max_partitions_per_run or len(keys)
    chunks = [keys[i : i + size] for i in range(0, len(keys), size)]
    # EnvVars, resolved by each run: no resolved secret in the runs' snapshots.
    assets, resources = build_assets(config.enabled_providers()), default_resources()
    line, failed = ProgressLine(echo), 0
    persistent = bool(os.environ.get("DAGSTER_HOME"))
    with dg.DagsterInstance.get() if persistent else dg.DagsterInstance.ephemeral() as instance:
        for done, chunk in enumerate(chunks):
            line.show(f"{bar(done, len(chunks))} runs ({chunk[0]} .. {chunk[-1]})")
            result = dg.materialize(
                assets,
                resources=resources,
                instance=instance,
                tags={
                    "dagster/asset_partition_range_start": chunk[0],
                    "dagster/asset_partition_range_end": chunk[-1],
                    "tracera/backfill": "cli",
                },
                run_config={"loggers": {"console": {"config": {"log_level": "WARNING"}}}},
                raise_on_error=False,
            )
            failed += not result.success
        line.show(f"{bar(len(chunks), len(chunks))} runs, {failed} failed")
    line.close()
    return failed
