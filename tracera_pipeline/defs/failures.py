"""Failures a user can fix, as Dagster sees them and as the command line prints them.

Each is a ``dg.Failure`` (the run's failure message is our sentence, and
``allow_retries`` decides whether the step's RetryPolicy may run it again) and also a
plain ``ValueError`` / ``RuntimeError``, so the CLI and tests handle them like any
other error, without importing Dagster's types.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import dagster as dg

from tracera_pipeline.settings import SettingError


class SettingFailure(dg.Failure, SettingError):
    """A setting that cannot work: retrying cannot heal it."""

    def __init__(self, message: str) -> None:
        super().__init__(description=message, allow_retries=False)


class ServiceFailure(dg.Failure, RuntimeError):
    """PostgreSQL or Redis cannot be used. ``permanent``: a wrong password, host or
    schema (fail at once); otherwise a restart or outage (the step is retried)."""

    def __init__(self, message: str, *, permanent: bool) -> None:
        super().__init__(description=message, allow_retries=not permanent)
        self.permanent = permanent


def require_settings(problems: list[str]) -> None:
    """Fail with every problem's sentence, without retries."""
    if problems:
        raise SettingFailure(str(SettingError.of(problems)))


@contextmanager
def settings_checked() -> Iterator[None]:
    """A ``ValueError`` raised while reading settings ends the step without retries."""
    try:
        yield
    except SettingFailure:
        raise
    except ValueError as exc:
        raise SettingFailure(str(exc)) from None
