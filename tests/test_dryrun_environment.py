"""What the dry-run hands env.py (an open connection, the driver the project names) and how
it tells a project that cannot start (exit 2) from a migration that failed (exit 1)."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from migdoc.cli import cli
from migdoc.dryrun import driver_choice as drivers

PRIVATE = "postgresql+psycopg://postgres@/postgres?host=/dev/shm/migdoc-pg-1-abc"


def _dryrun(*args: str):
    return CliRunner().invoke(cli, ["dryrun", *args], env={"MIGDOC_DRYRUN_SERVER": ""}, catch_exceptions=False)


# --- the driver (pure) ------------------------------------------------------------------


def test_the_driver_the_project_names_is_kept_when_installed(monkeypatch):
    monkeypatch.setattr(drivers, "_installed", lambda module: module == "psycopg2")
    choice = drivers.choose_driver(PRIVATE, ["postgresql+psycopg2://app@db/app"])
    assert choice.driver == "psycopg2" and choice.note is None
    assert choice.url.startswith("postgresql+psycopg2://postgres@/postgres?host=")
    assert choice.own_url == choice.url  # a synchronous driver: migdoc's connection uses it too


def test_plain_postgresql_names_sqlalchemys_default_driver(monkeypatch):
    monkeypatch.setattr(drivers, "_installed", lambda module: True)
    assert drivers.choose_driver(PRIVATE, ["postgresql://app@db/app"]).driver == "psycopg2"
    # no PostgreSQL URL (a placeholder, another database): psycopg, silently
    for urls in ([None], ["driver://user:pass@localhost/dbname"], ["sqlite:///app.db"], []):
        choice = drivers.choose_driver(PRIVATE, urls)
        assert (choice.driver, choice.url, choice.note) == ("psycopg", PRIVATE, None)


def test_a_driver_not_installed_is_replaced_and_said(monkeypatch):
    monkeypatch.setattr(drivers, "_installed", lambda module: False)
    choice = drivers.choose_driver(PRIVATE, [None, "postgresql+asyncpg://app@db/app"])
    assert choice.driver == "psycopg" and choice.url == PRIVATE
    assert "'asyncpg'" in choice.note and "not installed" in choice.note and "ran with psycopg" in choice.note


def test_the_fallback_is_a_driver_this_sqlalchemy_knows(monkeypatch):
    """SQLAlchemy 1.4 (a project's own Python, --python) has no psycopg 3 dialect."""
    monkeypatch.setattr(drivers, "_has_dialect", lambda driver: driver != "psycopg")
    monkeypatch.setattr(drivers, "_installed", lambda module: True)
    choice = drivers.choose_driver(PRIVATE, [None])
    assert choice.driver == "psycopg2" and choice.url.startswith("postgresql+psycopg2://") and choice.note is None


def test_an_async_driver_keeps_migdocs_own_connection_synchronous(monkeypatch):
    monkeypatch.setattr(drivers, "_installed", lambda module: True)
    choice = drivers.choose_driver(PRIVATE, ["postgresql+asyncpg://app@db/app"])
    assert choice.url.startswith("postgresql+asyncpg://") and choice.own_url == PRIVATE


def test_pg8000_reaches_a_socket_by_its_file():
    url = drivers.with_driver(PRIVATE, "pg8000")
    assert url == "postgresql+pg8000://postgres@/postgres?unix_sock=%2Fdev%2Fshm%2Fmigdoc-pg-1-abc%2F.s.PGSQL.5432"


# --- on a database ------------------------------------------------------------------------


@pytest.mark.postgres
def test_env_py_that_only_takes_the_connection_handed_in(copy_fixture):
    """dagster's and aiida-core's shape: no URL, only config.attributes["connection"]."""
    copy_fixture("dryrun_attributes_only")
    result = _dryrun("dryrun_attributes_only", "--format", "json")
    assert result.exit_code == 0, result.output
    payload = json.loads(result.output)
    assert payload["ok"] and len(payload["steps"]) == 8


@pytest.mark.postgres
def test_a_psycopg2_url_runs_under_psycopg2(copy_fixture):
    """Revision 0002 passes only under psycopg2 (a bound parameter in SET), as airflow's
    686269002441 does only under one driver."""
    copy_fixture("dryrun_psycopg2_url")
    result = _dryrun("dryrun_psycopg2_url", "--format", "json")
    assert result.exit_code == 0, result.output
    payload = json.loads(result.output)
    assert payload["driver"] == "psycopg2" and payload["notes"] == []


@pytest.mark.postgres
def test_without_psycopg2_the_same_chain_fails_under_psycopg_and_says_why(copy_fixture, pg_database, monkeypatch):
    """In this process (the CLI runs the stairway in a child, out of monkeypatch's reach)."""
    from migdoc.doctor import load_project
    from migdoc.dryrun.runner import Stairway
    from migdoc.output.dryrun_text import render_text

    root = copy_fixture("dryrun_psycopg2_url")
    monkeypatch.setattr(drivers, "_installed", lambda module: module != "psycopg2")
    result = Stairway(load_project(root), pg_database).run()
    assert result.driver == "psycopg" and result.failure is not None
    assert result.failure.error == 'syntax error at or near "$1"'
    assert result.notes == [
        "the project's URL names the driver 'psycopg2', which this Python cannot use (psycopg2 is not installed): "
        "ran with psycopg instead"
    ]
    assert "note: the project's URL names the driver 'psycopg2'" in render_text(result)


# --- a project that cannot start: exit 2, one line with the way out ------------------------


def _one_line(result) -> str:
    assert result.exit_code == 2, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("migdoc: error: "), result.output
    return lines[0]


@pytest.mark.postgres
def test_an_option_the_application_never_set_is_an_environment_problem(copy_fixture):
    """keystone's shape: oslo.config raises NoSuchOptError for an option no config file set."""
    root = copy_fixture("dryrun_clean")
    env_py = root / "migrations" / "env.py"
    env_py.write_text(
        'class NoSuchOptError(Exception):\n    pass\n\n\nraise NoSuchOptError("no such option connection in group [database]")\n'
        + env_py.read_text()
    )
    line = _one_line(_dryrun("dryrun_clean"))
    assert "dryrun_clean/migrations/env.py:5: env.py failed before the first migration ran" in line
    assert "NoSuchOptError: no such option connection in group [database]" in line
    assert "the application's own configuration" in line


@pytest.mark.postgres
def test_env_py_that_never_runs_online_is_an_environment_problem(copy_fixture):
    root = copy_fixture("dryrun_clean")
    env_py = root / "migrations" / "env.py"
    env_py.write_text(env_py.read_text().replace("    run_migrations_online()", "    pass"))
    line = _one_line(_dryrun("dryrun_clean"))
    assert "env.py did not call context.run_migrations() in online mode" in line
    assert "nothing was tried on the database" in line


@pytest.mark.postgres
def test_env_py_written_for_sqlalchemy_1_treats_the_handed_in_connection_like_an_engine(copy_fixture):
    """jupyterhub's env.py: `with connectable.connect() as connection:` on whatever
    config.attributes["connection"] holds (SQLAlchemy 1.x's Connection.connect() branched)."""
    root = copy_fixture("dryrun_attributes_only")
    (root / "migrations" / "env.py").write_text(
        "from alembic import context\n"
        "from sqlalchemy import engine_from_config, pool\n\n"
        "config = context.config\n"
        'connectable = config.attributes.get("connection", None)\n'
        "if connectable is None:\n"
        '    connectable = engine_from_config(config.get_section(config.config_ini_section), prefix="sqlalchemy.",\n'
        "                                     poolclass=pool.NullPool)\n"
        "with connectable.connect() as connection:\n"
        "    context.configure(connection=connection)\n"
        "    with context.begin_transaction():\n"
        "        context.run_migrations()\n"
    )
    result = _dryrun("dryrun_attributes_only", "--format", "json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["ok"] is True


@pytest.mark.postgres
def test_a_connect_hook_env_py_adds_runs_once_per_connection(copy_fixture):
    """env.py runs once per step; an engine it adds a `connect` hook to is not given back
    to it (every earlier run's copy of the hook would run too)."""
    root = copy_fixture("dryrun_clean")
    ini = root / "alembic.ini"
    ini.write_text(ini.read_text().replace("[alembic]\n", "[alembic]\nprepend_sys_path = .\n", 1))
    (root / "hook_calls.py").write_text("calls = []\n")
    env_py = root / "migrations" / "env.py"
    env_py.write_text(
        env_py.read_text().replace(
            "    with connectable.connect() as connection:\n",
            "    import hook_calls\n"
            "    from sqlalchemy import event\n\n"
            '    @event.listens_for(connectable, "connect")\n'
            "    def set_path(dbapi_connection, record):\n"
            "        hook_calls.calls.append(1)\n"
            "        cursor = dbapi_connection.cursor()\n"
            '        cursor.execute("SET search_path = public")\n'
            "        cursor.close()\n\n"
            "    before = len(hook_calls.calls)\n"
            "    with connectable.connect() as connection:\n"
            "        assert len(hook_calls.calls) == before + 1, 'the hook ran more than once'\n",
        )
    )
    result = _dryrun("dryrun_clean", "--format", "json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["ok"] is True
