"""The connection guard: whatever env.py does, the dry-run touches only its own throwaway database.

Each test points the project's code at another database by one way out (the
"developer's database": a second PostgreSQL database this test owns, holding a
table and a row, or a SQLite path) and proves the run stops with exit 2 and one
line, and that nothing was created, changed or dropped there.
"""

from __future__ import annotations

import sys
import textwrap
import types
from pathlib import Path

import pytest
from click.testing import CliRunner

from migdoc.cli import cli

pytestmark = pytest.mark.postgres

PASSWORD = "s3cretpw"  # trust authentication ignores it; it must never be shown


@pytest.fixture
def developer_db(pg_server, pg_database):
    """A database standing for the developer's own: a table with a row in it."""
    from sqlalchemy.engine import make_url

    name = make_url(pg_database).database
    with pg_server.connect(name) as connection:
        connection.execute("CREATE TABLE precious (id int PRIMARY KEY, note text)")
        connection.execute("INSERT INTO precious VALUES (1, 'keep me')")
    url = f"postgresql+psycopg://postgres:{PASSWORD}@/{name}?host={pg_server.socket_dir}"
    return types.SimpleNamespace(url=url, name=name, state=lambda: _state(pg_server, name))


def _state(pg_server, name: str):
    """Everything the dry-run could have created, changed or dropped in that database."""
    assert name in pg_server.databases(), "the developer's database was dropped"
    with pg_server.connect(name) as connection:
        objects = connection.execute(
            "SELECT n.nspname, c.relname, c.relkind FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg_toast%' "
            "ORDER BY 1, 2"
        ).fetchall()
        types_ = connection.execute(
            "SELECT t.typname FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace "
            "WHERE n.nspname = 'public' AND t.typtype = 'e'"
        ).fetchall()
        rows = connection.execute("SELECT * FROM precious ORDER BY id").fetchall()
    return objects, types_, rows


def _project(copy_fixture, env_py: str, extra: dict[str, str] | None = None) -> Path:
    root = copy_fixture("dryrun_clean")
    ini = root / "alembic.ini"  # as Alembic's template: the project's own modules importable
    ini.write_text(ini.read_text().replace("[alembic]\n", "[alembic]\nprepend_sys_path = .\n", 1))
    (root / "migrations" / "env.py").write_text(textwrap.dedent(env_py))
    for name, text in (extra or {}).items():
        (root / name).write_text(textwrap.dedent(text))
    return root


def _dryrun(*args: str):
    return CliRunner().invoke(cli, ["dryrun", *args], env={"MIGDOC_DRYRUN_SERVER": ""}, catch_exceptions=False)


def _assert_stopped(result, where: str) -> None:
    assert result.exit_code == 2, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1, result.output
    line = lines[0]
    assert line.startswith("migdoc: error: the project's code")
    assert where in line, line
    assert "stopped before anything ran there" in line
    assert "sqlalchemy.url" in line and "DATABASE_URL" in line and "--url-env" in line
    assert PASSWORD not in line
    assert "Traceback" not in result.output


def test_sync_engine_from_a_settings_module(copy_fixture, developer_db):
    before = developer_db.state()
    root = _project(
        copy_fixture,
        """
        from alembic import context
        from sqlalchemy import create_engine

        from app_settings import settings

        engine = create_engine(settings.DATABASE_URI)
        with engine.connect() as connection:
            context.configure(connection=connection)
            with context.begin_transaction():
                context.run_migrations()
        """,
        {"app_settings.py": f"class Settings:\n    DATABASE_URI = {developer_db.url!r}\n\nsettings = Settings()\n"},
    )
    result = _dryrun(str(root))
    _assert_stopped(
        result, f"migrations/env.py:8) connected to postgresql+psycopg://postgres:***@/{developer_db.name}?"
    )
    assert "not to the dry-run's throwaway database" in result.output
    assert developer_db.state() == before


def test_async_engine(copy_fixture, developer_db):
    before = developer_db.state()
    root = _project(
        copy_fixture,
        f"""
        import asyncio

        from alembic import context
        from sqlalchemy.ext.asyncio import create_async_engine


        def do_run_migrations(connection):
            context.configure(connection=connection)
            with context.begin_transaction():
                context.run_migrations()


        async def main():
            engine = create_async_engine({developer_db.url!r})
            async with engine.connect() as connection:
                await connection.run_sync(do_run_migrations)
            await engine.dispose()


        asyncio.run(main())
        """,
    )
    result = _dryrun(str(root))
    _assert_stopped(result, f"postgres:***@/{developer_db.name}")
    assert developer_db.state() == before


