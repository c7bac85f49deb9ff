"""Read-only access to alembic_version, URL masking, and bad database input."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from click.testing import CliRunner

from migdoc.cli import cli
from migdoc.database.deployed import read_deployed_revisions
from migdoc.errors import DatabaseError
from migdoc.util.masking import mask_secrets, mask_url, remember_secret


def run(*args: str, env: dict[str, str] | None = None):
    return CliRunner().invoke(cli, list(args), env=env)


def stamp_sqlite(path, *revisions: str) -> None:
    connection = sqlite3.connect(path)
    connection.execute("CREATE TABLE alembic_version (version_num VARCHAR(32) NOT NULL PRIMARY KEY)")
    connection.executemany("INSERT INTO alembic_version VALUES (?)", [(r,) for r in revisions])
    connection.commit()
    connection.close()


# -- masking ----------------------------------------------------------------


def test_mask_url_hides_the_password_and_keeps_the_rest():
    assert mask_url("postgresql+psycopg://app:s3cr%40t@db.internal:5432/shop") == (
        "postgresql+psycopg://app:***@db.internal:5432/shop"
    )
    assert mask_url("sqlite:///x.db") == "sqlite:///x.db"


def test_mask_secrets_scrubs_urls_keywords_and_remembered_passwords():
    remember_secret("correct-horse")
    text = "connect postgresql://u:pw1@h/d failed; dsn password=abc123 user=u; echo correct-horse"
    masked = mask_secrets(text)
    assert "pw1" not in masked and "abc123" not in masked and "correct-horse" not in masked
    assert "postgresql://u:***@h/d" in masked


def test_an_unparseable_url_is_still_masked():
    assert "hunter2" not in mask_url("not a url://bob:hunter2@somewhere")


def test_a_bug_traceback_is_masked(monkeypatch, in_tmp):
    """Exit 3 prints a traceback: the password in it is masked too."""
    import migdoc.doctor

    def explode(*args, **kwargs):
        raise RuntimeError("boom while talking to postgresql://app:topsecret99@db/shop")

    monkeypatch.setattr(migdoc.doctor, "project_status", explode)
    (in_tmp / "versions").mkdir()
    (in_tmp / "versions" / "a.py").write_text('revision = "a"\ndown_revision = None\n')
    result = run("status", "versions", "--database-url", "postgresql://app:topsecret99@db/shop")
    assert result.exit_code == 3
    assert "Traceback" in result.output and "topsecret99" not in result.output


# -- sqlite: any SQLAlchemy URL works, nothing is written --------------------


def test_reads_alembic_version_from_sqlite(tmp_path):
    database = tmp_path / "app.db"
    stamp_sqlite(database, "0003", "0002b")
    before = database.read_bytes()
    state = read_deployed_revisions(f"sqlite:///{database}")
    assert state.revisions == ("0002b", "0003")
    assert state.dialect == "sqlite"
    assert database.read_bytes() == before


def test_a_missing_sqlite_file_is_refused_not_created(tmp_path):
    database = tmp_path / "nope.db"
    with pytest.raises(DatabaseError, match="no such database file"):
        read_deployed_revisions(f"sqlite:///{database}")
    assert not database.exists()


def test_sqlite_without_alembic_version(tmp_path):
    database = tmp_path / "empty.db"
    sqlite3.connect(database).execute("CREATE TABLE t (x INT)").connection.close()
    with pytest.raises(DatabaseError, match="no alembic_version table"):
        read_deployed_revisions(f"sqlite:///{database}")


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("not-a-url", "not a database URL"),
        ("nosuchdialect://u:pw-in-url@h/d", "unknown database dialect"),
    ],
)
def test_bad_urls_are_one_line_exit_2(copy_fixture, url, expected):
    copy_fixture("deploy_chain")
    for command in ("status", "check"):
        result = run(command, "deploy_chain", "--database-url", url)
        assert result.exit_code == 2, result.output
        assert expected in result.output
        assert result.output.strip().count("\n") == 0
        assert "pw-in-url" not in result.output
        assert "Traceback" not in result.output


def test_unreachable_server_is_one_line_exit_2(copy_fixture, tmp_path):
    copy_fixture("deploy_chain")
    url = f"postgresql+psycopg://app:pa55word@/shop?host={tmp_path}/no-server-here"
    for command in ("status", "check"):
        result = run(command, "deploy_chain", "--database-url", url)
        assert result.exit_code == 2, result.output
        assert "cannot reach the database server" in result.output
        assert result.output.strip().count("\n") == 0
        assert "pa55word" not in result.output


def test_database_url_from_environment(copy_fixture):
    root = copy_fixture("deploy_chain")
    stamp_sqlite(root.parent / "app.db", "0004")
    result = run("status", "deploy_chain", env={"MIGDOC_DATABASE_URL": "sqlite:///app.db"})
    assert result.exit_code == 0, result.output
    assert "nothing to run, the database is up to date" in result.output


def test_status_without_a_database_url_reads_the_configured_one(copy_fixture):
    """As `alembic current`: the ini's sqlalchemy.url (here a server nobody runs: one line, exit 2)."""
    root = copy_fixture("deploy_chain")
    ini = root / "alembic.ini"
    ini.write_text(
        ini.read_text().replace("postgresql+psycopg://localhost/shop", "postgresql+psycopg://127.0.0.1:1/shop")
    )
    result = run("status", "deploy_chain", env={"MIGDOC_DATABASE_URL": ""})
    assert result.exit_code == 2
    assert "127.0.0.1:1/shop: cannot reach the database server" in result.output


