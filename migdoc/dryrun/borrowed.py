"""A borrowed server: a fresh database on a server the user names (``--server``), created
from ``template0``, stamped as migdoc's, and dropped ``WITH (FORCE)`` afterwards; dead
runs' databases are swept. Touches a database."""

from __future__ import annotations

import contextlib
import json
import os
import re
import secrets
import sys
from collections.abc import Iterator

from migdoc import owner
from migdoc.errors import DatabaseError, first_line
from migdoc.masking import mask_url

# --- a borrowed server -----------------------------------------------------------


def normalise_url(url: str) -> str:
    """Use the installed psycopg (3) driver for plain ``postgresql://`` URLs."""
    for prefix in ("postgresql://", "postgres://", "postgresql+psycopg2://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


@contextlib.contextmanager
def borrowed_database(url: str, token: str | None = None) -> Iterator[str]:
    """Create a fresh database on the server at ``url``, yield its URL, drop it afterwards.

    Never touches the database ``url`` names except to connect to it. ``token``:
    the run's secret, set on the new database only (the connection guard's proof)."""
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError, SQLAlchemyError

    try:
        parsed = make_url(normalise_url(url))
    except (ArgumentError, ValueError) as exc:  # ValueError: a port such as "notaport"
        raise DatabaseError(f"not a database URL: {mask_url(url)}", mask_url(url)) from exc
    if not parsed.drivername.startswith("postgresql"):
        raise DatabaseError(f"the dry-run needs PostgreSQL, not {parsed.drivername}: {mask_url(url)}", mask_url(url))
    admin = create_engine(parsed, isolation_level="AUTOCOMMIT", poolclass=_null_pool())
    name = f"{DATABASE_PREFIX}{os.getpid()}_{secrets.token_hex(6)}"
    try:
        with admin.connect() as connection:
            sweep_dead_databases(connection)
            connection.execute(text(f"CREATE DATABASE \"{name}\" TEMPLATE template0 ENCODING 'UTF8'"))
            # The run's token goes into the database's own comment, which every session on
            # this database (and only on it) reads back: ALTER DATABASE ... SET of a custom
            # setting needs a superuser, a comment only the database's owner, which we are.
            _stamp_database(connection, name, token)
    except SQLAlchemyError as exc:
        admin.dispose()
        raise DatabaseError(f"cannot use {mask_url(url)}: {first_line(exc)}", mask_url(url)) from exc
    try:
        yield parsed.set(database=name).render_as_string(hide_password=False)
    finally:
        try:
            with admin.connect() as connection:
                connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        except SQLAlchemyError as exc:
            print(f"migdoc: warning: could not drop database {name}: {first_line(exc)}", file=sys.stderr)
        finally:
            admin.dispose()


DATABASE_PREFIX = "migdoc_dryrun_"
_DATABASE_NAME = re.compile(re.escape(DATABASE_PREFIX) + r"[0-9a-z_]{1,40}")


def _stamp_database(connection, name: str, token: str | None = None) -> None:
    """Say on the database who made it (pid, host, start time): a run killed before its
    clean-up leaves a database the next run on this server can prove dead and drop. With
    ``token``, the comment is also the connection guard's proof, so it must be written."""
    from sqlalchemy import text
    from sqlalchemy.exc import SQLAlchemyError

    from migdoc.dryrun.drivers import COMMENT_TOKEN_KEY

    fields = {"migdoc": "dryrun", **owner.this_process()}
    if token is not None:
        fields[COMMENT_TOKEN_KEY] = token
    stamp = json.dumps(fields).replace("'", "''")
    statement = text(f"COMMENT ON DATABASE \"{name}\" IS '{stamp}'".replace(":", "\\:"))
    if token is not None:
        connection.execute(statement)
        return
    with contextlib.suppress(SQLAlchemyError):
        connection.execute(statement)


def sweep_dead_databases(connection) -> list[str]:
    """Drop ``migdoc_dryrun_*`` databases whose comment names a migdoc dry-run of this host
    that is gone (killed before it could drop its database). Nothing else: a database
    without migdoc's comment, or made from another host, is left as it is."""
    from sqlalchemy import text
    from sqlalchemy.exc import SQLAlchemyError

    dropped = []
    try:
        rows = connection.execute(
            text(
                "SELECT datname, shobj_description(oid, 'pg_database') FROM pg_database "
                "WHERE datname LIKE 'migdoc\\_dryrun\\_%'"
            )
        ).fetchall()
    except SQLAlchemyError:
        return dropped
    for name, comment in rows:
        if not _DATABASE_NAME.fullmatch(name) or not comment:
            continue
        try:
            stamp = json.loads(comment)
        except (ValueError, RecursionError):
            continue
        if not isinstance(stamp, dict) or stamp.get("migdoc") != "dryrun" or not owner.is_dead(stamp):
            continue
        with contextlib.suppress(SQLAlchemyError):
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            dropped.append(name)
    return dropped


def _null_pool():
    from sqlalchemy.pool import NullPool

    return NullPool
