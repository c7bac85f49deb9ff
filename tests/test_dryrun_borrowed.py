"""A borrowed server (``--server``): the project's code runs as a role made for the run, with
no rights outside its throwaway database, and the server's own state is compared before and
after the run. Each test reads the server's state itself (roles with their attributes and
password hashes, databases, ALTER SYSTEM's file) and proves it unchanged, or the change named.
"""

from __future__ import annotations

import secrets
import subprocess
import sys
import textwrap

import pytest
from click.testing import CliRunner

from migdoc.cli import cli
from migdoc.util import owner

pytestmark = pytest.mark.postgres


def _dryrun(*args: str):
    return CliRunner().invoke(cli, ["dryrun", *args], env={"MIGDOC_DRYRUN_SERVER": ""}, catch_exceptions=False)


def _server_state(pg_server):
    """What a dry-run must leave as it was: read as the test's own superuser."""
    with pg_server.connect() as connection:
        return (
            connection.execute(
                "SELECT rolname, rolsuper, rolcreaterole, rolcreatedb, rolcanlogin, rolpassword FROM pg_authid "
                "ORDER BY 1"
            ).fetchall(),
            connection.execute("SELECT datname, datdba FROM pg_database ORDER BY 1").fetchall(),
            connection.execute("SELECT name, setting FROM pg_file_settings ORDER BY 1").fetchall(),
            connection.execute("SELECT roleid, member FROM pg_auth_members ORDER BY 1, 2").fetchall(),
        )


@pytest.fixture
def other_database(pg_server):
    """A database of someone else's on the borrowed server, with a table in it."""
    name = f"prod_{secrets.token_hex(4)}"
    with pg_server.connect() as connection:
        connection.execute(f'CREATE DATABASE "{name}"')
    with pg_server.connect(name) as connection:
        connection.execute("CREATE TABLE accounts (id int PRIMARY KEY)")
        connection.execute("INSERT INTO accounts VALUES (1)")
    yield name
    with pg_server.connect() as connection:
        connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def victim_role(pg_server):
    name = f"victim_{secrets.token_hex(4)}"
    with pg_server.connect() as connection:
        connection.execute(f"CREATE ROLE {name} LOGIN PASSWORD 'original'")
    yield name
    with pg_server.connect() as connection:
        connection.execute(f"DROP ROLE IF EXISTS {name}")


def _with_upgrade(copy_fixture, statements: str):
    """dryrun_clean whose second revision first runs ``statements`` (Python, in upgrade())."""
    root = copy_fixture("dryrun_clean")
    version = root / "migrations" / "versions" / "0002_create_orders.py"
    body = textwrap.indent(textwrap.dedent(statements).strip() + "\n", "    ")
    version.write_text(version.read_text().replace("def upgrade():\n", f"def upgrade():\n{body}", 1))
    return root


# What an adversarial run did on a borrowed server, each in an autocommit block (so that it is
# refused for its rights, not for running in a transaction).
OUTSIDE = {
    "CREATE ROLE": 'op.execute("CREATE ROLE intruder_{tag} SUPERUSER LOGIN")',
    "DROP DATABASE": "op.execute('DROP DATABASE \"{other}\"')",
    "ALTER SYSTEM": "op.execute(\"ALTER SYSTEM SET work_mem = '77MB'\")",
    "ALTER ROLE ... PASSWORD": "op.execute(\"ALTER ROLE {victim} PASSWORD 'stolen'\")",
    "dblink_exec": 'op.execute("CREATE EXTENSION dblink")\n'
    "op.execute(\"SELECT dblink_exec('dbname={other} user=postgres', 'DROP TABLE accounts')\")",
    "CREATE DATABASE": 'op.execute("CREATE DATABASE leftover_{tag}")',
}


