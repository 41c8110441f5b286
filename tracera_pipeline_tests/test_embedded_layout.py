"""Paths and ownership rules of the embedded servers' folder."""

from __future__ import annotations

import os
import pwd
from pathlib import Path

import pytest

from tracera_pipeline.services import layout


def test_socket_folder_moves_to_tmp_only_when_the_path_is_too_long_for_a_socket(
    tmp_path: Path,
) -> None:
    short = Path("/srv/project/.tracera")
    assert layout.socket_dir(short) == short / "run"
    deep = tmp_path / ("x" * 90) / ".tracera"
    moved = layout.socket_dir(deep)
    assert moved.parent == Path("/tmp") and moved.name.startswith("tracera-")
    assert moved == layout.socket_dir(deep)  # fixed: every process finds the same sockets
    assert moved != layout.socket_dir(tmp_path / ("y" * 90) / ".tracera")
    assert len(os.fsencode(moved / ".s.PGSQL.5432.lock")) < 108


def test_a_private_folder_of_a_third_user_is_refused(tmp_path: Path) -> None:
    if os.geteuid() != 0:
        pytest.skip("needs root to give a folder to another user")
    account = layout.server_account([])
    squatted = tmp_path / "run"
    squatted.mkdir()
    nobody = pwd.getpwnam("nobody")
    os.chown(squatted, nobody.pw_uid, nobody.pw_gid)
    with pytest.raises(
        RuntimeError, match="belongs to another user: remove it, or set TRACERA_HOME"
    ):
        layout.private_dir(squatted, account)
    mine = layout.private_dir(tmp_path / "mine", account)  # root's own folder is handed over
    assert mine.stat().st_uid == account.uid and (mine.stat().st_mode & 0o777) == 0o700
