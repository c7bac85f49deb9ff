"""A deployed PostgreSQL database read for the dry-run: its schema (``pg_dump --schema-only``,
no rows), its tables' estimated sizes and its ``alembic_version`` rows. Touches a database.

Read-only on every path: the SQLAlchemy reads run in a ``READ ONLY`` transaction that is
rolled back, and every session (pg_dump's too) starts with ``default_transaction_read_only``
on, so even a statement outside that transaction could not write.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from migdoc.errors import DatabaseError, EnvironmentProblem, UsageError, one_line
from migdoc.util.masking import mask_secrets, mask_url

READ_ONLY_OPTIONS = "-c default_transaction_read_only=on"
"""libpq's PGOPTIONS / ``options``: every transaction of the session is read-only."""

_SIZES_SQL = """
SELECT n.nspname, c.relname, c.reltuples, c.relpages
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE c.relkind IN ('r', 'p', 'm')
  AND n.nspname NOT IN ('pg_catalog', 'information_schema')
  AND left(n.nspname, 8) NOT IN ('pg_toast', 'pg_temp_')
"""


@dataclass(frozen=True)
class DeployedSchema:
    """What the dry-run starts from instead of an empty database."""

    url: str
    """Masked."""
    sql: str
    """The schema as SQL (pg_dump --schema-only --no-owner --no-privileges), ready to run."""
    revisions: tuple[str, ...]
    """``alembic_version`` rows; empty: never stamped (the chain runs from base)."""
    sizes: dict[str, tuple[int, int]]
    """Relation name (``schema.name``; ``public`` tables also by bare name) -> (rows, pages)."""


def _engine(url: str):
    from sqlalchemy import create_engine
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError, NoSuchModuleError
    from sqlalchemy.pool import NullPool

    shown = mask_url(url)
    try:
        parsed = make_url(url)
    except (ArgumentError, ValueError):
        raise DatabaseError(f"{shown}: not a database URL (expected postgresql://user@host/dbname)", shown) from None
    if parsed.get_backend_name() != "postgresql":
        raise UsageError(
            f"{shown}: the deployed schema can be read from PostgreSQL only (this is {parsed.get_backend_name()})",
            option="--database-url",
        )
    try:
        # libpq's drivers take the session option; the others rely on the READ ONLY transaction
        libpq = parsed.get_driver_name() in ("psycopg", "psycopg2")
        connect_args = {"options": READ_ONLY_OPTIONS} if libpq else {}
        return parsed, create_engine(parsed, poolclass=NullPool, connect_args=connect_args)
    except NoSuchModuleError:
        raise DatabaseError(f"{shown}: unknown database dialect {parsed.drivername!r}", shown) from None
    except ImportError as exc:
        raise EnvironmentProblem(f"{shown}: the database driver is not installed ({one_line(exc)})") from None


@contextlib.contextmanager
def read_only_connection(url: str) -> Iterator[object]:
    """A connection in a read-only transaction, rolled back afterwards; errors in one line."""
    from sqlalchemy import text
    from sqlalchemy.exc import SQLAlchemyError

    from migdoc.database.deployed import database_timeout, describe_database_error

    shown = mask_url(url)
    _, engine = _engine(url)
    timeout = database_timeout()
    try:
        with engine.connect() as connection:
            connection.begin()
            connection.execute(text("SET TRANSACTION READ ONLY"))
            connection.execute(text(f"SET LOCAL statement_timeout = {max(1, int(timeout * 1000 * 6))}"))
            try:
                yield connection
            finally:
                connection.rollback()
    except SQLAlchemyError as exc:
        raise DatabaseError(f"{shown}: {describe_database_error(exc, timeout)}", shown) from None
    finally:
        engine.dispose()


def stamped_revisions(connection, version_table: str = "alembic_version") -> tuple[str, ...]:
    from sqlalchemy import inspect, text

    if not inspect(connection).has_table(version_table):
        return ()
    rows = connection.execute(text(f'SELECT version_num FROM "{version_table}"')).scalars().all()
    return tuple(sorted(str(row) for row in rows if row is not None))


