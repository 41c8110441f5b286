"""Where the embedded servers keep their files, and which OS account runs them."""

from __future__ import annotations

import fcntl
import hashlib
import os
import pwd
import shutil
import socket
import stat
import subprocess
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

HOME_VARIABLE = "TRACERA_HOME"
# PostgreSQL refuses to run as root; as root the servers run as this system account.
SYSTEM_ACCOUNT = "tracera"
# A Unix socket path holds at most 107 bytes; PostgreSQL appends "/.s.PGSQL.5432.lock".
_MAX_SOCKET_DIR_BYTES = 80


def home() -> Path:
    """The project folder of the embedded servers: ``TRACERA_HOME``, else ``./.tracera``."""
    return Path(os.environ.get(HOME_VARIABLE) or ".tracera").absolute()


def shown(path: Path) -> str:
    """``path`` relative to the current directory when it is below it (shorter messages)."""
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def socket_dir(home_dir: Path) -> Path:
    """``<home>/run``, or a fixed ``/tmp/tracera-<hash>`` when that path is too long for a
    socket; fixed either way, so every process finds the sockets without a state file."""
    candidate = home_dir / "run"
    if len(os.fsencode(candidate)) <= _MAX_SOCKET_DIR_BYTES:
        return candidate
    digest = hashlib.sha256(os.fsencode(home_dir)).hexdigest()[:12]
    return Path("/tmp") / f"tracera-{digest}"


def unix_socket_answers(path: Path, timeout: float = 1.0) -> bool:
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(timeout)
        try:
            sock.connect(os.fspath(path))
        except OSError:
            return False
    return True


def process_alive(pid: int | None) -> bool:
    if pid is None:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # alive, owned by someone else
    # A daemon's exit leaves a zombie until init reaps it, which a container's init may
    # never do: a zombie has stopped.
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return True  # no /proc (macOS): kill(0) is all we know
    return state != "Z"


def read_pid(path: Path) -> int | None:
    """The pid on the first line of a pid file, or None when there is none."""
    try:
        first = path.read_text().split("\n", 1)[0].strip()
    except (FileNotFoundError, NotADirectoryError):
        return None
    return int(first) if first.isdigit() else None


@contextmanager
def locked(home_dir: Path) -> Iterator[None]:
    """One process at a time starts or stops the servers of a home (``dagster dev`` loads
    the code location in several processes at once)."""
    try:
        home_dir.mkdir(parents=True, exist_ok=True)
        handle = open(home_dir / "lock", "a")  # noqa: SIM115 - closed below; closing unlocks
    except OSError as exc:
        raise RuntimeError(
            f"cannot create {home_dir} for the embedded servers ({exc.strerror}): "
            f"set {HOME_VARIABLE} to a writable folder"
        ) from exc
    with handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        yield


@dataclass(frozen=True)
class Account:
    """The OS account the servers run as."""

    uid: int
    gid: int
    name: str

    @property
    def is_other(self) -> bool:
        return self.uid != os.geteuid()

    def run(
        self, argv: Sequence[str | Path], *, cwd: Path, timeout: float = 120
    ) -> subprocess.CompletedProcess[str]:
        """Run a server tool as this account; raises CalledProcessError with its output.

        The environment is minimal: the servers need none of ours, and it holds secrets.
        A new session keeps a Ctrl-C in the caller's terminal away from the daemons.
        """
        switch = {"user": self.uid, "group": self.gid, "extra_groups": []} if self.is_other else {}
        return subprocess.run(
            [os.fspath(arg) for arg in argv],
            cwd=cwd,
            env={"PATH": os.environ.get("PATH", os.defpath), "LC_ALL": "C"},
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=True,
            start_new_session=True,
            **switch,
        )


