"""Who runs the private server (never root: ``postgres`` or the caller), what that user
can reach, and running a program as that user, killed with its parent."""

from __future__ import annotations

import contextlib
import ctypes
import os
import pwd
import signal
import stat
import subprocess
from dataclasses import dataclass
from pathlib import Path

from migdoc.errors import EnvironmentProblem

_PR_SET_PDEATHSIG = 1


# --- who runs the server -----------------------------------------------------


@dataclass(frozen=True)
class ServerUser:
    """The account the server processes run as: ourselves, or (as root) an unprivileged one."""

    uid: int
    gid: int
    name: str

    @property
    def is_self(self) -> bool:
        return self.uid == os.geteuid()


def choose_user() -> ServerUser:
    """PostgreSQL refuses to run as root: then borrow ``postgres``, else ``nobody``. Never create users."""
    if os.geteuid() != 0:
        entry = pwd.getpwuid(os.geteuid())
        return ServerUser(entry.pw_uid, entry.pw_gid, entry.pw_name)
    for name in ("postgres", "nobody"):
        with contextlib.suppress(KeyError):
            entry = pwd.getpwnam(name)
            if entry.pw_uid != 0:
                return ServerUser(entry.pw_uid, entry.pw_gid, entry.pw_name)
    raise EnvironmentProblem(
        "running as root and PostgreSQL refuses to run as root, but there is no 'postgres' or 'nobody' "
        "user to run it as; run migdoc as an ordinary user or pass --server URL",
        needs="a 'postgres' or 'nobody' user",
        remedy="--server URL",
    )


def is_reachable(path: Path, user: ServerUser, *, executable: bool = False) -> bool:
    """True when ``user`` can traverse every folder up to ``path`` (and run it, if asked).

    Judged from mode bits, since ``os.access`` answers for root."""
    if user.is_self:
        return os.access(path, os.X_OK if executable else os.R_OK)
    path = path.resolve()
    for folder in [*reversed(path.parents), path]:
        try:
            st = folder.stat()
        except OSError:
            return False
        need_x = folder != path or executable or folder.is_dir()
        if not need_x:
            continue
        if st.st_uid == user.uid:
            bit = stat.S_IXUSR
        elif st.st_gid == user.gid:
            bit = stat.S_IXGRP
        else:
            bit = stat.S_IXOTH
        if not st.st_mode & bit:
            return False
    return True


def preexec(user: ServerUser, parent_pid: int):
    """Runs in the child between fork and exec: drop to ``user``, then ask to be
    sent SIGQUIT when the parent dies. Order matters: changing credentials
    clears the parent-death signal."""

    def setup() -> None:
        os.setsid()
        if not user.is_self:
            os.setgroups([])
            os.setgid(user.gid)
            os.setuid(user.uid)
        with contextlib.suppress(OSError, AttributeError):
            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(_PR_SET_PDEATHSIG, int(signal.SIGQUIT), 0, 0, 0)
        if os.getppid() != parent_pid:  # the parent died before prctl took effect
            os._exit(1)

    return setup


def run_as(user: ServerUser, argv: list[str], **kwargs) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        argv,
        capture_output=True,
        text=True,
        env=c_locale_env(),
        preexec_fn=preexec(user, os.getpid()),
        check=False,
        **kwargs,
    )


def c_locale_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LC_", "PG"))}
    env.update(LC_ALL="C", LANG="C", TZ="UTC")
    return env
