"""Checks of the settings a user can get wrong: each problem is one sentence naming
the variable and the fix.

Why resources check their settings at first use rather than in pydantic validators:
Dagster builds every resource again in each step process from the resolved config,
and an exception there is a resource-initialisation failure, which the step's
RetryPolicy retries even when it is a ``dg.Failure(allow_retries=False)`` (measured
on Dagster 1.13), with pydantic's multi-line report. Checked inside the step, a bad
setting fails it at once with the sentence. ``Definitions`` check the environment
when they load, so ``dg check defs`` already names it.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass


class SettingError(ValueError):
    """Settings that cannot work; the message names each variable and its fix."""

    @classmethod
    def of(cls, problems: Iterable[str]) -> SettingError:
        return cls(" ".join(_sentence(p) for p in problems))


def raise_problems(problems: Iterable[str | None]) -> None:
    found = [p for p in problems if p]
    if found:
        raise SettingError.of(found)


def _sentence(problem: str) -> str:
    return problem if problem.endswith(".") else problem + "."


@dataclass(frozen=True)
class IntSetting:
    """A whole-number environment variable with its bounds."""

    variable: str
    default: int
    minimum: int | None = None
    maximum: int | None = None
    note: str = ""  # why the bound, or what 0 means

    def parse(self, raw: str) -> int:
        try:
            return int(raw.strip())
        except ValueError:
            raise SettingError(
                f"{self.variable}={raw!r} is not a whole number; set it to e.g. {self.default}"
                " or leave it unset for that default."
            ) from None

    def problem(self, value: int) -> str | None:
        low = self.minimum is not None and value < self.minimum
        high = self.maximum is not None and value > self.maximum
        if not (low or high):
            return None
        if self.minimum is not None and self.maximum is not None:
            bounds = f"between {self.minimum} and {self.maximum}"
        elif self.minimum is not None:
            bounds = f"at least {self.minimum}"
        else:
            bounds = f"at most {self.maximum}"
        note = f" ({self.note})" if self.note else ""
        return (
            f"{self.variable}={value} must be {bounds}{note}; set it to e.g. {self.default}"
            " or leave it unset for that default"
        )


def choice_problem(variable: str, value: str, choices: Iterable[str]) -> str | None:
    options = list(choices)
    if value in options:
        return None
    return f"{variable}={value!r} is not one of {', '.join(options)}; set one of those"


COPY_CHUNK_ROWS = IntSetting("TRACERA_COPY_CHUNK_ROWS", 100_000, minimum=1)
DB_POOL_MAX_SIZE = IntSetting("TRACERA_DB_POOL_MAX_SIZE", 4, minimum=1)
RAW_RETENTION_DAYS = IntSetting(
    "TRACERA_RAW_RETENTION_DAYS", 90, minimum=1, note="0 or less would drop today's raw prices"
)
VOLATILITY_RETENTION_DAYS = IntSetting("TRACERA_VOLATILITY_RETENTION_DAYS", 30, minimum=1)
DB_CONNECT_TIMEOUT = IntSetting("TRACERA_DB_CONNECT_TIMEOUT_SECONDS", 10, minimum=1)
DB_KEEPALIVES_IDLE = IntSetting("TRACERA_DB_KEEPALIVES_IDLE_SECONDS", 30, minimum=1)
DB_STATEMENT_TIMEOUT = IntSetting(
    "TRACERA_DB_STATEMENT_TIMEOUT_SECONDS", 600, minimum=0, note="0 disables it"
)
DB_IDLE_IN_TRANSACTION_TIMEOUT = IntSetting(
    "TRACERA_DB_IDLE_IN_TRANSACTION_TIMEOUT_SECONDS", 300, minimum=0, note="0 disables it"
)
LATEST_PRICE_TTL = IntSetting("TRACERA_LATEST_PRICE_TTL_SECONDS", 7200, minimum=1)
SYNTHETIC_ITEMS = IntSetting("TRACERA_SYNTHETIC_ITEMS", 200, minimum=1)  # max: the catalogue
SYNTHETIC_INTERVAL = IntSetting(
    "TRACERA_SYNTHETIC_INTERVAL_SECONDS",
    300,
    minimum=1,
    maximum=3600,
    note="every hourly partition needs a sample",
)
SYNTHETIC_SEED = IntSetting("TRACERA_SYNTHETIC_SEED", 7)
HTTP_MAX_RESPONSE_MB = IntSetting("TRACERA_HTTP_MAX_RESPONSE_MB", 128, minimum=1)
REFERENCE_MAX_AGE = IntSetting("TRACERA_REFERENCE_MAX_AGE_SECONDS", 7200, minimum=1)

INT_SETTINGS = {
    s.variable: s
    for s in (
        COPY_CHUNK_ROWS,
        DB_POOL_MAX_SIZE,
        RAW_RETENTION_DAYS,
        VOLATILITY_RETENTION_DAYS,
        DB_CONNECT_TIMEOUT,
        DB_KEEPALIVES_IDLE,
        DB_STATEMENT_TIMEOUT,
        DB_IDLE_IN_TRANSACTION_TIMEOUT,
        LATEST_PRICE_TTL,
        SYNTHETIC_ITEMS,
        SYNTHETIC_INTERVAL,
        SYNTHETIC_SEED,
        HTTP_MAX_RESPONSE_MB,
        REFERENCE_MAX_AGE,
    )
}