def relation_sizes(connection) -> dict[str, tuple[int, int]]:
    """Estimated rows and pages of every table (``reltuples`` is -1 before the first ANALYZE: 0)."""
    from sqlalchemy import text

    sizes: dict[str, tuple[int, int]] = {}
    for schema, name, rows, pages in connection.execute(text(_SIZES_SQL)).all():
        size = (max(0, int(rows)), int(pages))
        sizes[f"{schema}.{name}"] = size
        if schema == "public":
            sizes[name] = size  # the lock report names a table as the migration does
    return sizes


def find_pg_dump(pg_bindir: str | None = None) -> Path:
    """pg_dump beside the server binaries the dry-run uses, else on PATH."""
    candidates: list[Path] = []
    if pg_bindir:
        candidates.append(Path(pg_bindir) / "pg_dump")
    with contextlib.suppress(Exception):  # no server binaries: PATH may still have a client
        from migdoc.dryrun.binaries import find_binaries

        candidates.append(find_binaries(pg_bindir).bindir / "pg_dump")
    found = shutil.which("pg_dump")
    if found:
        candidates.append(Path(found))
    for candidate in candidates:
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return candidate
    raise EnvironmentProblem(
        "--from-database needs pg_dump (PostgreSQL's client binaries) to copy the deployed schema: none found "
        "beside the server binaries or on PATH",
        needs="pg_dump",
        remedy="install the PostgreSQL client, or pass --pg-bindir",
    )


def _libpq_environment(parsed) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith("PG")}
    host = parsed.query.get("host")
    host = host if isinstance(host, str) else parsed.host
    for key, value in (
        ("PGHOST", host),
        ("PGPORT", str(parsed.port) if parsed.port else None),
        ("PGUSER", parsed.username),
        ("PGPASSWORD", parsed.password),
        ("PGDATABASE", parsed.database),
    ):
        if value:
            env[key] = str(value)
    env["PGOPTIONS"] = READ_ONLY_OPTIONS
    env["PGCONNECT_TIMEOUT"] = "10"
    return env


def dump_schema(url: str, pg_dump: Path) -> str:
    """``pg_dump --schema-only`` of the database: tables, indexes, constraints, types,
    functions, no rows, no owners, no grants. pg_dump reads in one read-only snapshot."""
    parsed, _ = _engine(url)
    shown = mask_url(url)
    try:
        done = subprocess.run(
            [str(pg_dump), "--schema-only", "--no-owner", "--no-privileges", "--no-comments"],
            env=_libpq_environment(parsed),
            capture_output=True,
            timeout=600,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise DatabaseError(f"{shown}: pg_dump --schema-only failed: {one_line(exc)}", shown) from None
    if done.returncode != 0:
        error = done.stderr.decode("utf-8", "replace").strip().splitlines() or ["no message"]
        raise DatabaseError(mask_secrets(f"{shown}: pg_dump --schema-only failed: {error[0]}"), shown)
    return runnable(done.stdout.decode("utf-8"))


def runnable(dump: str) -> str:
    """The dump as one batch a driver can run: psql's meta-commands (``\\restrict``) left
    out, and the session's search_path, which the dump empties, restored after it."""
    lines = [line for line in dump.splitlines() if not line.startswith("\\")]
    return "\n".join(lines) + "\nRESET search_path;\n"


def read_deployed_schema(url: str, pg_bindir: str | None = None) -> DeployedSchema:
    """The deployed database's revisions, sizes and schema, all read-only."""
    pg_dump = find_pg_dump(pg_bindir)
    with read_only_connection(url) as connection:
        revisions = stamped_revisions(connection)
        sizes = relation_sizes(connection)
    return DeployedSchema(mask_url(url), dump_schema(url, pg_dump), revisions, sizes)