def server_account(notices: list[str]) -> Account:
    """The current user; as root (which PostgreSQL refuses) the system account ``tracera``,
    created when missing (a notice says so)."""
    if os.geteuid() != 0:
        entry = pwd.getpwuid(os.geteuid())
        return Account(entry.pw_uid, entry.pw_gid, entry.pw_name)
    try:
        entry = pwd.getpwnam(SYSTEM_ACCOUNT)
    except KeyError:
        entry = _create_system_account(SYSTEM_ACCOUNT)
        notices.append(
            f"running as root, which PostgreSQL refuses: created system account "
            f"{SYSTEM_ACCOUNT!r} to run the embedded servers"
        )
    return Account(entry.pw_uid, entry.pw_gid, entry.pw_name)


def _create_system_account(name: str) -> pwd.struct_passwd:
    shell = next(
        (s for s in ("/usr/sbin/nologin", "/sbin/nologin") if Path(s).exists()), "/bin/false"
    )
    command = [
        shutil.which("useradd") or "/usr/sbin/useradd",
        *("--system", "--user-group", "--no-create-home", "--home-dir", "/nonexistent"),
        *("--shell", shell, "--comment", "Tracera embedded servers", name),
    ]
    try:
        subprocess.run(command, check=True, capture_output=True, text=True)
    except (OSError, subprocess.CalledProcessError) as exc:
        try:  # another process may have created it meanwhile
            return pwd.getpwnam(name)
        except KeyError:
            detail = getattr(exc, "stderr", None) or str(exc)
            raise RuntimeError(
                f"PostgreSQL refuses to run as root and the account {name!r} could not be "
                f"created ({detail.strip()}): create it with `useradd --system {name}` "
                "or run as a normal user"
            ) from exc
    return pwd.getpwnam(name)


def prepare(
    home_dir: Path, binary_dir: Path, private: Sequence[Path], notices: list[str]
) -> Account:
    """The server account, able to reach ``home_dir`` and ``binary_dir``, owning the
    ``private`` directories (created 0700)."""
    account = server_account(notices)
    home_dir.mkdir(parents=True, exist_ok=True)
    if account.is_other:
        opened = open_paths_for(account, [home_dir, binary_dir])
        if opened:
            notices.append(
                f"gave account {account.name!r} search access (o+x) to "
                f"{', '.join(map(str, opened))} so that it reaches the embedded servers"
            )
    for directory in private:
        private_dir(directory, account)
    return account


def open_paths_for(account: Account, paths: Sequence[Path]) -> list[Path]:
    """Give ``account`` search permission (o+x, never read) on every directory on the way
    to ``paths`` that it cannot pass; the directories changed. Only needed as root, whose
    folders (``/root``, ``mkdtemp``) are often closed to the server account."""
    changed: list[Path] = []
    for path in paths:
        for directory in [*reversed(path.parents), path]:
            info = directory.stat()
            if _can_search(account, info):
                continue
            directory.chmod(stat.S_IMODE(info.st_mode) | stat.S_IXOTH)
            changed.append(directory)
    return changed


def _can_search(account: Account, info: os.stat_result) -> bool:
    if info.st_uid == account.uid:
        return bool(info.st_mode & stat.S_IXUSR)
    if info.st_gid == account.gid:
        return bool(info.st_mode & stat.S_IXGRP)
    return bool(info.st_mode & stat.S_IXOTH)


def private_dir(path: Path, account: Account) -> Path:
    """``path`` as a 0700 directory of ``account``; refuses one that belongs to a third user
    (a squatted ``/tmp`` socket folder, say)."""
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    info = path.lstat()
    if not stat.S_ISDIR(info.st_mode):
        raise RuntimeError(f"{path} is not a directory: remove it, or set {HOME_VARIABLE}")
    if info.st_uid != account.uid:
        if os.geteuid() != 0 or info.st_uid != 0:
            raise RuntimeError(
                f"{path} belongs to another user: remove it, or set {HOME_VARIABLE} "
                "to a folder of your own"
            )
        os.chown(path, account.uid, account.gid)
    path.chmod(0o700)
    return path
