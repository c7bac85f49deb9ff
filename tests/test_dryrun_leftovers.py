"""Issue 11, items 16 and 17: what a killed dry-run leaves is swept by the next one (only
what is provably migdoc's and provably dead), and a borrowed server's password may need
percent-encoding."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.parse
from pathlib import Path

import pytest
from click.testing import CliRunner

from migdoc.cli import cli
from migdoc.dryrun import cache, cluster
from migdoc.util import owner

PASSWORD = "pa%ss/w@rd:50%"  # '%' (and what forces percent-encoding) in a real role's password


def dead_pid() -> int:
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    return process.pid


@pytest.fixture
def percent_role(pg_server):
    """A role that must give its password, which needs percent-encoding in a URL."""
    role = "percent_role"
    literal = PASSWORD.replace("'", "''")
    with pg_server.connect() as connection:
        connection.execute("SET password_encryption = 'scram-sha-256'")
        connection.execute(f"DROP ROLE IF EXISTS {role}")
        # CREATEROLE: the dry-run runs the project's code as a role it makes for the run
        connection.execute(f"CREATE ROLE {role} LOGIN CREATEDB CREATEROLE PASSWORD '{literal}'")
        hba = Path(connection.execute("SHOW hba_file").fetchone()[0])
        before = hba.read_text()
        hba.write_text(f"local all {role} scram-sha-256\n{before}")  # first match wins
        connection.execute("SELECT pg_reload_conf()")
    try:
        yield role
    finally:
        hba.write_text(before)
        with pg_server.connect() as connection:
            connection.execute("SELECT pg_reload_conf()")
            for (name,) in connection.execute(
                "SELECT datname FROM pg_database WHERE datdba = (SELECT oid FROM pg_roles WHERE rolname = %s)",
                (role,),
            ).fetchall():
                connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            connection.execute(f"DROP ROLE IF EXISTS {role}")


@pytest.mark.postgres
@pytest.mark.parametrize("fixture", ["dryrun_env_set_main_option", "dryrun_env_url", "dryrun_clean"])
def test_item17_borrowed_server_password_with_percent(copy_fixture, pg_server, percent_role, fixture):
    copy_fixture(fixture)
    encoded = urllib.parse.quote(PASSWORD, safe="")
    url = f"postgresql+psycopg://{percent_role}:{encoded}@/postgres?host={pg_server.socket_dir}"
    wrong = f"postgresql+psycopg://{percent_role}:wrong%25guess@/postgres?host={pg_server.socket_dir}"
    assert CliRunner().invoke(cli, ["dryrun", fixture, "--server", wrong]).exit_code == 2  # it checks
    result = CliRunner().invoke(cli, ["dryrun", fixture, "--server", url])
    assert result.exit_code == 0, result.output
    assert "interpolation" not in result.output
    assert PASSWORD not in result.output and encoded not in result.output


def test_item17_escape_percent_changes_only_what_configparser_would_reject():
    from migdoc.dryrun.alembic_env import escape_percent

    assert escape_percent("postgresql://u:p%25w@h/db?host=%2Ftmp") == "postgresql://u:p%%25w@h/db?host=%%2Ftmp"
    assert escape_percent("postgresql://u:p%%25w@h/db") == "postgresql://u:p%%25w@h/db"  # already escaped
    assert escape_percent("%(here)s/migrations") == "%(here)s/migrations"  # meant to interpolate
    assert escape_percent("50%") == "50%%"
    assert escape_percent("no percent") == "no percent"


# -- item 16 -------------------------------------------------------------------------------


def _stage(folder: Path, name: str, stamp: object | None, *, age: float = 0.0, extra: bool = False) -> Path:
    path = folder / name
    (path / "data").mkdir(parents=True)
    (path / "data" / "PG_VERSION").write_text("15\n")
    if stamp is not None:
        (path / cache.STAGING_OWNER).write_text(json.dumps(stamp))
    if extra:
        (path / "someone-elses-file").write_text("keep me")
    if age:
        then = time.time() - age
        os.utime(path, (then, then))
    return path


def test_item16_staging_folders_of_dead_dryruns_are_swept_and_only_those(tmp_path):
    me = owner.this_process()
    dead = {**me, "pid": dead_pid()}
    day = 24 * 3600
    gone = [
        _stage(tmp_path, f".tmp-{dead['pid']}-a", dead),
        _stage(tmp_path, ".tmp-legacy-old", None, age=2 * day),  # from before owner files, a day old
        _stage(tmp_path, f".tmp-{me['pid']}-reused", {**me, "started": "not the same process"}),
    ]
    kept = [
        _stage(tmp_path, f".tmp-{me['pid']}-b", me),  # a live run
        _stage(tmp_path, ".tmp-elsewhere", {**dead, "host": socket.gethostname() + "-other"}),
        _stage(tmp_path, ".tmp-legacy-new", None),  # might be copying right now
        _stage(tmp_path, ".tmp-legacy-mixed", None, age=2 * day, extra=True),  # not only a data directory
        _stage(tmp_path, ".tmp-garbled", "not an owner"),
        _stage(tmp_path, "pgdata-15-abc", dead),  # the cache itself
    ]
    (tmp_path / ".tmp-link").symlink_to(kept[0])
    removed = cache.sweep_stale_staging(tmp_path)
    assert sorted(removed) == sorted(gone)
    assert not any(p.exists() for p in gone)
    assert all(p.exists() for p in kept) and (tmp_path / ".tmp-link").is_symlink()


@pytest.mark.postgres
def test_item16_next_cold_run_sweeps_a_killed_runs_staging_folder(pg_binaries, tmp_path, monkeypatch):
    monkeypatch.setattr(cluster, "cache_root", lambda: tmp_path)
    monkeypatch.setattr(cache, "cache_root", lambda: tmp_path)
    leftover = _stage(tmp_path, f".tmp-{dead_pid()}-x", {**owner.this_process(), "pid": dead_pid()})
    with cluster.PrivateServer(pg_binaries):
        pass
    assert not leftover.exists()
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".tmp-")] == []
    assert any(p.name.startswith("pgdata-") for p in tmp_path.iterdir())


@pytest.mark.postgres
def test_item16_dead_dryrun_databases_on_a_borrowed_server_are_dropped(copy_fixture, pg_server):
    me = owner.this_process()
    dead = {"migdoc": "dryrun", **me, "pid": dead_pid()}
    planted = {
        f"migdoc_dryrun_{dead['pid']}_aaaaaaaaaaaa": dead,
        "migdoc_dryrun_1_bbbbbbbbbbbb": {"migdoc": "dryrun", **me},  # alive: this process
        "migdoc_dryrun_2_cccccccccccc": {**dead, "host": socket.gethostname() + "-other"},
        "migdoc_dryrun_3_dddddddddddd": None,  # no comment: not provably ours
        "migdoc_dryrun_4_eeeeeeeeeeee": {**dead, "migdoc": "something else"},
        "shop_dryrun_copy": dead,  # not migdoc's name
    }
    with pg_server.connect() as connection:
        for name, stamp in planted.items():
            connection.execute(f'CREATE DATABASE "{name}" TEMPLATE template0')
            if stamp is not None:
                comment = json.dumps(stamp).replace("'", "''")
                connection.execute(f"COMMENT ON DATABASE \"{name}\" IS '{comment}'")
    try:
        copy_fixture("dryrun_clean")
        result = CliRunner().invoke(cli, ["dryrun", "dryrun_clean", "--server", pg_server.url])
        assert result.exit_code == 0, result.output
        left = pg_server.databases()
        assert f"migdoc_dryrun_{dead['pid']}_aaaaaaaaaaaa" not in left
        assert set(planted) - {f"migdoc_dryrun_{dead['pid']}_aaaaaaaaaaaa"} <= left
        assert not {n for n in left if n.startswith("migdoc_dryrun_")} - set(planted)  # its own was dropped
    finally:
        with pg_server.connect() as connection:
            for name in planted:
                connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.mark.postgres
def test_item16_a_sigkilled_dryrun_database_is_dropped_by_the_next_run(copy_fixture, pg_server):
    """The whole story: a dry-run on a borrowed server killed mid-way leaves its database;
    the next dry-run on that server drops it."""
    copy_fixture("dryrun_slow")
    before = pg_server.databases()
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parent.parent)}
    process = subprocess.Popen(
        [sys.executable, "-m", "migdoc", "dryrun", "dryrun_slow", "--server", pg_server.url],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        made = {n for n in pg_server.databases() - before if n.startswith("migdoc_dryrun_")}
        if made:
            break
        time.sleep(0.05)
    time.sleep(0.3)
    process.kill()
    process.wait()
    assert made and made <= pg_server.databases()  # left behind
    copy_fixture("dryrun_clean")
    assert CliRunner().invoke(cli, ["dryrun", "dryrun_clean", "--server", pg_server.url]).exit_code == 0
    assert not made & pg_server.databases()
    shutil.rmtree("dryrun_slow", ignore_errors=True)
