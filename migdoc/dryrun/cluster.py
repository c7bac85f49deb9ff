"""The private PostgreSQL cluster: ``initdb`` once per server version (cached, copied per
run), ``postgres`` started directly with a unix socket in a short private folder, on
tmpfs when there is room, killed with the parent (``PR_SET_PDEATHSIG``); stale runs of
killed processes are swept. Touches processes and the disk."""

from __future__ import annotations

import contextlib
import json
import os
import re
import secrets
import shutil
import signal
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from migdoc.dryrun.binaries import (
    WHEEL_SOURCE,
    PgBinaries,
    c_locale_env,
)
from migdoc.dryrun.cache import (
    INITDB_OPTIONS,
    STAGING_OWNER,
    STAGING_PREFIX,
    SUPERUSER,
    cache_key,
    cache_root,
    chown_tree,
    copy_tree,
    reachable_copy,
    sweep_stale_staging,
)
from migdoc.dryrun.users import ServerUser, choose_user, is_reachable, preexec, run_as
from migdoc.errors import EnvironmentProblem
from migdoc.util import owner

RUN_PREFIX = "migdoc-pg-"
SERVER_SETTINGS = {
    "listen_addresses": "",
    "fsync": "off",
    "full_page_writes": "off",
    "synchronous_commit": "off",
    "autovacuum": "off",
    "wal_level": "minimal",
    "max_wal_senders": "0",
    "shared_buffers": "32MB",
    "max_connections": "30",
    "logging_collector": "off",
    "log_min_messages": "fatal",
    "dynamic_shared_memory_type": "mmap",
    # room for an env.py that holds the whole chain in one transaction of its own
    # (about 26 locks per revision); migdoc's own runs commit per step
    "max_locks_per_transaction": "512",
}
_MIN_TMPFS_BYTES = 256 * 1024 * 1024  # Docker's default /dev/shm (64 MB) is too small
_MAX_SOCKET_PATH = 100  # sockaddr_un.sun_path is 108 bytes, with ".s.PGSQL.5432" appended


# --- where the cluster lives -------------------------------------------------


def _free_bytes(path: Path) -> int:
    try:
        st = os.statvfs(path)
    except OSError:
        return 0
    return st.f_bavail * st.f_frsize


def run_base_candidates() -> list[Path]:
    bases = []
    if os.environ.get("XDG_RUNTIME_DIR"):
        bases.append(Path(os.environ["XDG_RUNTIME_DIR"]))
    bases.append(Path("/dev/shm"))
    return bases


def choose_run_base(user: ServerUser) -> Path:
    """tmpfs when there is room and the server user can reach it; else the temp folder."""
    for base in run_base_candidates():
        if base.is_dir() and os.access(base, os.W_OK) and _free_bytes(base) >= _MIN_TMPFS_BYTES:
            if is_reachable(base, user):
                return base
    return Path(tempfile.gettempdir())


def sweep_stale_runs(bases: list[Path] | None = None) -> list[Path]:
    """Remove run folders left by crashed runs: those whose owning migdoc process is gone.

    Folder names carry the owner's pid: ``migdoc-pg-<pid>-<random>``."""
    removed = []
    for base in bases or [*run_base_candidates(), Path(tempfile.gettempdir())]:
        with contextlib.suppress(OSError):
            for entry in base.iterdir():
                match = re.fullmatch(re.escape(RUN_PREFIX) + r"(\d+)-\w+", entry.name)
                if not match or not entry.is_dir() or _is_alive(int(match.group(1))):
                    continue
                pid = _postmaster_pid(entry / "data")
                if pid is not None and _is_alive(pid):
                    with contextlib.suppress(OSError):
                        os.kill(pid, signal.SIGQUIT)
                    continue  # next run removes it
                shutil.rmtree(entry, ignore_errors=True)
                removed.append(entry)
    return removed


def _is_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _postmaster_pid(data_dir: Path) -> int | None:
    try:
        return int((data_dir / "postmaster.pid").read_text().split("\n", 1)[0])
    except (OSError, ValueError):
        return None


# --- the private server --------------------------------------------------------