@pytest.mark.parametrize("what", sorted(OUTSIDE))
def test_the_project_code_has_no_rights_outside_its_database(
    copy_fixture, pg_server, other_database, victim_role, what
):
    before = _server_state(pg_server)
    statement = OUTSIDE[what].format(tag=secrets.token_hex(3), other=other_database, victim=victim_role)
    root = _with_upgrade(
        copy_fixture, "with op.get_context().autocommit_block():\n" + textwrap.indent(statement, "    ")
    )
    result = _dryrun(str(root), "--server", pg_server.url)
    assert result.exit_code == 1, result.output
    assert "phase upgrade of revision aaaa00000002" in result.output
    assert "permission denied" in result.output or "must be" in result.output, result.output
    assert _server_state(pg_server) == before  # no role, database, setting or password changed or left
    with pg_server.connect(other_database) as connection:
        assert connection.execute("SELECT id FROM accounts").fetchall() == [(1,)]


def test_a_clean_run_leaves_the_server_as_it_was(copy_fixture, pg_server):
    before = _server_state(pg_server)
    root = copy_fixture("dryrun_clean")
    result = _dryrun(str(root), "--server", pg_server.url, "--format", "json")
    assert result.exit_code == 0, result.output
    assert _server_state(pg_server) == before  # the run's role and database are gone


@pytest.fixture
def limited_role(pg_server):
    """A role with the rights migdoc needs on a managed server (CREATEDB CREATEROLE), no superuser."""
    name = f"ci_{secrets.token_hex(4)}"
    with pg_server.connect() as connection:
        connection.execute(f"CREATE ROLE {name} LOGIN CREATEDB CREATEROLE")
    yield name
    with pg_server.connect() as connection:
        connection.execute(f"DROP ROLE IF EXISTS {name}")


def test_a_role_with_createdb_and_createrole_is_enough(copy_fixture, pg_server, limited_role):
    before = _server_state(pg_server)
    root = copy_fixture("dryrun_clean")
    result = _dryrun(
        str(root), "--server", f"postgresql+psycopg://{limited_role}@/postgres?host={pg_server.socket_dir}"
    )
    assert result.exit_code == 0, result.output
    assert _server_state(pg_server) == before


def test_a_role_that_cannot_make_the_run_role_is_refused(copy_fixture, pg_server, limited_role):
    with pg_server.connect() as connection:
        connection.execute(f"ALTER ROLE {limited_role} NOCREATEROLE")
    before = _server_state(pg_server)
    root = copy_fixture("dryrun_clean")
    url = f"postgresql+psycopg://{limited_role}@/postgres?host={pg_server.socket_dir}"
    result = _dryrun(str(root), "--server", url)
    assert result.exit_code == 2, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("migdoc: error: cannot contain the dry-run"), result.output
    assert "lacks CREATEROLE" in lines[0] and "--run-as-server-role" in lines[0]
    assert _server_state(pg_server) == before
    # the user's decision: run as that role itself
    result = _dryrun(str(root), "--server", url, "--run-as-server-role")
    assert result.exit_code == 0, result.output
    assert "warning: --run-as-server-role" in result.output and "dblink" in result.output


def test_a_change_outside_the_database_fails_the_run(copy_fixture, pg_server):
    """As the URL's own role (--run-as-server-role, a superuser here) the change succeeds; the
    comparison of the server's state before and after finds it: exit 1, named."""
    tag = secrets.token_hex(3)
    root = _with_upgrade(copy_fixture, f'op.execute("CREATE ROLE intruder_{tag}")')
    try:
        result = _dryrun(str(root), "--server", pg_server.url, "--run-as-server-role", "--format", "json")
    finally:
        with pg_server.connect() as connection:
            connection.execute(f"DROP ROLE IF EXISTS intruder_{tag}")
    assert result.exit_code == 1, result.output
    report = result.stdout
    assert '"phase": "server"' in report
    assert f"changed the server outside the throwaway database: role intruder_{tag} was created" in report


