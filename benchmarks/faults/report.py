"""One line per scenario: rows expected, found and duplicated, what the user saw."""

from __future__ import annotations

import json
import textwrap
from dataclasses import asdict, dataclass


@dataclass
class Outcome:
    scenario: str
    expected: int | None  # rows that must be there afterwards (None: not a row count)
    found: int | None
    duplicated: int | None
    user_saw: str  # exit codes, run status, messages, what a rerun did
    ok: bool
    seconds: float = 0.0


def table(outcomes: list[Outcome]) -> str:
    lines = [
        f"{'scenario':<44} {'expected':>9} {'found':>9} {'dup':>4} {'ok':>4} {'s':>5}  user saw",
    ]
    for o in outcomes:
        counts = [
            "-" if value is None else f"{value:,}" for value in (o.expected, o.found, o.duplicated)
        ]
        saw = textwrap.wrap(o.user_saw, 100) or [""]
        lines.append(
            f"{o.scenario[:44]:<44} {counts[0]:>9} {counts[1]:>9} {counts[2]:>4}"
            f" {'yes' if o.ok else 'NO':>4} {o.seconds:>5.0f}  {saw[0]}"
        )
        lines.extend(f"{'':<82}{more}" for more in saw[1:])
    failed = sum(not o.ok for o in outcomes)
    lines.append(f"{len(outcomes)} scenario(s), {failed} failed")
    return "\n".join(lines)


def as_json(outcomes: list[Outcome]) -> str:
    return json.dumps([asdict(o) for o in outcomes], indent=2, default=str)
