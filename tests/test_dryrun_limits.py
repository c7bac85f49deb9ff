"""The dry-run's limits: a step that hangs is stopped (--step-timeout); a long chain
does not run out of lock slots (one transaction per step); a server error is
reported as one."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from migdoc.cli import cli

pytestmark = pytest.mark.postgres


def _dryrun(*args: str):
    return CliRunner().invoke(cli, ["dryrun", *args], env={"MIGDOC_DRYRUN_SERVER": ""}, catch_exceptions=False)


def _hang_in_upgrade(root: Path, body: str) -> None:
    version = root / "migrations" / "versions" / "0002_create_orders.py"
    text = version.read_text()
    version.write_text(text.replace("def upgrade():\n", f"def upgrade():\n{body}", 1))


@pytest.mark.parametrize(
    ("fixture", "body", "statement"),
    [
        ("dryrun_clean", '    op.execute("SELECT pg_sleep(600)")\n', "SELECT pg_sleep(600)"),
        ("dryrun_async_env", '    op.execute("SELECT pg_sleep(600)")\n', "SELECT pg_sleep(600)"),
        (
            "dryrun_clean",
            # a second connection that waits for a lock the migration's own connection holds
            '    op.execute("LOCK TABLE customers IN ACCESS EXCLUSIVE MODE")\n'
            "    with op.get_bind().engine.connect() as other:\n"
            '        other.exec_driver_sql("SELECT count(*) FROM customers")\n',
            "SELECT count(*) FROM customers",
        ),
        ("dryrun_clean", "    import time\n\n    time.sleep(600)\n", None),
    ],
    ids=["pg_sleep", "pg_sleep_async", "lock_wait", "python_sleep"],
)
def test_a_step_that_hangs_is_stopped(copy_fixture, fixture, body, statement):
    root = copy_fixture(fixture)
    _hang_in_upgrade(root, body)
    started = time.monotonic()
    result = _dryrun(str(root), "--step-timeout", "2", "--format", "json")
    assert time.monotonic() - started < 60
    assert result.exit_code == 1, result.output
    failure = json.loads(result.output)["failure"]
    assert failure["revision"] == "aaaa00000002" and failure["phase"] == "upgrade"
    assert failure["error"].startswith("did not finish within 2 s (--step-timeout)")
    assert failure["statement"] == statement
    if statement is None:
        assert "no statement was running" in failure["error"]
    text = _dryrun(str(root), "--step-timeout", "1.5")
    assert "dry-run failed: phase upgrade of revision" in text.output and "1.5 s" in text.output


def test_step_timeout_must_be_positive(copy_fixture):
    root = copy_fixture("dryrun_clean")
    assert _dryrun(str(root), "--step-timeout", "0").exit_code == 2
    assert _dryrun(str(root), "--step-timeout", "soon").exit_code == 2


# --- long chains ------------------------------------------------------------------

ENV_PY = """\
from alembic import context
from sqlalchemy import engine_from_config, pool

config = context.config
connectable = engine_from_config(config.get_section(config.config_ini_section), prefix="sqlalchemy.",
                                 poolclass=pool.NullPool)
with connectable.connect() as connection:
    context.configure(connection=connection)
    with context.begin_transaction():
        context.run_migrations()
"""

ENV_PY_ONE_TRANSACTION = """\
from alembic import context
from sqlalchemy import engine_from_config, pool

config = context.config
connectable = engine_from_config(config.get_section(config.config_ini_section), prefix="sqlalchemy.",
                                 poolclass=pool.NullPool)
with connectable.begin() as connection:  # the project's own transaction around the whole chain
    context.configure(connection=connection)
    context.run_migrations()
"""

VERSION = '''\
"""step {n}

