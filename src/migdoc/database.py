"""Read-only access to a deployed database's ``alembic_version``. Touches a database.

Invariants:

- Nothing is ever written: the read runs in a read-only transaction (PostgreSQL,
  MySQL/MariaDB: ``SET TRANSACTION READ ONLY``; SQLite: ``PRAGMA query_only``,
  and a SQLite file that does not exist is refused rather than created), and
  that transaction is always rolled back.
- A password never leaves this module unmasked: every URL shown is masked, and
  every password seen is remembered so :func:`mask_secrets` can scrub it from
  any text (error messages, tracebacks) before it is printed.

SQLAlchemy is imported lazily so that importing migdoc's core pulls in no engine.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import unquote

from migdoc.errors import DatabaseError, EnvironmentProblem

VERSION_TABLE = "alembic_version"
MASK = "***"

_SECRETS: set[str] = set()
# scheme://user:password@host -> scheme://user:***@host, in any text.
_URL_PASSWORD = re.compile(r"(?P<head>\b[A-Za-z][A-Za-z0-9+.\-]*://[^\s:/@'\"]*:)(?P<password>[^\s@'\"]*)(?=@)")
# libpq keyword form and query parameters: password=secret
_KEYWORD_PASSWORD = re.compile(r"(?P<head>\bpassword\s*=\s*)(?P<password>'[^']*'|\"[^\"]*\"|[^\s&;,)]+)", re.I)


def remember_secret(secret: str | None) -> None:
    """Remember ``secret`` (and its URL-decoded form) so later output is scrubbed of it."""
    if secret:
        _SECRETS.add(secret)
        _SECRETS.add(unquote(secret))


def mask_secrets(text: str) -> str:
    """``text`` with every URL password, ``password=...`` and remembered secret masked."""
    text = _URL_PASSWORD.sub(lambda m: m.group("head") + (MASK if m.group("password") else ""), text)
    text = _KEYWORD_PASSWORD.sub(lambda m: m.group("head") + MASK, text)
    for secret in sorted(_SECRETS, key=len, reverse=True):
        if len(secret) >= 3:
            text = text.replace(secret, MASK)
    return text


def mask_url(url: str) -> str:
    """The URL as it may be shown: password replaced by ``***``. Never raises."""
    try:
        from sqlalchemy.engine import make_url

        parsed = make_url(url)
    except Exception:  # noqa: BLE001 - an unparseable URL is still masked textually
        _remember_textual_password(url)
        return mask_secrets(url)
    remember_secret(parsed.password if isinstance(parsed.password, str) else None)
    for key in ("password", "sslpassword"):
        value = parsed.query.get(key)
        if isinstance(value, str):
            remember_secret(value)
    return mask_secrets(parsed.render_as_string(hide_password=True))


def _remember_textual_password(url: str) -> None:
    match = _URL_PASSWORD.search(url)
    if match:
        remember_secret(match.group("password"))


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

    database = parsed.database or ""
    if database in ("", ":memory:"):
        raise DatabaseError(f"{shown}: an in-memory SQLite database holds no alembic_version", shown)
    if database.startswith("file:"):
        return parsed, {}
    path = Path(database)
    if not path.is_file():
        raise DatabaseError(f"{shown}: no such database file", shown)
    uri = "file:" + path.resolve().as_posix() + "?mode=ro"
    return parsed.set(database=uri, query={**parsed.query, "uri": "true"}), {}


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