# -- PostgreSQL ---------------------------------------------------------------


@pytest.mark.postgres
def test_postgres_read_is_read_only_and_rolled_back(pg_server, pg_database):
    from sqlalchemy.engine import make_url

    name = make_url(pg_database).database
    with pg_server.connect(name) as connection:
        connection.execute("CREATE TABLE alembic_version (version_num varchar(32) PRIMARY KEY)")
        connection.execute("INSERT INTO alembic_version VALUES ('0002')")
    state = read_deployed_revisions(pg_database)
    assert state.revisions == ("0002",)
    assert state.dialect == "postgresql"
    with pg_server.connect(name) as connection:
        rows = connection.execute("SELECT version_num FROM alembic_version").fetchall()
        tables = connection.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY 1").fetchall()
    assert rows == [("0002",)]
    assert tables == [("alembic_version",)]


@pytest.mark.postgres
def test_postgres_transaction_refuses_writes(pg_database, monkeypatch):
    """The read runs under SET TRANSACTION READ ONLY: a write there fails."""
    from sqlalchemy import create_engine, text
    from sqlalchemy.exc import InternalError, OperationalError, ProgrammingError
    from sqlalchemy.pool import NullPool

    import migdoc.database.deployed as database

    engine = create_engine(pg_database, poolclass=NullPool)
    try:
        with engine.connect() as connection:
            database._begin_read_only(connection)
            with pytest.raises((InternalError, OperationalError, ProgrammingError), match="read-only transaction"):
                connection.execute(text("CREATE TABLE should_not_exist (x int)"))
            connection.rollback()
    finally:
        engine.dispose()


@pytest.mark.postgres
def test_postgres_without_alembic_version(copy_fixture, pg_database):
    copy_fixture("deploy_chain")
    for command in ("status", "check"):
        result = run(command, "deploy_chain", "--database-url", pg_database)
        assert result.exit_code == 2, result.output
        assert "no alembic_version table" in result.output
        assert result.output.strip().count("\n") == 0


@pytest.mark.postgres
def test_postgres_wrong_credentials_are_masked(copy_fixture, pg_server):
    copy_fixture("deploy_chain")
    url = f"postgresql+psycopg://intruder:hunter22@/postgres?host={pg_server.socket_dir}"
    for command in ("status", "check"):
        result = run(command, "deploy_chain", "--database-url", url)
        assert result.exit_code == 2, result.output
        assert 'role "intruder" does not exist' in result.output
        assert "intruder:***@" in result.output
        assert "hunter22" not in result.output
        assert result.output.strip().count("\n") == 0


@pytest.fixture
def password_role(pg_server):
    """A role that must give its password (scram over the socket; the test server trusts everyone else)."""
    role, password = "locked_role", "right-horse-battery"
    with pg_server.connect() as connection:
        connection.execute("SET password_encryption = 'scram-sha-256'")
        connection.execute(f"DROP ROLE IF EXISTS {role}")
        connection.execute(f"CREATE ROLE {role} LOGIN PASSWORD '{password}'")
        hba = Path(connection.execute("SHOW hba_file").fetchone()[0])
        before = hba.read_text()
        hba.write_text(f"local all {role} scram-sha-256\n{before}")  # first match wins
        connection.execute("SELECT pg_reload_conf()")
    try:
        yield role, password
    finally:
        hba.write_text(before)
        with pg_server.connect() as connection:
            connection.execute("SELECT pg_reload_conf()")
            connection.execute(f"DROP ROLE IF EXISTS {role}")


@pytest.mark.postgres
def test_postgres_wrong_password_is_one_masked_line(copy_fixture, pg_server, password_role):
    copy_fixture("deploy_chain")
    role, password = password_role
    host = f"host={pg_server.socket_dir}"
    right = run("status", "deploy_chain", "--database-url", f"postgresql+psycopg://{role}:{password}@/postgres?{host}")
    assert "no alembic_version table" in right.output, right.output  # in with its password: the table is missing
    assert password not in right.output
    for command in ("status", "check"):
        result = run(
            command, "deploy_chain", "--database-url", f"postgresql+psycopg://{role}:wrong-guess@/postgres?{host}"
        )
        assert result.exit_code == 2, result.output
        assert f'password authentication failed for user "{role}"' in result.output
        assert f"{role}:***@" in result.output
        assert "wrong-guess" not in result.output
        assert result.output.strip().count("\n") == 0


@pytest.mark.postgres
def test_postgres_missing_database(copy_fixture, pg_server):
    copy_fixture("deploy_chain")
    before = pg_server.databases()
    result = run("status", "deploy_chain", "--database-url", pg_server.url_for("no_such_db"))
    assert result.exit_code == 2
    assert 'database "no_such_db" does not exist' in result.output
    assert pg_server.databases() == before