Revision ID: {rev}
Revises: {down}
"""
from alembic import op

revision = {rev!r}
down_revision = {down_value}


def upgrade():
    op.execute("CREATE TABLE t{n} (id int PRIMARY KEY, v text)")
    op.execute("CREATE INDEX ix_t{n} ON t{n} (v)")
    {drop_previous}


def downgrade():
    {restore_previous}
    op.execute("DROP TABLE t{n}")
'''


def generated_chain(root: Path, count: int, env_py: str = ENV_PY) -> Path:
    """``count`` revisions, each creating a table (and its index) and dropping the previous one:
    the schema stays one table small, while one transaction around the chain would hold
    locks on every table ever made."""
    versions = root / "migrations" / "versions"
    versions.mkdir(parents=True)
    (root / "migrations" / "env.py").write_text(env_py)
    (root / "alembic.ini").write_text("[alembic]\nscript_location = %(here)s/migrations\npath_separator = os\n")
    for n in range(1, count + 1):
        rev = f"r{n:05d}"
        down = f"r{n - 1:05d}" if n > 1 else None
        previous = n - 1
        (versions / f"{rev}_step_{n}.py").write_text(
            VERSION.format(
                n=n,
                rev=rev,
                down=down or "",
                down_value=repr(down),
                drop_previous=f'op.execute("DROP TABLE t{previous}")' if previous else "pass",
                restore_previous=(
                    f'op.execute("CREATE TABLE t{previous} (id int PRIMARY KEY, v text)")\n'
                    f'    op.execute("CREATE INDEX ix_t{previous} ON t{previous} (v)")'
                    if previous
                    else "pass"
                ),
            )
        )
    return root


@pytest.fixture
def small_lock_table_server(pg_binaries):
    """A server whose shared lock table holds about 10 x (8 + background) entries: a chain of
    a few hundred revisions in one transaction cannot fit in it, one step at a time does.
    No slots are reserved for superusers: with the default three, five connections left
    the dry-run two, and a backend still exiting after its step had closed could take one."""
    from migdoc.dryrun.cluster import PrivateServer

    server = PrivateServer(
        pg_binaries,
        settings={
            "max_locks_per_transaction": "10",
            "max_connections": "8",
            "superuser_reserved_connections": "0",
        },
    )
    server.start()
    try:
        yield server
    finally:
        server.stop()


def test_a_long_chain_commits_per_step(tmp_path, monkeypatch, small_lock_table_server):
    root = generated_chain(tmp_path / "long", 300)
    monkeypatch.chdir(tmp_path)
    result = _dryrun("long", "--server", small_lock_table_server.url, "--format", "json")
    assert result.exit_code == 0, result.output[-2000:]
    payload = json.loads(result.output)
    assert payload["ok"] and len(payload["steps"]) == 4 * 300
    assert root.is_dir()


def test_a_server_error_is_reported_as_one(tmp_path, monkeypatch, small_lock_table_server):
    """A step that holds more locks than the server's lock table has slots for (one env.py run
    per step, so one step of its own) is the server's limit, not a lost database and not a
    failed migration."""
    root = generated_chain(tmp_path / "long", 2, ENV_PY_ONE_TRANSACTION)
    [second] = (root / "migrations" / "versions").glob("r00002_*.py")
    many_tables = "    for n in range(2000):\n        op.execute(f'CREATE TABLE many{n} (id int)')\n"
    second.write_text(second.read_text().replace("def upgrade():\n", "def upgrade():\n" + many_tables))
    monkeypatch.chdir(tmp_path)
    result = _dryrun("long", "--server", small_lock_table_server.url, "--no-downgrade")
    assert result.exit_code == 2, result.output[-2000:]
    line = result.output.strip()
    assert line.startswith("migdoc: error: the database server failed during upgrade of r")
    assert "not the migration: out of shared memory" in line and "max_locks_per_transaction" in line
    assert "lost the database" not in line and len(line.splitlines()) == 1


def test_a_timeout_swallowed_by_env_py_is_still_reported(copy_fixture):
    root = copy_fixture("dryrun_clean")
    _hang_in_upgrade(root, '    op.execute("SELECT pg_sleep(600)")\n')
    env_py = root / "migrations" / "env.py"
    env_py.write_text(
        env_py.read_text().replace(
            "        with context.begin_transaction():\n            context.run_migrations()\n",
            "        try:\n            with context.begin_transaction():\n                context.run_migrations()\n"
            "        except BaseException:\n            pass\n",
        )
    )
    assert "except BaseException" in env_py.read_text()
    result = _dryrun(str(root), "--step-timeout", "1", "--format", "json")
    assert result.exit_code == 1, result.output
    failure = json.loads(result.output)["failure"]
    assert failure["revision"] == "aaaa00000002" and failure["statement"] == "SELECT pg_sleep(600)"
