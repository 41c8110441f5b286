"""Environment variables the pipeline reads, with their defaults.

Everything a deployment changes is an environment variable; the README lists
them all. Secrets are read through ``dagster.EnvVar`` so they are resolved at run
time and never shown in the UI.
"""

from __future__ import annotations

import os
from pathlib import Path

import dagster as dg

DEFAULT_DATABASE_URL = "postgresql://postgres@127.0.0.1:5432/tracera"
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/0"
DEFAULT_PROVIDERS = "synthetic"
DEFAULT_PARTITION_START = "2026-01-01-00:00"

REPO_ROOT = Path(__file__).resolve().parent.parent


# Unset, these two fall back to an embedded server when nothing answers at the default
# address (tracera_pipeline.services.embedded); configured or reachable servers win.
EMBEDDABLE_SERVICES = {"TRACERA_DATABASE_URL": "postgres", "TRACERA_REDIS_URL": "redis"}


def env_or_default(name: str, default: str, *, resolve: bool = False) -> str | dg.EnvVar:
    """An ``EnvVar`` when the variable is set (Dagster resolves it at run time), else
    the default. ``resolve=True`` gives the value itself, for use outside Dagster."""
    if not os.environ.get(name):
        if name in EMBEDDABLE_SERVICES:
            from tracera_pipeline.services.embedded import service_url

            return service_url(EMBEDDABLE_SERVICES[name], default)
        return default
    return os.environ[name] if resolve else dg.EnvVar(name)


def env_int_or_default(name: str, default: int, *, resolve: bool = False) -> int | dg.EnvVar:
    if not os.environ.get(name):
        return default
    return int(os.environ[name]) if resolve else dg.EnvVar.int(name)


def enabled_providers() -> list[str]:
    """Providers to build assets for; read at load time because they shape the graph."""
    raw = os.environ.get("TRACERA_PROVIDERS", DEFAULT_PROVIDERS)
    names = [name.strip().lower() for name in raw.split(",") if name.strip()]
    return list(dict.fromkeys(names))


def partition_start() -> str:
    """First hourly partition (``YYYY-MM-DD-HH:MM``, UTC); shapes the graph, so load time."""
    return os.environ.get("TRACERA_PARTITION_START", DEFAULT_PARTITION_START)


def sql_dir() -> Path:
    """Where the numbered migration files live (``sql/`` at the repository root)."""
    return Path(os.environ.get("TRACERA_SQL_DIR", REPO_ROOT / "sql"))
