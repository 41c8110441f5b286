"""A DAGSTER_HOME that keeps this project's instance settings.

With ``DAGSTER_HOME`` set, Dagster reads ``$DAGSTER_HOME/dagster.yaml`` and ignores
the repository's ``dagster.yaml``; an empty home therefore silently loses the
provider pool limit (one step per provider across runs) and the run limit, and
backfill runs then hit one provider concurrently. ``tracera-pipeline dev`` puts
the project's file into a home that has none, and warns about one that lacks
the limits (it never edits an existing file: it may hold storage settings).
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from tracera_pipeline.config import REPO_ROOT

DEFAULT_HOME = REPO_ROOT / ".dagster_home"
PROJECT_INSTANCE_FILE = REPO_ROOT / "dagster.yaml"
PROJECT_WORKSPACE = REPO_ROOT / "workspace.yaml"
_TARGET_FLAGS = {"-w", "--workspace", "-m", "--module-name", "-f", "--python-file"}


@dataclass(frozen=True)
class PreparedHome:
    path: Path
    copied: bool  # the project's dagster.yaml was put there just now
    warnings: list[str] = field(default_factory=list)


def choose_home(environ: Mapping[str, str]) -> Path:
    """``$DAGSTER_HOME`` when set, else ``.dagster_home/`` in the project."""
    chosen = environ.get("DAGSTER_HOME")
    return Path(chosen).expanduser().resolve() if chosen else DEFAULT_HOME


def prepare_home(home: Path, template: Path = PROJECT_INSTANCE_FILE) -> PreparedHome:
    """Create ``home``; copy the project's dagster.yaml there unless one exists."""
    home.mkdir(parents=True, exist_ok=True)
    target = home / "dagster.yaml"
    if not target.exists():
        shutil.copyfile(template, target)
        return PreparedHome(home, copied=True)
    try:
        settings = yaml.safe_load(target.read_text()) or {}
    except yaml.YAMLError as exc:
        raise ValueError(f"{target} is not valid YAML ({exc}): fix or delete it") from exc
    warnings = [
        f"{target} sets no {what}, so {consequence}: copy the `concurrency:` block "
        f"of {template} into it"
        for what, consequence in missing_limits(settings)
    ]
    return PreparedHome(home, copied=False, warnings=warnings)


def missing_limits(settings: Mapping[str, Any]) -> list[tuple[str, str]]:
    """The project's limits this instance file leaves out, with what that costs."""
    concurrency = settings.get("concurrency") or {}
    pools = concurrency.get("pools") or {}
    runs = concurrency.get("runs") or {}
    coordinator = (settings.get("run_coordinator") or {}).get("config") or {}
    missing = []
    legacy_pool_limit = concurrency.get("default_op_concurrency_limit")
    if pools.get("default_limit") is None and legacy_pool_limit is None:
        missing.append(
            ("pool limit (concurrency.pools.default_limit)", "runs can hit one provider at once")
        )
    if runs.get("max_concurrent_runs") is None and coordinator.get("max_concurrent_runs") is None:
        missing.append(
            ("run limit (concurrency.runs.max_concurrent_runs)", "Dagster's default of 10 applies")
        )
    return missing


def dagster_dev_command(extra_args: Sequence[str]) -> list[str]:
    """``dagster dev`` of this environment, on the project's workspace unless told otherwise."""
    sibling = Path(sys.executable).parent / "dagster"
    executable = str(sibling) if sibling.exists() else shutil.which("dagster")
    if executable is None:
        raise RuntimeError("the `dagster` command is missing here: run `pip install -e .` first")
    target = [] if _TARGET_FLAGS & set(extra_args) else ["-w", str(PROJECT_WORKSPACE)]
    return [executable, "dev", *target, *extra_args]


def run_dagster_dev(home: Path, extra_args: Sequence[str]) -> int:
    """Run ``dagster dev`` with ``DAGSTER_HOME=home`` until it exits; its exit code.

    A SIGTERM (a service manager's stop, ``kill``) is passed on to ``dagster dev``,
    which then stops its webserver, daemon and code server as on Ctrl-C; by default
    it ended only this process and left those running."""
    env = {**os.environ, "DAGSTER_HOME": str(home)}
    # `tracera-pipeline dev &` in a script starts with Ctrl-C ignored, and an ignored
    # signal stays ignored across exec: `dagster dev` and its servers then ignored
    # SIGTERM too (Dagster maps it onto Ctrl-C's handler) and never stopped.
    if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)
    process = subprocess.Popen(dagster_dev_command(extra_args), env=env, cwd=REPO_ROOT)

    def forward(signum: int, _frame: object) -> None:
        process.send_signal(signum)

    previous = signal.signal(signal.SIGTERM, forward)
    try:
        while True:
            try:
                return process.wait()
            except KeyboardInterrupt:
                # Ctrl-C reached `dagster dev` as well; let it stop its webserver and daemon.
                continue
    finally:
        signal.signal(signal.SIGTERM, previous)