def test_engine_made_at_import_time(copy_fixture, developer_db):
    before = developer_db.state()
    root = _project(
        copy_fixture,
        """
        from alembic import context

        from app_db import engine

        with engine.begin() as connection:
            context.configure(connection=connection)
            context.run_migrations()
        """,
        {"app_db.py": f"from sqlalchemy import create_engine\n\nengine = create_engine({developer_db.url!r})\n"},
    )
    result = _dryrun(str(root))
    _assert_stopped(result, "migrations/env.py:6")
    assert developer_db.state() == before


def test_engine_from_config_after_env_py_sets_its_own_url(copy_fixture, developer_db):
    before = developer_db.state()
    root = _project(
        copy_fixture,
        f"""
        from alembic import context
        from sqlalchemy import engine_from_config, pool

        config = context.config
        # as Flask-Migrate and many templates do: the app's URL replaces the one given
        config.set_main_option("sqlalchemy.url", {developer_db.url.replace("%", "%%")!r})
        connectable = engine_from_config(config.get_section(config.config_ini_section), prefix="sqlalchemy.",
                                         poolclass=pool.NullPool)
        with connectable.connect() as connection:
            context.configure(connection=connection)
            with context.begin_transaction():
                context.run_migrations()
        """,
    )
    result = _dryrun(str(root))
    _assert_stopped(result, "migrations/env.py:10")
    assert developer_db.state() == before


def test_hard_coded_url_even_when_env_py_swallows_errors(copy_fixture, developer_db):
    before = developer_db.state()
    root = _project(
        copy_fixture,
        f"""
        from alembic import context
        from sqlalchemy import create_engine

        URL = {developer_db.url!r}
        for attempt in range(3):  # a retry loop that swallows every error
            try:
                with create_engine(URL).connect() as connection:
                    context.configure(connection=connection)
                    with context.begin_transaction():
                        context.run_migrations()
                break
            except BaseException:
                pass
        """,
    )
    result = _dryrun(str(root))
    _assert_stopped(result, "migrations/env.py:8")
    assert developer_db.state() == before


def test_connection_handed_in_through_config_attributes(copy_fixture, developer_db, monkeypatch):
    """A connection opened before the run (so before the guard), as a test harness hands one in:
    only a harness that runs the stairway in its own process can (the CLI runs it in a child)."""
    from sqlalchemy import create_engine

    from migdoc.doctor import check_project, load_project
    from migdoc.dryrun.results import LOAD_CODES
    from migdoc.dryrun.runner import run_stairway
    from migdoc.errors import DatabaseError

    before = developer_db.state()
    engine = create_engine(developer_db.url)
    connection = engine.connect()
    monkeypatch.setitem(sys.modules, "handoff", types.SimpleNamespace(connection=connection))
    try:
        root = _project(
            copy_fixture,
            """
            from alembic import context
            from sqlalchemy import engine_from_config, pool

            import handoff

            config = context.config
            config.attributes["connection"] = handoff.connection

            connectable = config.attributes.get("connection", None)
            if connectable is None:
                connectable = engine_from_config(config.get_section(config.config_ini_section), prefix="sqlalchemy.",
                                                 poolclass=pool.NullPool).connect()
            context.configure(connection=connectable)
            with context.begin_transaction():
                context.run_migrations()
            """,
        )
        project = load_project(str(root))
        with pytest.raises(DatabaseError) as stopped:
            run_stairway(project, check_project(project, select=LOAD_CODES), in_process=True)
    finally:
        connection.close()
        engine.dispose()
    _assert_stopped(types.SimpleNamespace(exit_code=2, output=f"migdoc: error: {stopped.value}\n"), "env.py:14")
    assert developer_db.state() == before


def test_raw_driver_connection_in_a_migration(copy_fixture, developer_db):
    """A data migration that opens its own psycopg connection, bypassing SQLAlchemy."""
    before = developer_db.state()
    root = copy_fixture("dryrun_clean")
    version = root / "migrations" / "versions" / "0002_create_orders.py"
    dsn = f"dbname={developer_db.name} host={developer_db.url.split('host=')[1]} user=postgres password={PASSWORD}"
    version.write_text(
        version.read_text().replace(
            "def upgrade():\n",
            f"def upgrade():\n    import psycopg\n\n    psycopg.connect({dsn!r}).execute('DROP TABLE precious')\n",
        )
    )
    result = _dryrun(str(root))
    _assert_stopped(result, "0002_create_orders.py:")
    assert developer_db.state() == before


