"""Read-only access to a deployed database's ``alembic_version``. Touches a database.

Invariants:

- Nothing is ever written: the read runs in a read-only transaction (PostgreSQL,
  MySQL/MariaDB: ``SET TRANSACTION READ ONLY``; SQLite: ``PRAGMA query_only``,
  and a SQLite file that does not exist is refused rather than created), and
  that transaction is always rolled back.
- A password never leaves this module unmasked: every URL shown goes through
  :func:`migdoc.masking.mask_url`, which remembers the password so
  :func:`mask_secrets` can scrub it from any text (error messages,
  tracebacks) before it is printed.

SQLAlchemy is imported lazily so that importing migdoc's core pulls in no engine.
"""

from __future__ import annotations

from dataclasses import dataclass

from migdoc.errors import DatabaseError, EnvironmentProblem
from migdoc.masking import MASK, mask_secrets, mask_url, remember_secret

__all__ = ["MASK", "DeployedState", "mask_secrets", "mask_url", "read_deployed_revisions", "remember_secret"]

VERSION_TABLE = "alembic_version"


@dataclass(frozen=True)
class DeployedState:
    """What a database says it has applied: the rows of its version table."""

    url: str
    """Masked."""
    revisions: tuple[str, ...]
    """Sorted ``version_num`` values; several when the database sits on several branches."""
    dialect: str


def read_deployed_revisions(url: str, version_table: str = VERSION_TABLE, schema: str | None = None) -> DeployedState:
    """Read ``version_num`` from the version table, read-only. Raises DatabaseError.

    Any SQLAlchemy URL works. The connection is opened, one read-only
    transaction reads the table, and the transaction is rolled back.
    """
    shown = mask_url(url)
    try:
        from sqlalchemy import create_engine, inspect, text
        from sqlalchemy.engine import make_url
        from sqlalchemy.exc import ArgumentError, NoSuchModuleError, SQLAlchemyError
        from sqlalchemy.pool import NullPool
    except ImportError as exc:  # pragma: no cover - sqlalchemy is a dependency
        raise EnvironmentProblem(f"reading a database needs SQLAlchemy: {exc}") from None

    try:
        parsed = make_url(url)
    except ArgumentError:
        raise DatabaseError(
            f"{shown}: not a database URL (expected dialect+driver://user@host/dbname)", shown
        ) from None
    except ValueError:  # SQLAlchemy reads the port with int(): "host:notaport", "host:1:2", "[::1/db"
        raise DatabaseError(
            f"{shown}: not a database URL: its port is not a number (expected dialect+driver://user@host:port/dbname)",
            shown,
        ) from None
    connect_args: dict[str, object] = {}
    if parsed.get_backend_name() == "sqlite":
        parsed, connect_args = _read_only_sqlite(parsed, shown)
    try:
        engine = create_engine(parsed, poolclass=NullPool, connect_args=connect_args)
    except NoSuchModuleError:
        raise DatabaseError(f"{shown}: unknown database dialect {parsed.drivername!r}", shown) from None
    except ImportError as exc:
        raise EnvironmentProblem(
            mask_secrets(f"{shown}: the database driver is not installed ({_one_line(exc)})")
        ) from None
    except (ArgumentError, TypeError, ValueError) as exc:
        raise DatabaseError(mask_secrets(f"{shown}: invalid database URL: {_one_line(exc)}"), shown) from None

    table = f"{schema}.{version_table}" if schema else version_table
    try:
        with engine.connect() as connection:
            _begin_read_only(connection)
            try:
                if not inspect(connection).has_table(version_table, schema=schema):
                    raise DatabaseError(
                        f"{shown}: no {table} table: Alembic has never stamped this database "
                        "(or its env.py sets another version_table)",
                        shown,
                    )
                quoted = connection.dialect.identifier_preparer.format_table(_table(version_table, schema))
                rows = connection.execute(text(f"SELECT version_num FROM {quoted}")).scalars().all()
            finally:
                connection.rollback()
    except DatabaseError:
        raise
    except SQLAlchemyError as exc:
        raise DatabaseError(f"{shown}: {_describe(exc)}", shown) from None
    except ImportError as exc:
        raise EnvironmentProblem(
            mask_secrets(f"{shown}: the database driver is not installed ({_one_line(exc)})")
        ) from None
    finally:
        engine.dispose()
    return DeployedState(shown, tuple(sorted(str(r) for r in rows if r is not None)), parsed.get_backend_name())


def _table(name: str, schema: str | None):
    from sqlalchemy import Column, MetaData, String, Table

    return Table(name, MetaData(), Column("version_num", String(32)), schema=schema)


def _read_only_sqlite(parsed, shown: str):
    """SQLite creates a missing file on connect: refuse instead, and open read-only."""
    from pathlib import Path
    from urllib.parse import quote

    database = parsed.database or ""
    if database in ("", ":memory:"):
        raise DatabaseError(f"{shown}: an in-memory SQLite database holds no alembic_version", shown)
    if database.startswith("file:"):
        # An SQLite URI (``?uri=true``) creates its file as readily as a path does
        # (and ``mode=rwc`` says so): read its path, then open it like any other.
        from urllib.parse import unquote, urlsplit

        parts = urlsplit(database)
        if parts.netloc not in ("", "localhost"):
            raise DatabaseError(f"{shown}: an SQLite URI names a host ({parts.netloc}); only local files", shown)
        database = unquote(parts.path)
    path = Path(database)
    if not path.is_file():
        raise DatabaseError(f"{shown}: no such database file", shown)
    uri = "file:" + quote(path.resolve().as_posix()) + "?mode=ro"
    query = {key: value for key, value in parsed.query.items() if key not in ("mode", "uri")}
    return parsed.set(database=uri, query={**query, "uri": "true"}), {}


def _begin_read_only(connection) -> None:
    from sqlalchemy import text

    name = connection.dialect.name
    if name == "sqlite":
        # Autobegins the transaction; the file is also opened with mode=ro.
        connection.exec_driver_sql("PRAGMA query_only = ON")
    elif name in ("postgresql", "mysql", "mariadb", "cockroachdb", "redshift"):
        connection.begin()
        connection.execute(text("SET TRANSACTION READ ONLY"))
    elif name == "oracle":
        connection.begin()
        connection.execute(text("SET TRANSACTION READ ONLY"))
    else:
        # Other dialects: only a SELECT runs, and the transaction is rolled back.
        connection.begin()


def _describe(exc: BaseException) -> str:
    """The driver's own first line, which names the real cause, with secrets masked."""
    original = getattr(exc, "orig", None) or exc
    message = str(original).strip().splitlines()
    first = message[0] if message else type(original).__name__
    lowered = first.lower()
    if "password authentication failed" in lowered or "access denied" in lowered:
        first = f"wrong credentials ({first})"
    elif any(
        s in lowered
        for s in ("connection refused", "no such file or directory", "could not translate", "resolve host", "timeout")
    ):
        first = f"cannot reach the database server ({first})"
    return mask_secrets(_one_line(first))


def _one_line(value: object) -> str:
    return " ".join(str(value).split())
