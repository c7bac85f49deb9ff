"""Shared PostgreSQL test helpers (a pytest plugin: ``pytest_plugins = ["tests.pg"]`` in conftest).

Fixtures:
* ``pg_binaries``: the server binaries (``PgBinaries``: ``.bindir``, ``.version``).
* ``pg_server``: one private PostgreSQL per test session, ``.url`` is a superuser
  ``postgresql+psycopg://postgres@/postgres?host=<socket dir>`` URL, ``.bindir``
  its binaries, ``.url_for(dbname)`` the URL of another database on it.
* ``pg_database``: a fresh empty database on that server per test, dropped after;
  the fixture's value is its URL.

The rule, kept only here: without server binaries a test that needs them is
skipped, except when ``CI=true``, where it fails (CI has the binaries).
Set ``MIGDOC_TEST_PG_BINDIR`` to choose the binaries.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from environment import is_ci  # noqa: F401  (re-exported: the one definition of "in CI")


def require_pg_binaries():
    """The server binaries, or skip (fail under CI) when there are none."""
    from migdoc.dryrun.binaries import find_binaries
    from migdoc.errors import EnvironmentProblem

    try:
        return find_binaries(os.environ.get("MIGDOC_TEST_PG_BINDIR") or None)
    except EnvironmentProblem as exc:
        if is_ci():
            pytest.fail(f"CI but no PostgreSQL server binaries: {exc}", pytrace=False)
        pytest.skip(f"no PostgreSQL server binaries: {exc}")


@dataclass(frozen=True)
class PgServerHandle:
    url: str
    bindir: Path
    version: str
    socket_dir: Path

    def url_for(self, database: str) -> str:
        return f"postgresql+psycopg://postgres@/{database}?host={self.socket_dir}"

    def connect(self, database: str = "postgres"):
        """A psycopg connection in autocommit mode."""
        import psycopg

        return psycopg.connect(host=str(self.socket_dir), user="postgres", dbname=database, autocommit=True)

    def databases(self) -> set[str]:
        with self.connect() as connection:
            rows = connection.execute("SELECT datname FROM pg_database WHERE NOT datistemplate").fetchall()
        return {row[0] for row in rows}


@pytest.fixture(scope="session")
def pg_binaries():
    return require_pg_binaries()


@pytest.fixture(scope="session")
def pg_server(pg_binaries) -> Iterator[PgServerHandle]:
    from migdoc.dryrun.cluster import PrivateServer

    server = PrivateServer(pg_binaries)
    server.start()
    try:
        assert server.run_dir is not None
        yield PgServerHandle(server.url, pg_binaries.bindir, pg_binaries.version, server.socket_dir)
    finally:
        server.stop()


@pytest.fixture
def pg_database(pg_server) -> Iterator[str]:
    name = f"test_{secrets.token_hex(6)}"
    with pg_server.connect() as connection:
        connection.execute(f'CREATE DATABASE "{name}" TEMPLATE template0')
    try:
        yield pg_server.url_for(name)
    finally:
        with pg_server.connect() as connection:
            connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
