"""Read-only access to a deployed database's ``alembic_version``. Touches a database.

Invariants:

- Nothing is ever written: the read runs in a read-only transaction (PostgreSQL,
  MySQL/MariaDB: ``SET TRANSACTION READ ONLY``; SQLite: ``PRAGMA query_only``,
  and a SQLite file that does not exist is refused rather than created), and
  that transaction is always rolled back.
- A password never leaves this module unmasked: every URL shown goes through
  :func:`migdoc.util.masking.mask_url`, which remembers the password so
  :func:`mask_secrets` can scrub it from any text (error messages,
  tracebacks) before it is printed.

SQLAlchemy is imported lazily so that importing migdoc's core pulls in no engine.
"""

from __future__ import annotations

import configparser
import math
import os
import threading
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from migdoc.errors import ConfigError, DatabaseError, EnvironmentProblem, UsageError, one_line
from migdoc.util.filesystem import read_regular_file
from migdoc.util.masking import mask_secrets, mask_url, remember_secret

__all__ = ["DeployedState", "configured_database_url", "read_deployed_revisions"]

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
        raise EnvironmentProblem(f"reading a database needs SQLAlchemy: {exc}", needs="sqlalchemy") from None

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
    timeout = database_timeout()
    connect_args: dict[str, object] = {}
    if parsed.get_backend_name() == "sqlite":
        parsed, connect_args = _read_only_sqlite(parsed, shown)
    try:
        connect_args.update(_timeout_args(parsed, timeout))  # names the driver: may raise NoSuchModuleError
        engine = create_engine(parsed, poolclass=NullPool, connect_args=connect_args)
    except NoSuchModuleError:
        raise DatabaseError(f"{shown}: unknown database dialect {parsed.drivername!r}", shown) from None
    except ImportError as exc:
        raise _driver_missing(shown, exc) from None
    except (ArgumentError, TypeError, ValueError) as exc:
        raise DatabaseError(mask_secrets(f"{shown}: invalid database URL: {one_line(exc)}"), shown) from None

    table = f"{schema}.{version_table}" if schema else version_table

    def read() -> list:
        with engine.connect() as connection:
            _begin_read_only(connection, timeout)
            try:
                if not inspect(connection).has_table(version_table, schema=schema):
                    raise DatabaseError(
                        f"{shown}: no {table} table: Alembic has never stamped this database "
                        "(or its env.py sets another version_table)",
                        shown,
                    )
                quoted = connection.dialect.identifier_preparer.format_table(_table(version_table, schema))
                return list(connection.execute(text(f"SELECT version_num FROM {quoted}")).scalars().all())
            finally:
                connection.rollback()

    try:
        # the driver's own timeouts end most waits cleanly; the watchdog ends any other
        rows = _within(_WATCHDOG_FACTOR * timeout + 5, shown, table, read)
    except DatabaseError:
        raise
    except SQLAlchemyError as exc:
        raise DatabaseError(f"{shown}: {describe_database_error(exc, timeout, table)}", shown) from None
    except ImportError as exc:
        raise _driver_missing(shown, exc) from None
    finally:
        engine.dispose()
    return DeployedState(shown, tuple(sorted(str(r) for r in rows if r is not None)), parsed.get_backend_name())


DEFAULT_TIMEOUT = 10.0
"""Seconds to connect, and seconds for any one statement, before giving up (MIGDOC_DATABASE_TIMEOUT)."""
_WATCHDOG_FACTOR = 4  # connect (1), then a statement (2): the driver's timeouts come first


def _driver_missing(shown: str, exc: ImportError) -> EnvironmentProblem:
    """The dialect's driver cannot be imported: when the engine is made, or on first connect."""
    return EnvironmentProblem(
        mask_secrets(f"{shown}: the database driver is not installed ({one_line(exc)})"),
        needs=getattr(exc, "name", None) or "the database driver",
    )


def database_timeout() -> float:
    """The timeout in seconds: ``MIGDOC_DATABASE_TIMEOUT`` when set, else :data:`DEFAULT_TIMEOUT`."""
    raw = os.environ.get("MIGDOC_DATABASE_TIMEOUT", "").strip()
    if not raw:
        return DEFAULT_TIMEOUT
    try:
        value = float(raw)
    except ValueError:
        value = 0.0
    if not 0 < value < 86_400:
        raise UsageError(
            f"MIGDOC_DATABASE_TIMEOUT={raw!r}: expected a number of seconds above 0",
            option="MIGDOC_DATABASE_TIMEOUT",
            value=raw,
        )
    return value


def _timeout_args(parsed, timeout: float) -> dict[str, object]:
    """Connect arguments that make the driver give up on its own, where it has them."""
    backend, driver = parsed.get_backend_name(), parsed.get_driver_name()
    if backend == "postgresql" and driver in ("psycopg", "psycopg2", "pg8000"):
        # libpq takes whole seconds and treats less than 2 as 2; pg8000 calls it timeout
        return {"timeout": timeout} if driver == "pg8000" else {"connect_timeout": max(2, math.ceil(timeout))}
    if backend in ("mysql", "mariadb") and driver in ("pymysql", "mysqldb"):
        return {"connect_timeout": max(1, math.ceil(timeout)), "read_timeout": max(1, math.ceil(timeout))}
    if backend == "sqlite":
        return {"timeout": timeout}  # how long to wait for another writer's lock
    return {}


