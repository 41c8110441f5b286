"""Many processes using a database that does not exist yet: one creates and
migrates it, the others wait and carry on (issue 10 items 10 and 18)."""

from __future__ import annotations

import multiprocessing
import uuid
from multiprocessing.synchronize import Barrier

import psycopg

from tracera_pipeline import config
from tracera_pipeline.storage.database import connect_creating
from tracera_pipeline.storage.flavor import FlavorRequest
from tracera_pipeline.storage.migrations import discover, migrate
from tracera_pipeline_tests.conftest import RUN_ID, _drop, _url

PROCESSES = 8
# Native twice (fast), then auto: one process probes TimescaleDB while the others
# wait on the migration lock.
ROUNDS = (FlavorRequest.NATIVE, FlavorRequest.NATIVE, FlavorRequest.AUTO)


def _first_use(
    url: str, flavor: FlavorRequest, barrier: Barrier, results: multiprocessing.Queue
) -> None:
    """What a provider step or ``tracera-pipeline migrate`` does on first use."""
    barrier.wait(timeout=60)  # all start together, to make the race as tight as possible
    try:
        conn, created = connect_creating(url)
        with conn:
            report = migrate(conn, config.sql_dir(), flavor)
        results.put((created, len(report.applied), None))
    except Exception as exc:  # reported to the parent, which fails the test with it
        results.put((False, 0, f"{type(exc).__name__}: {exc}"))


def test_parallel_processes_create_and_migrate_a_new_database_once() -> None:
    context = multiprocessing.get_context("fork")
    versions = len(discover(config.sql_dir()))
    for round_number, flavor in enumerate(ROUNDS):
        name = f"tracera_test_{RUN_ID}_race{round_number}_{uuid.uuid4().hex[:6]}"
        url = _url(name)
        barrier, results = context.Barrier(PROCESSES), context.Queue()
        workers = [
            context.Process(target=_first_use, args=(url, flavor, barrier, results))
            for _ in range(PROCESSES)
        ]
        try:
            for worker in workers:
                worker.start()
            outcomes = [results.get(timeout=120) for _ in workers]
            for worker in workers:
                worker.join(timeout=30)
            errors = [error for _, _, error in outcomes if error]
            assert errors == [], f"round {round_number}: {errors}"
            assert sum(created for created, _, _ in outcomes) == 1
            # One process applied every migration; the others found them applied.
            assert sorted(applied for _, applied, _ in outcomes) == [0] * (PROCESSES - 1) + [
                versions
            ]
            with psycopg.connect(url) as conn:
                ledger = conn.execute(
                    "SELECT count(*), count(DISTINCT version) FROM schema_migrations"
                ).fetchone()
            assert ledger == (versions, versions)
        finally:
            for worker in workers:
                if worker.is_alive():
                    worker.kill()
            _drop(name)
