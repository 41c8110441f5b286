"""Hostile portfolio files through the real command line: what the user sees, and what
changed in the database (a refused file must change nothing)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import psycopg
from psycopg import sql

from benchmarks.faults.env import REPO_ROOT, Environment
from benchmarks.faults.report import Outcome
from tracera_pipeline.storage.items import resolve_item_ids

AK = "AK-47 | Redline (Field-Tested)"
AWP = "AWP | Asiimov (Field-Tested)"
HEADER = "portfolio,market_hash_name,quantity\n"
# The command line in a process of its own, reporting its peak memory.
# (VmHWM, not ru_maxrss: Linux carries a forked child's peak, the suite's, across exec.)
_CLI = (
    "import sys\nfrom tracera_pipeline.cli import main\ncode = main(sys.argv[1:])\n"
    "peak = [line.split()[1] for line in open('/proc/self/status') if line.startswith('VmHWM')]\n"
    "print(f'maxrss_kb={peak[0] if peak else 0}', file=sys.stderr)\nsys.exit(code)\n"
)


def _json(*portfolios: tuple[str, object, list[tuple[object, object]]]) -> str:
    return json.dumps(
        [
            {"name": name, "owner": owner,
             "holdings": [{"market_hash_name": n, "quantity": q} for n, q in holdings]}
            for name, owner, holdings in portfolios
        ],
        indent=1,
    )  # fmt: skip


def _unknown_names(path: Path) -> None:
    """~50 MB: a million holdings of names no catalogue has."""
    with path.open("w", encoding="utf-8") as handle:
        handle.write(HEADER)
        for i in range(1_000_000):
            handle.write(f"flood,Sticker | Invented Team {i:07d} (Holo) | Nowhere 2031,1\n")


# name → (file name, content or writer, extra arguments, holdings expected afterwards)
CASES: dict[str, tuple[str, str | bytes | Callable[[Path], None], list[str], int]] = {
    "same portfolio twice (JSON)": (
        "twice.json", _json(("main", None, [(AK, 1)]), ("main", None, [(AWP, 2)])), [], 0),
    "duplicate CSV rows": ("dup.csv", f"{HEADER}main,{AK},2\nmain,{AK},3\n", [], 0),
    "name with a trailing space": ("space.csv", f"{HEADER}main,{AK} ,2\n", [], 0),
    "zero-width character in a name": (
        "zw.csv", f"{HEADER}main,AK-47\u200b | Redline (Field-Tested),2\n", [], 0),
    "right-to-left mark in a name": ("rtl.csv", f"{HEADER}main,\u200f{AK},2\n", [], 0),
    "int32-overflowing quantity": ("big.csv", f"{HEADER}main,{AK},3000000000\n", [], 0),
    "JSON object as owner": ("owner.json", _json(("main", {"x": 1}, [(AK, 1)])), [], 0),
    "300,000-character name": ("long.csv", f"{HEADER}main,{'x' * 300_000},1\n", [], 0),
    "NUL byte in a name": ("nul.csv", f"{HEADER}main,AK\x0047,1\n", [], 0),
    "unterminated quote": ("quote.csv", f'{HEADER}main,"{AK},1\nmain,{AWP},1\n', [], 0),
    "UTF-8 BOM header (accepted)": (
        "bom.csv", b"\xef\xbb\xbf" + f"{HEADER}main,{AK},2\n".encode(), [], 1),
    "50 MB of unknown names": ("flood.csv", _unknown_names, [], 0),
    "50 MB of unknown names, --add-unknown-items": (
        "flood.csv", _unknown_names, ["--add-unknown-items"], 0),
}  # fmt: skip


def _counts(url: str) -> tuple[int, ...]:
    with psycopg.connect(url, autocommit=True) as conn:
        return tuple(
            conn.execute(
                sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier(table))
            ).fetchone()[0]
            for table in ("portfolios", "portfolio_holdings", "items")
        )


def _first_lines(text: str, count: int = 2) -> str:
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    shown = " / ".join(line[:250] for line in lines[:count])
    return shown + (f" / … ({len(lines) - count} more lines)" if len(lines) > count else "")


def hostile_portfolio_files(env: Environment) -> list[Outcome]:
    url = env.new_database("inputs")
    with psycopg.connect(url, autocommit=True) as conn:
        resolve_item_ids(conn, [AK, AWP])  # the catalogue knows these two
    outcomes = []
    with tempfile.TemporaryDirectory(prefix="tracera-hostile-") as folder:
        for case, (name, content, extra, holdings) in CASES.items():
            path = Path(folder) / name
            if callable(content):
                if not path.exists():  # the 50 MB file is written once for both cases
                    content(path)
            elif isinstance(content, bytes):
                path.write_bytes(content)
            else:
                path.write_text(content, encoding="utf-8")
            before = _counts(url)
            started = time.monotonic()
            done = subprocess.run(
                [sys.executable, "-c", _CLI, "load-portfolios", str(path), *extra],
                cwd=REPO_ROOT, capture_output=True, text=True, timeout=600,
                env={**os.environ, "TRACERA_DATABASE_URL": url,
                     "TRACERA_STORAGE_FLAVOR": env.flavor},
            )  # fmt: skip
            after = _counts(url)
            rss = next(
                (int(line.split("=")[1]) // 1024 for line in done.stderr.splitlines()
                 if line.startswith("maxrss_kb=")), 0,
            )  # fmt: skip
            errors = "\n".join(
                line for line in done.stderr.splitlines() if not line.startswith("maxrss_kb=")
            )
            message = _first_lines(done.stdout if done.returncode == 0 else errors)
            items_added = after[2] - before[2]
            outcomes.append(
                Outcome(
                    f"hostile: {case}",
                    holdings,
                    after[1],
                    None,
                    f"exit {done.returncode} ({rss} MiB peak): {message}; items added:"
                    f" {items_added}",
                    ok=after[1] == holdings
                    and items_added == 0
                    and (done.returncode == 0) == (holdings > 0)
                    and "Traceback" not in done.stderr,
                    seconds=time.monotonic() - started,
                )
            )
            if holdings:  # leave the next case an empty portfolio table
                with psycopg.connect(url, autocommit=True) as conn:
                    conn.execute("DELETE FROM portfolios")
    env.drop(url)
    return outcomes