def test_sqlite_is_refused_before_the_file_is_made(copy_fixture):
    root = _project(
        copy_fixture,
        """
        from alembic import context
        from sqlalchemy import create_engine

        engine = create_engine("sqlite:///app_local.db")
        with engine.connect() as connection:
            context.configure(connection=connection)
            with context.begin_transaction():
                context.run_migrations()
        """,
    )
    for args in ((), ("--no-downgrade",)):
        result = _dryrun(str(root), *args)
        _assert_stopped(result, "migrations/env.py:6) asked for a sqlite database (sqlite+pysqlite:///")
        assert "app_local.db), but the dry-run runs on PostgreSQL only" in result.output
        assert not (root / "app_local.db").exists() and not Path("app_local.db").exists()


def test_borrowed_server_proves_the_run_database_not_the_server(copy_fixture, pg_server, developer_db):
    """On a borrowed server the other database is on the same server: still refused."""
    before = developer_db.state()
    databases = pg_server.databases()
    root = _project(
        copy_fixture,
        f"""
        from alembic import context
        from sqlalchemy import create_engine

        with create_engine({developer_db.url!r}).connect() as connection:
            context.configure(connection=connection)
            with context.begin_transaction():
                context.run_migrations()
        """,
    )
    result = _dryrun(str(root), "--server", pg_server.url)
    _assert_stopped(result, "migrations/env.py:5")
    assert developer_db.state() == before
    assert pg_server.databases() == databases  # the run's own database is dropped too


def test_the_run_database_is_accepted_on_a_borrowed_server(copy_fixture, pg_server):
    root = copy_fixture("dryrun_clean")
    result = _dryrun(str(root), "--server", pg_server.url, "--format", "json")
    assert result.exit_code == 0, result.output


def test_the_guard_is_gone_after_the_run(copy_fixture, developer_db):
    """Nothing of the guard outlives the run: no listener, no patched function."""
    import asyncpg.connect_utils
    import psycopg
    import psycopg.pq
    import psycopg2.extensions
    import psycopg2.extras
    from alembic.runtime.migration import MigrationContext
    from sqlalchemy import create_engine, text

    def hooks():
        return (
            psycopg.connect,
            vars(psycopg.Connection)["connect"],
            vars(psycopg.AsyncConnection)["connect"],
            psycopg.pq.PGconn,
            psycopg2.connect,
            psycopg2.extensions.connection,
            "__init__" in vars(psycopg2.extras.DictConnection),
            asyncpg.connect_utils._connect,
            vars(MigrationContext)["configure"],
        )

    before = hooks()
    root = copy_fixture("dryrun_clean")
    assert _dryrun(str(root)).exit_code == 0
    (root / "migrations" / "env.py").write_text(
        f"from sqlalchemy import create_engine\ncreate_engine({developer_db.url!r}).connect()\n"
    )
    assert _dryrun(str(root)).exit_code == 2
    assert hooks() == before
    engine = create_engine(developer_db.url)  # an ordinary connection elsewhere works again
    with engine.connect() as connection:
        assert connection.execute(text("SELECT note FROM precious")).scalar() == "keep me"
    engine.dispose()