def test_the_server_state_comparison_names_each_change(pg_server, other_database, victim_role):
    from migdoc.dryrun.borrowed import borrowed_database

    tag = secrets.token_hex(3)
    with borrowed_database(pg_server.url, "token") as borrowed:
        assert borrowed.outside_changes() == []
        with pg_server.connect() as connection:
            connection.execute(f"CREATE ROLE intruder_{tag}")
            connection.execute(f'DROP DATABASE "{other_database}"')
            connection.execute("ALTER SYSTEM SET work_mem = '77MB'")
            connection.execute(f"ALTER ROLE {victim_role} PASSWORD 'stolen'")
            connection.execute(f"ALTER ROLE {victim_role} CREATEDB")
        try:
            changes = borrowed.outside_changes()
        finally:
            with pg_server.connect() as connection:
                connection.execute("ALTER SYSTEM RESET work_mem")
                connection.execute(f"DROP ROLE intruder_{tag}")
    assert f"role intruder_{tag} was created" in changes  # no attributes: NOLOGIN, as CREATE ROLE makes it
    assert f"database {other_database} was dropped" in changes
    assert any(change.startswith("server setting work_mem (") and "was created (77MB)" in change for change in changes)
    assert f"the password of role {victim_role} was changed" in changes
    assert f"role {victim_role} was changed (was LOGIN; now CREATEDB LOGIN)" in changes
    assert len(changes) == 5, changes


def _dead_pid() -> int:
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    return process.pid


def test_a_killed_runs_role_is_swept(copy_fixture, pg_server):
    import json

    stamp = json.dumps({"migdoc": "dryrun", **owner.this_process(), "pid": _dead_pid()})
    dead, alive = f"migdoc_run_{_dead_pid()}_{secrets.token_hex(6)}", f"migdoc_run_1_{secrets.token_hex(6)}"
    with pg_server.connect() as connection:
        for name, comment in ((dead, stamp), (alive, json.dumps({"migdoc": "dryrun", **owner.this_process()}))):
            connection.execute(f"CREATE ROLE {name}")
            connection.execute(f"COMMENT ON ROLE {name} IS '{comment}'")
    try:
        assert _dryrun(str(copy_fixture("dryrun_clean")), "--server", pg_server.url).exit_code == 0
        with pg_server.connect() as connection:
            roles = {row[0] for row in connection.execute("SELECT rolname FROM pg_roles WHERE rolname LIKE 'migdoc%'")}
    finally:
        with pg_server.connect() as connection:
            connection.execute(f"DROP ROLE IF EXISTS {dead}")
            connection.execute(f"DROP ROLE IF EXISTS {alive}")
    assert dead not in roles and alive in roles


def test_the_run_role_gets_the_stairways_event_triggers_from_a_superuser(copy_fixture, pg_server, limited_role):
    """A superuser's URL makes the event triggers for the run's role: each step's snapshot is
    read from what it touched (checked against a whole one at every step), and the project's
    code, not their owner, cannot drop them. A URL role that is no superuser: whole snapshots."""
    from migdoc.doctor import load_project
    from migdoc.dryrun.borrowed import borrowed_database
    from migdoc.dryrun.runner import Stairway

    root = copy_fixture("dryrun_clean")
    limited = f"postgresql+psycopg://{limited_role}@/postgres?host={pg_server.socket_dir}"
    for url, fast in ((pg_server.url, True), (limited, False)):
        with borrowed_database(url, "token") as borrowed:
            run = Stairway(load_project(root), borrowed.url, verify_snapshots=True)
            run.run()
        assert run.result.ok, run.result.failure
        assert run._tracker is not None and run._tracker.fast is fast
    version = root / "migrations" / "versions" / "0002_create_orders.py"
    drop = '    op.execute("DROP EVENT TRIGGER migdoc_dryrun_ddl")\n'
    version.write_text(version.read_text().replace("def upgrade():\n", "def upgrade():\n" + drop, 1))
    result = _dryrun(str(root), "--server", pg_server.url)
    assert result.exit_code == 1 and "must be owner of event trigger migdoc_dryrun_ddl" in result.output


def test_run_as_server_role_without_a_server_is_a_usage_error(copy_fixture):
    result = _dryrun(str(copy_fixture("dryrun_clean")), "--run-as-server-role")
    assert result.exit_code == 2
    assert result.output.startswith("migdoc: error: --run-as-server-role is for a borrowed server")
    assert len(result.output.strip().splitlines()) == 1
