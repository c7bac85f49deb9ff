"""Issue 11, item 5: reading a deployed database never hangs: connect and statement
timeouts, a watchdog for the rest, and a clear line when one expires."""

from __future__ import annotations

import shutil
import socket
import threading
import time
from collections.abc import Iterator

import pytest
from click.testing import CliRunner
from conftest import FIXTURES

from migdoc.cli import cli
from migdoc.database.deployed import _within
from migdoc.errors import DatabaseError

TIMEOUT = "2"


def run(*args: str):
    return CliRunner().invoke(cli, list(args), env={"MIGDOC_DATABASE_TIMEOUT": TIMEOUT})


@pytest.fixture
def silent_listener() -> Iterator[int]:
    """A TCP port that accepts every connection and never says a word."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    held: list[socket.socket] = []

    def accept() -> None:
        while True:
            try:
                held.append(listener.accept()[0])
            except OSError:
                return

    threading.Thread(target=accept, daemon=True).start()
    try:
        yield listener.getsockname()[1]
    finally:
        listener.close()
        for connection in held:
            connection.close()


@pytest.mark.parametrize("command", ["status", "check", "fix"])
def test_a_listener_that_never_answers_times_out_with_one_line(in_tmp, silent_listener, command):
    shutil.copytree(FIXTURES / "deploy_chain", in_tmp / "deploy_chain")
    started = time.monotonic()
    result = run(
        command, "deploy_chain", "--database-url", f"postgresql+psycopg://app:pw@127.0.0.1:{silent_listener}/shop"
    )
    elapsed = time.monotonic() - started
    assert result.exit_code == 2, result.output
    assert result.output.count("\n") == 1 and "Traceback" not in result.output
    assert "no answer from the database server within 2 s" in result.output
    assert "MIGDOC_DATABASE_TIMEOUT" in result.output
    assert elapsed < 20, elapsed


def test_the_watchdog_ends_a_read_no_driver_timeout_ends():
    started = time.monotonic()
    with pytest.raises(DatabaseError, match=r"no answer from the database within 0.3 s \(reading alembic_version\)"):
        _within(0.3, "sqlite:///x.db", "alembic_version", lambda: time.sleep(10))
    assert time.monotonic() - started < 5
    assert _within(5, "u", "t", lambda: 42) == 42
    with pytest.raises(ZeroDivisionError):
        _within(5, "u", "t", lambda: 1 / 0)


@pytest.mark.parametrize("value", ["0", "-1", "soon", "nan"])
def test_a_bad_timeout_setting_is_one_line_and_exit_2(in_tmp, value):
    shutil.copytree(FIXTURES / "deploy_chain", in_tmp / "deploy_chain")
    result = CliRunner().invoke(
        cli, ["status", "deploy_chain", "--database-url", "sqlite:///x.db"], env={"MIGDOC_DATABASE_TIMEOUT": value}
    )
    assert result.exit_code == 2 and "MIGDOC_DATABASE_TIMEOUT" in result.output, result.output


@pytest.mark.postgres
@pytest.mark.parametrize("command", ["status", "check"])
def test_a_lock_on_alembic_version_times_out_with_one_line(copy_fixture, pg_server, pg_database, command):
    from sqlalchemy.engine import make_url

    copy_fixture("deploy_chain")
    name = make_url(pg_database).database
    with pg_server.connect(name) as connection:
        connection.execute("CREATE TABLE alembic_version (version_num varchar(32) NOT NULL PRIMARY KEY)")
        connection.execute("INSERT INTO alembic_version VALUES ('0002')")
    locker = pg_server.connect(name)
    try:
        locker.autocommit = False
        locker.execute("LOCK TABLE alembic_version IN ACCESS EXCLUSIVE MODE")  # as a running ALTER holds it
        started = time.monotonic()
        result = run(command, "deploy_chain", "--database-url", pg_database)
        elapsed = time.monotonic() - started
    finally:
        locker.rollback()
        locker.close()
    assert result.exit_code == 2, result.output
    assert result.output.count("\n") == 1 and "Traceback" not in result.output
    assert "alembic_version stayed locked by another session for 2 s" in result.output
    assert elapsed < 20, elapsed
    # and with the lock gone, the same read works
    assert run("status", "deploy_chain", "--database-url", pg_database).exit_code == 0
