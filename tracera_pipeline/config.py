"""Environment variables the pipeline reads, with their defaults.

Everything a deployment changes is an environment variable; the README lists
them all. Secrets are read through ``dagster.EnvVar`` so they are resolved at run
time and never shown in the UI.
"""

from __future__ import annotations

import logging
import os
from datetime import UTC, datetime
from pathlib import Path

import dagster as dg

from tracera_pipeline.settings import INT_SETTINGS, IntSetting, SettingError

DEFAULT_DATABASE_URL = "postgresql://postgres@127.0.0.1:5432/tracera"
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/0"
DEFAULT_PROVIDERS = "synthetic"
DEFAULT_PARTITION_START = "2026-01-01-00:00"
DEFAULT_INGEST_CRON = "*/15 * * * *"
# How a run's steps execute (see the README, Scaling out).
EXECUTORS = ("auto", "multiprocess", "in_process", "k8s_job")

log = logging.getLogger(__name__)

REPO_ROOT = Path(__file__).resolve().parent.parent


# Unset, these two fall back to an embedded server when nothing answers at the default
# address (tracera_pipeline.services.embedded); configured or reachable servers win.
EMBEDDABLE_SERVICES = {"TRACERA_DATABASE_URL": "postgres", "TRACERA_REDIS_URL": "redis"}


def env_or_default(
    name: str, default: str, *, resolve: bool = False, embedded: bool = True
) -> str | dg.EnvVar:
    """An ``EnvVar`` when the variable is set (Dagster resolves it at run time), else
    the default. ``resolve=True`` gives the value itself, for use outside Dagster.
    ``embedded=False``: an unset service URL stays the default, starting nothing."""
    if not os.environ.get(name):
        if name in EMBEDDABLE_SERVICES and embedded:
            from tracera_pipeline.services.embedded import service_url

            return service_url(EMBEDDABLE_SERVICES[name], default)
        return default
    return os.environ[name] if resolve else dg.EnvVar(name)


def env_int_or_default(name: str, default: int, *, resolve: bool = False) -> int | dg.EnvVar:
    if not os.environ.get(name):
        return default
    if not resolve:
        return dg.EnvVar.int(name)
    # A value that is no number fails naming the variable, not "invalid literal for int()".
    return INT_SETTINGS.get(name, IntSetting(name, default)).parse(os.environ[name])


def enabled_providers() -> list[str]:
    """Providers to build assets for; read at load time because they shape the graph.

    An unknown name fails here, so `dg check defs` names it. A variable set but empty
    (what a blank line in .env or a compose pass-through gives) means the default,
    as for every other variable, with a warning: a graph without providers has
    nothing to compute."""
    from tracera_pipeline.providers.registry import KNOWN_PROVIDERS

    raw = os.environ.get("TRACERA_PROVIDERS", DEFAULT_PROVIDERS)
    names = list(dict.fromkeys(n.strip().lower() for n in raw.split(",") if n.strip()))
    if not names:
        log.warning(
            "TRACERA_PROVIDERS is set but names no provider; using the default %r",
            DEFAULT_PROVIDERS,
        )
        names = [DEFAULT_PROVIDERS]
    unknown = [name for name in names if name not in KNOWN_PROVIDERS]
    if unknown:
        raise SettingError(
            f"TRACERA_PROVIDERS names unknown provider(s) {', '.join(map(repr, unknown))};"
            f" use a comma list of: {', '.join(KNOWN_PROVIDERS)}."
        )
    return names


def partition_start() -> str:
    """First hourly partition (``YYYY-MM-DD-HH:00``, UTC); shapes the graph, so load time."""
    raw = os.environ.get("TRACERA_PARTITION_START") or DEFAULT_PARTITION_START
    try:
        start = datetime.strptime(raw, "%Y-%m-%d-%H:%M").replace(tzinfo=UTC)
    except ValueError:
        start = None
    if start is None or start.minute:
        raise SettingError(
            f"TRACERA_PARTITION_START={raw!r} is not the start of an hour in the form"
            f" YYYY-MM-DD-HH:00 (UTC); set it to e.g. {DEFAULT_PARTITION_START}."
        )
    if start > datetime.now(UTC):
        raise SettingError(
            f"TRACERA_PARTITION_START={raw!r} is in the future, so there is no partition to"
            f" run; set it to a past hour, e.g. {DEFAULT_PARTITION_START}."
        )
    return raw


def ingest_cron() -> str:
    """The ingestion schedule's cron string; shapes the schedule, so load time."""
    from dagster._utils.schedules import is_valid_cron_string

    raw = os.environ.get("TRACERA_INGEST_CRON") or DEFAULT_INGEST_CRON
    if not is_valid_cron_string(raw):
        raise SettingError(
            f"TRACERA_INGEST_CRON={raw!r} is not a cron expression of 5 fields; set it to e.g."
            f" '{DEFAULT_INGEST_CRON}' (every 15 minutes)."
        )
    return raw


def executor_name() -> str:
    """``TRACERA_EXECUTOR``: how a run's steps execute (default auto: see defs/executors)."""
    raw = (os.environ.get("TRACERA_EXECUTOR") or "auto").strip().lower()
    if raw not in EXECUTORS:
        raise SettingError(
            f"TRACERA_EXECUTOR={raw!r} is not one of {', '.join(EXECUTORS)}; set one of those."
        )
    return raw


def sql_dir() -> Path:
    """Where the numbered migration files live (``sql/`` at the repository root)."""
    return Path(os.environ.get("TRACERA_SQL_DIR", REPO_ROOT / "sql"))