# -- every way a driver opens a connection ------------------------------------------------
#
# Each snippet runs inside a migration's upgrade() and tries to drop the developer's table
# by one driver's way in; {dsn} is a libpq keyword string, {socket}/{name} the server's
# socket folder and the database's name.
DRIVER_PATHS = {
    "psycopg AsyncConnection.connect": """
        import asyncio
        import psycopg

        async def go():
            connection = await psycopg.AsyncConnection.connect({dsn!r}, autocommit=True)
            await connection.execute("DROP TABLE precious")

        asyncio.run(go())
    """,
    "psycopg.pq.PGconn.connect": """
        import psycopg.pq

        psycopg.pq.PGconn.connect({dsn!r}.encode()).exec_(b"DROP TABLE precious")
    """,
    "psycopg.pq.PGconn.connect_start": """
        import time
        import psycopg.pq

        pgconn = psycopg.pq.PGconn.connect_start({dsn!r}.encode())
        while pgconn.connect_poll() not in (psycopg.pq.PollingStatus.OK, psycopg.pq.PollingStatus.FAILED):
            time.sleep(0.01)
        pgconn.exec_(b"DROP TABLE precious")
    """,
    "psycopg2.connect": """
        import psycopg2

        connection = psycopg2.connect({dsn!r})
        connection.cursor().execute("DROP TABLE precious")
        connection.commit()
    """,
    "psycopg2.extensions.connection": """
        import psycopg2.extensions

        connection = psycopg2.extensions.connection({dsn!r})
        connection.cursor().execute("DROP TABLE precious")
        connection.commit()
    """,
    "a subclass of psycopg2.extensions.connection": """
        import psycopg2.extensions

        class AuditedConnection(psycopg2.extensions.connection):
            def __init__(self, dsn):
                super().__init__(dsn)

        connection = AuditedConnection({dsn!r})
        connection.cursor().execute("DROP TABLE precious")
        connection.commit()
    """,
    "psycopg2.extras.DictConnection": """
        import psycopg2.extras

        connection = psycopg2.extras.DictConnection({dsn!r})
        connection.cursor().execute("DROP TABLE precious")
        connection.commit()
    """,
    "asyncpg.connect": """
        import asyncio
        import asyncpg

        async def go():
            connection = await asyncpg.connect(host={socket!r}, user="postgres", database={name!r})
            await connection.execute("DROP TABLE precious")

        asyncio.run(go())
    """,
    "asyncpg.create_pool": """
        import asyncio
        import asyncpg

        async def go():
            pool = await asyncpg.create_pool(host={socket!r}, user="postgres", database={name!r}, min_size=1)
            async with pool.acquire() as connection:
                await connection.execute("DROP TABLE precious")

        asyncio.run(go())
    """,
    "pg8000.native.Connection": """
        import pg8000.native

        pg8000.native.Connection("postgres", unix_sock={socket!r} + "/.s.PGSQL.5432", database={name!r}).run(
            "DROP TABLE precious"
        )
    """,
    "pg8000.dbapi.connect": """
        import pg8000.dbapi

        connection = pg8000.dbapi.connect("postgres", unix_sock={socket!r} + "/.s.PGSQL.5432", database={name!r})
        connection.cursor().execute("DROP TABLE precious")
        connection.commit()
    """,
    "SQLAlchemy sync engine on psycopg2": """
        import sqlalchemy

        engine = sqlalchemy.create_engine("postgresql+psycopg2://postgres@/{name}?host={socket}")
        with engine.begin() as connection:
            connection.execute(sqlalchemy.text("DROP TABLE precious"))
    """,
    "SQLAlchemy async engine on asyncpg": """
        import asyncio
        import sqlalchemy
        from sqlalchemy.ext.asyncio import create_async_engine

        async def go():
            engine = create_async_engine("postgresql+asyncpg://postgres@/{name}?host={socket}")
            async with engine.begin() as connection:
                await connection.execute(sqlalchemy.text("DROP TABLE precious"))

        asyncio.run(go())
    """,
}


@pytest.mark.parametrize(
    "path, borrowed",
    [(path, False) for path in sorted(DRIVER_PATHS)]
    # on a borrowed server the other database is on the run's own server (issue 23's two ways)
    + [("psycopg AsyncConnection.connect", True), ("psycopg.pq.PGconn.connect", True)],
)
def test_every_driver_path_is_guarded(copy_fixture, pg_server, developer_db, path, borrowed):
    before = developer_db.state()
    socket = str(pg_server.socket_dir)
    dsn = f"dbname={developer_db.name} host={socket} user=postgres password={PASSWORD}"
    snippet = textwrap.dedent(DRIVER_PATHS[path]).format(dsn=dsn, socket=socket, name=developer_db.name)
    root = copy_fixture("dryrun_clean")
    version = root / "migrations" / "versions" / "0002_create_orders.py"
    body = textwrap.indent(snippet, "    ")
    version.write_text(version.read_text().replace("def upgrade():\n", f"def upgrade():\n{body}\n", 1))
    result = _dryrun(str(root), *(("--server", pg_server.url) if borrowed else ()))
    _assert_stopped(result, "0002_create_orders.py:")
    assert developer_db.state() == before