def _within(seconds: float, shown: str, table: str, work):
    """``work()`` in a thread, given up after ``seconds``: a server that accepts the
    connection and never answers must not hang migdoc, whatever the driver does."""
    outcome: dict[str, object] = {}

    def target() -> None:
        try:
            outcome["value"] = work()
        except BaseException as exc:  # noqa: BLE001 - handed to the waiting thread, raised there
            outcome["error"] = exc

    thread = threading.Thread(target=target, name="migdoc-database-read", daemon=True)
    thread.start()
    thread.join(seconds)
    if thread.is_alive():
        raise DatabaseError(
            f"{shown}: no answer from the database within {seconds:g} s (reading {table}); "
            "MIGDOC_DATABASE_TIMEOUT sets the limit",
            shown,
        )
    if "error" in outcome:
        raise outcome["error"]  # type: ignore[misc]
    return outcome["value"]


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


def _begin_read_only(connection, timeout: float = DEFAULT_TIMEOUT) -> None:
    from sqlalchemy import text

    name = connection.dialect.name
    if name == "sqlite":
        # Autobegins the transaction; the file is also opened with mode=ro.
        connection.exec_driver_sql("PRAGMA query_only = ON")
    elif name in ("postgresql", "cockroachdb", "redshift"):
        connection.begin()
        connection.execute(text("SET TRANSACTION READ ONLY"))
        if name == "postgresql":
            # A lock on alembic_version (a migration running, an open ALTER) would block the
            # read for as long as it is held: give up, and say so, instead.
            # The statement gets twice as long, so a lock is named as the cause.
            milliseconds = max(1, int(timeout * 1000))
            connection.execute(text(f"SET LOCAL lock_timeout = {milliseconds}"))
            connection.execute(text(f"SET LOCAL statement_timeout = {2 * milliseconds}"))
    elif name in ("mysql", "mariadb"):
        connection.begin()
        connection.execute(text("SET TRANSACTION READ ONLY"))
    elif name == "oracle":
        connection.begin()
        connection.execute(text("SET TRANSACTION READ ONLY"))
    else:
        # Other dialects: only a SELECT runs, and the transaction is rolled back.
        connection.begin()


def describe_database_error(exc: BaseException, timeout: float = DEFAULT_TIMEOUT, table: str = VERSION_TABLE) -> str:
    """The driver's own first line, which names the real cause, with secrets masked."""
    original = getattr(exc, "orig", None) or exc
    message = str(original).strip().splitlines()
    first = message[0] if message else type(original).__name__
    lowered = first.lower()
    if "lock timeout" in lowered:
        first = (
            f"{table} stayed locked by another session for {timeout:g} s (a migration running?); "
            f"nothing was read ({first})"
        )
    elif "statement timeout" in lowered:
        first = f"the read of {table} took longer than {2 * timeout:g} s; nothing was read ({first})"
    elif "timeout expired" in lowered or "timed out" in lowered:
        first = (
            f"no answer from the database server within {timeout:g} s ({first}); MIGDOC_DATABASE_TIMEOUT sets the limit"
        )
    elif "password authentication failed" in lowered or "access denied" in lowered:
        first = f"wrong credentials ({first})"
    elif any(
        s in lowered
        for s in ("connection refused", "no such file or directory", "could not translate", "resolve host", "timeout")
    ):
        first = f"cannot reach the database server ({first})"
    return mask_secrets(one_line(first))


def configured_database_url(config_file: Path | None, section: str) -> str | None:
    """The ``sqlalchemy.url`` of the project's ini section, read as Alembic's
    ``Config.get_main_option`` reads it (``%(here)s`` is the ini's folder, ``%%`` a percent
    sign): what ``alembic current`` connects to when env.py takes the URL from the config.
    ``None`` when the configuration sets none (env.py may build it: then ``--database-url``).
    Raises ConfigError, with the value masked, where Alembic's interpolation would fail."""
    if config_file is None or config_file.suffix != ".ini":
        return None
    parser = configparser.ConfigParser(defaults={"here": str(config_file.parent.resolve())})
    try:
        parser.read_string(read_regular_file(config_file).decode("utf-8"), source=str(config_file))
        if not parser.has_option(section, "sqlalchemy.url"):
            return None
        raw = parser.get(section, "sqlalchemy.url", raw=True)
        remember_secret(urlsplit(raw).password if "://" in raw else None)
        url = parser.get(section, "sqlalchemy.url").strip()
    except (OSError, UnicodeDecodeError, ValueError, configparser.Error) as exc:
        raise ConfigError(
            f"{config_file}: cannot read [{section}] sqlalchemy.url: {mask_secrets(one_line(exc))}", str(config_file)
        ) from None
    return url or None