@dataclass
class PrivateServer:
    """A private PostgreSQL cluster, started by ``start()`` and removed by ``stop()``.

    Invariant: after ``stop()`` (also after a failed ``start()``) no process of
    it runs and its run folder is gone."""

    binaries: PgBinaries
    use_cache: bool = True
    run_base: Path | None = None
    user: ServerUser = field(default_factory=choose_user)
    run_dir: Path | None = None
    process: subprocess.Popen | None = None
    timings: dict[str, float] = field(default_factory=dict)
    settings: dict[str, str] = field(default_factory=dict)  # more -c settings (tests: a small lock table)
    # the secret every session on this server can read back (the connection guard's proof)
    run_token: str = field(default_factory=lambda: secrets.token_hex(16))

    @property
    def data_dir(self) -> Path:
        assert self.run_dir is not None
        return self.run_dir / "data"

    @property
    def socket_dir(self) -> Path:
        assert self.run_dir is not None
        return self.run_dir

    @property
    def url(self) -> str:
        """A superuser URL through the unix socket (serves sync and async SQLAlchemy)."""
        return f"postgresql+psycopg://{SUPERUSER}@/postgres?host={self.socket_dir}"

    @property
    def description(self) -> str:
        return f"private PostgreSQL {self.binaries.version} ({self.binaries.source}: {self.binaries.bindir})"

    def __enter__(self) -> PrivateServer:
        self.start()
        return self

    def __exit__(self, *exc_info) -> None:
        self.stop()

    def start(self, timeout: float = 60.0) -> None:
        try:
            self._start(timeout)
        except BaseException:
            self.stop()
            raise

    def _start(self, timeout: float) -> None:
        started = time.perf_counter()
        sweep_stale_runs()
        if self.binaries.source == WHEEL_SOURCE and not all(
            is_reachable(binary, self.user, executable=True)
            for binary in (self.binaries.initdb, self.binaries.postgres)
        ):
            # a virtual environment under a 0700 folder (/root/...): run a copy the server's user can reach
            self.binaries = reachable_copy(self.binaries, self.user)
        for binary in (self.binaries.initdb, self.binaries.postgres):
            if not is_reachable(binary, self.user, executable=True):
                raise EnvironmentProblem(
                    f"{binary}: the user {self.user.name!r} the server must run as (PostgreSQL refuses root) "
                    "cannot reach it; install the PostgreSQL server system-wide, pass --pg-bindir with a "
                    "readable folder, or pass --server URL",
                    needs=str(binary),
                    remedy="--pg-bindir DIR or --server URL",
                )
        base = self.run_base or choose_run_base(self.user)
        self.run_dir = Path(tempfile.mkdtemp(prefix=f"{RUN_PREFIX}{os.getpid()}-", dir=base))
        if len(str(self.run_dir / ".s.PGSQL.5432")) > _MAX_SOCKET_PATH:
            shutil.rmtree(self.run_dir, ignore_errors=True)
            self.run_dir = Path(tempfile.mkdtemp(prefix=f"{RUN_PREFIX}{os.getpid()}-", dir="/tmp"))
        os.chmod(self.run_dir, 0o700)
        if not self.user.is_self:
            os.chown(self.run_dir, self.user.uid, self.user.gid)
        self._make_data_dir()
        self.timings["initdb"] = time.perf_counter() - started
        self._launch(timeout)
        self.timings["ready"] = time.perf_counter() - started

    def _make_data_dir(self) -> None:
        sweep_stale_staging(cache_root())
        if not self.use_cache:
            self._initdb(self.data_dir)
            return
        cached = cache_root() / cache_key(self.binaries)
        if not (cached / "PG_VERSION").is_file():
            self._initdb(self.data_dir)
            with contextlib.suppress(OSError):
                cached.parent.mkdir(parents=True, exist_ok=True)
                staging = Path(tempfile.mkdtemp(prefix=f"{STAGING_PREFIX}{os.getpid()}-", dir=cached.parent))
                # who staged it: a run killed while copying leaves a folder the next run may remove
                (staging / STAGING_OWNER).write_text(json.dumps(owner.this_process()))
                copy_tree(self.data_dir, staging / "data")
                try:
                    os.rename(staging / "data", cached)  # atomic: others see all of it or nothing
                except OSError:
                    pass  # another run put it in place first
                shutil.rmtree(staging, ignore_errors=True)
            return
        copy_tree(cached, self.data_dir)
        if not self.user.is_self or self.data_dir.stat().st_uid != self.user.uid:
            chown_tree(self.data_dir, self.user)
        os.chmod(self.data_dir, 0o700)

    def _initdb(self, target: Path) -> None:
        result = run_as(
            self.user,
            [str(self.binaries.initdb), "-D", str(target), *INITDB_OPTIONS],
            timeout=300,
            cwd=str(self.run_dir),
        )
        if result.returncode != 0:
            last = (result.stderr or result.stdout).strip().splitlines()[-1:] or ["(no output)"]
            raise EnvironmentProblem(f"initdb failed ({self.binaries.initdb}): {last[0]}", needs="initdb")

    def _launch(self, timeout: float) -> None:
        argv = [str(self.binaries.postgres), "-D", str(self.data_dir), "-k", str(self.socket_dir)]
        from migdoc.dryrun.drivers import TOKEN_SETTING

        settings = {**SERVER_SETTINGS, **self.settings, TOKEN_SETTING: self.run_token}
        for key, value in settings.items():
            argv += ["-c", f"{key}={value}"]
        log_path = self.run_dir / "server.log"  # type: ignore[operator]
        with open(log_path, "wb") as log:
            self.process = subprocess.Popen(
                argv,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=log,
                env=c_locale_env(),
                cwd=str(self.run_dir),
                preexec_fn=preexec(self.user, os.getpid()),
            )
        pid_file = self.data_dir / "postmaster.pid"
        deadline = time.monotonic() + timeout
        delay = 0.002
        while True:
            if self.process.poll() is not None:
                raise EnvironmentProblem(f"PostgreSQL did not start: {_last_log_line(log_path)}", needs="postgres")
            with contextlib.suppress(OSError):
                lines = pid_file.read_text().split("\n")
                # line 8 of postmaster.pid is the status: "starting", "ready", ...
                if len(lines) > 7 and lines[7].strip() == "ready":
                    return
            if time.monotonic() > deadline:
                raise EnvironmentProblem(
                    f"PostgreSQL not ready after {timeout:.0f} s: {_last_log_line(log_path)}", needs="postgres"
                )
            time.sleep(delay)
            delay = min(delay * 1.5, 0.02)

    def stop(self) -> None:
        """Immediate shutdown (SIGQUIT: the data is thrown away anyway), then remove everything."""
        process, self.process = self.process, None
        if process is not None and process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                process.send_signal(signal.SIGQUIT)
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGKILL)
                process.wait(timeout=10)
        if self.run_dir is not None:
            shutil.rmtree(self.run_dir, ignore_errors=True)
            self.run_dir = None


def _last_log_line(path: Path) -> str:
    with contextlib.suppress(OSError):
        lines = [line for line in path.read_text(errors="replace").splitlines() if line.strip()]
        if lines:
            return lines[-1].strip()
    return "(no log output)"
