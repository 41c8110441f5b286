"""The README cannot drift: its first command, run literally in a fresh copy of the
working tree with a fresh virtualenv, installs the project and runs the demo on a
machine where no PostgreSQL or Redis answers (embedded servers start).

Slow (a virtualenv install): marked ``readme``, deselect with ``-m 'not readme'``; CI
runs it. pip gets its wheels from a wheelhouse built once per requirement list (no
index queries, no bytecode compilation): about a minute then, two more the first time.
"""

from __future__ import annotations

import hashlib
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
import tomllib
from pathlib import Path

import pytest

from tracera_pipeline import config
from tracera_pipeline_tests.embedded_helpers import (
    require_embedded_packages,
    unreachable_defaults_env,
)

README = config.REPO_ROOT / "README.md"


def quickstart_commands(text: str) -> list[str]:
    """The fenced commands of the README's "Two commands" section, in order."""
    section = re.search(r"^## Two commands\n(.*?)(?=^## )", text, re.MULTILINE | re.DOTALL)
    assert section, "README.md has no '## Two commands' section"
    return [block.strip() for block in re.findall(r"```bash\n(.*?)```", section[1], re.DOTALL)]


def test_the_readme_has_two_quickstart_commands() -> None:
    commands = quickstart_commands(README.read_text())
    assert len(commands) == 2, commands
    assert all("\n" not in command for command in commands), "one line each, copy-pasteable"
    assert commands[0].endswith("tracera-pipeline demo")
    assert commands[1] == "ruff check . && dg check defs && pytest"


def _copy_working_tree(target: Path) -> None:
    """Tracked and untracked-but-not-ignored files: what a clone with local edits holds,
    without .venv, .tracera and caches."""
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=config.REPO_ROOT, capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    for name in filter(None, listed.split("\0")):
        source = config.REPO_ROOT / name
        if source.is_file():  # deleted but still in the index: skip
            (target / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target / name)


def _requirements() -> list[str]:
    """What ``.[embedded,dev]`` installs besides the project, from pyproject.toml."""
    project = tomllib.loads((config.REPO_ROOT / "pyproject.toml").read_text())["project"]
    extras = project["optional-dependencies"]
    build = ["setuptools>=68", "wheel"]  # pip's isolated build of the editable project
    return [*project["dependencies"], *extras["embedded"], *extras["dev"], *build]


def _wheelhouse() -> Path:
    """Wheels of every requirement, kept under ~/.cache per requirement list and Python,
    so that the fresh virtualenv installs without asking the index (most of pip's time)."""
    requirements = _requirements()
    digest = hashlib.sha256(
        f"{requirements} {sys.version} {platform.machine()}".encode()
    ).hexdigest()[:16]
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "tracera-pipeline"
    house = cache / f"readme-wheelhouse-{digest}"
    if house.is_dir():
        return house
    cache.mkdir(parents=True, exist_ok=True)
    building = Path(tempfile.mkdtemp(prefix="building-", dir=cache))
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--quiet", "--wheel-dir", building, *requirements],
        check=True, capture_output=True, timeout=900,
    )  # fmt: skip
    try:
        building.rename(house)
    except OSError:  # another session finished first
        shutil.rmtree(building, ignore_errors=True)
    return house


def _fresh_shell_env() -> dict[str, str]:
    """No virtualenv active (as in a new terminal), nothing configured, and the default
    addresses unreachable, so that the embedded servers must start."""
    env = unreachable_defaults_env()
    venv = os.environ.get("VIRTUAL_ENV") or sys.prefix
    env.pop("VIRTUAL_ENV", None)
    env.pop("PYTHONPATH", None)
    env["PATH"] = os.pathsep.join(
        part for part in env.get("PATH", os.defpath).split(os.pathsep)
        if not part.startswith(venv)
    )  # fmt: skip
    env["PIP_DISABLE_PIP_VERSION_CHECK"] = "1"
    env.update(PIP_NO_INDEX="1", PIP_FIND_LINKS=str(_wheelhouse()), PIP_NO_COMPILE="1")
    return env


@pytest.mark.readme
def test_the_first_command_runs_the_demo_on_a_machine_with_only_python() -> None:
    require_embedded_packages()
    if shutil.which("git") is None or not (config.REPO_ROOT / ".git").exists():
        pytest.skip("needs the project's git working tree to copy")
    first = quickstart_commands(README.read_text())[0]
    # Not pytest's tmp_path: the servers' account (as root) must reach the folder.
    workdir = Path(tempfile.mkdtemp(prefix="tracera-readme-"))
    env = _fresh_shell_env()
    try:
        _copy_working_tree(workdir)
        result = subprocess.run(
            ["bash", "-c", first], cwd=workdir, env=env, capture_output=True, text=True,
            timeout=900,
        )  # fmt: skip
        out, err = result.stdout, result.stderr
        assert result.returncode == 0, f"{first}\n{out[-3000:]}\n{err[-3000:]}"
        assert re.search(r"^no PostgreSQL at .*: started an embedded PostgreSQL 18", err, re.M)
        assert re.search(r"^no Redis at .*: started an embedded Valkey 9", err, re.M)
        assert "flavour native" in out
        # 200 items × 12 samples/h × 48 h on each of the three simulated markets
        assert (
            "price_history rows per market: {'synthetic': 115200, 'synthetic_buff': 115200,"
            " 'synthetic_steam': 115200}" in out
        )
        assert re.search(r"^  Main inventory +[\d,]+\.\d\d USD  \(8/8 items priced", out, re.M)
        assert "top cross-market spreads" in out
        for window in ("1h", "24h", "7d"):
            assert f"rankings:volatile:{window}=200" in out
    finally:
        cli = workdir / ".venv" / "bin" / "tracera-pipeline"
        if cli.exists():
            subprocess.run(
                [cli, "services", "stop"], cwd=workdir, env=env, capture_output=True, timeout=120
            )
        shutil.rmtree(workdir, ignore_errors=True)
