"""The connection guard: while the project's code runs, every database connection
must prove it is the run's own throwaway database before anything runs on it.

The proof is two facts read from the server on the new connection:
``current_setting('migdoc.run_token', true)`` equals a secret made for this run
(a private server is started with it, ``-c migdoc.run_token=...``; on a borrowed
server it is set on the run's database only, ``ALTER DATABASE ... SET``), and
``current_database()`` is the run's database. A connection anywhere else
(another database, another server, another dialect) is closed before its first
statement and the run stops (``ForeignConnection``, turned into exit 2).

Hooks, installed only while the guard is active, so that no way env.py may open
a connection escapes them:

* SQLAlchemy's ``do_connect`` (any engine, whenever it was made): a dialect that
  is not PostgreSQL is refused before its driver connects (no SQLite file is made).
* SQLAlchemy's pool ``connect`` (every new DBAPI connection, also one made by a
  ``creator=`` function): the proof, before the dialect's own first queries.
* the pool's ``checkout``: a connection pooled before the guard started is proved too.
* ``MigrationContext.configure``: the connection Alembic will run on (for example
  one handed in through ``config.attributes``) is proved before Alembic's first
  statement.
* every way a driver opens a connection without SQLAlchemy, when that driver is installed:
  psycopg 3's ``Connection.connect`` (``psycopg.connect``), ``AsyncConnection.connect`` and
  its libpq layer ``psycopg.pq.PGconn.connect``/``connect_start``; psycopg2's ``connect``
  and its ``extensions.connection`` class (made directly or subclassed, as
  ``psycopg2.extras.DictConnection`` is); asyncpg's one way in, under ``connect`` and
  ``create_pool``; pg8000's ``CoreConnection`` (under every pg8000 interface).

What no Python hook sees, a connection the *server* opens (dblink, postgres_fdw), is
the run role's business: see ``borrowed`` (a borrowed server runs the project's code as a
role that cannot create those extensions).
"""

from __future__ import annotations

import contextlib
import inspect
import json
import sys
import threading
from dataclasses import dataclass
from pathlib import Path

from migdoc.dryrun.drivers import (
    COMMENT_TOKEN_KEY,
    PROOF_SQL,
    netloc,
    patch_drivers,
)
from migdoc.errors import first_line
from migdoc.util.masking import mask_secrets, mask_url

_PROVED = "migdoc_proved"  # key in a pool connection record's info: the token it was proved with


@dataclass(frozen=True)
class RunIdentity:
    """What the run's own database answers: its name and the run's secret token."""

    database: str
    token: str
    host: str | None = None  # where the run's database is (socket folder or host name)
    lock_timeout_ms: int | None = None
    """``[tool.migdoc] lock_timeout``: set on every connection the project opens, as production
    would set it; an env.py that sets its own still wins (it runs after)."""


class ForeignConnection(BaseException):
    """Raised inside the project's code when it connects anywhere but the run's database.

    A BaseException so that an env.py's ``except Exception`` (a retry, a fallback)
    cannot swallow it; the guard also remembers it, for an env.py that swallows everything."""


FIX = (
    "point env.py at the throwaway database migdoc passes it: the Alembic config's sqlalchemy.url "
    '(config.get_main_option("sqlalchemy.url")) or the DATABASE_URL variable '
    "(--url-env NAME when env.py reads another variable), or -x KEY={url} when env.py reads an -x argument"
)


class ConnectionGuard:
    """Context manager: while active, only connections to ``identity``'s database are allowed."""

    def __init__(self, identity: RunIdentity, project_root: Path) -> None:
        self.identity = identity
        self.project_root = str(project_root)
        self.violation: str | None = None
        self._lock = threading.Lock()
        self._pending = threading.local()
        self._undo: list = []

    # -- the proof ---------------------------------------------------------------

    def prove(self, dbapi_connection, target: str | None) -> None:
        """Runs the proof query on a new DBAPI connection; on failure closes it and stops the run."""
        row = None
        with contextlib.suppress(Exception):  # any failure of the proof is a failed proof
            cursor = dbapi_connection.cursor()
            try:
                cursor.execute(PROOF_SQL)
                row = cursor.fetchone()
            finally:
                cursor.close()
            dbapi_connection.rollback()
        if self.proves(row):
            if self.identity.lock_timeout_ms:
                cursor = dbapi_connection.cursor()
                try:
                    cursor.execute(f"SET lock_timeout = {int(self.identity.lock_timeout_ms)}")
                finally:
                    cursor.close()
                dbapi_connection.commit()  # a SET in a transaction rolled back later would be undone
            return
        with contextlib.suppress(Exception):
            dbapi_connection.close()
        self.refuse(row, target)

    def proves(self, row) -> bool:
        """True when a proof row (see ``PROOF_SQL``) comes from the run's own database."""
        return row is not None and row[1] == self.identity.database and self.identity.token in _tokens_of(row)

    def refuse(self, row, target: str | None) -> None:
        self.stop(f"connected to {target or _server_side_target(row)}, not to the dry-run's throwaway database")

    async def prove_async(self, connection, target: str | None) -> None:
        """``prove`` for psycopg's ``AsyncConnection``."""
        row = None
        with contextlib.suppress(Exception):
            async with connection.cursor() as cursor:
                await cursor.execute(PROOF_SQL)
                row = await cursor.fetchone()
            await connection.rollback()
        if self.proves(row):
            if self.identity.lock_timeout_ms:
                async with connection.cursor() as cursor:
                    await cursor.execute(f"SET lock_timeout = {int(self.identity.lock_timeout_ms)}")
                await connection.commit()
            return
        with contextlib.suppress(Exception):
            await connection.close()
        self.refuse(row, target)

    def stop(self, what: str) -> None:
        where = self._caller()
        who = f"the project's code ({where})" if where else "the project's code"
        message = f"{who} {what}; stopped before anything ran there; {FIX}"
        with self._lock:
            if self.violation is None:
                self.violation = message
        raise ForeignConnection(message)

    def _caller(self) -> str | None:
        """The innermost frame in the project's own files: where it connected (its absolute
        path, as records hold paths; whoever shows the message shows it from its own folder)."""
        frame = sys._getframe(1)
        while frame is not None:
            if frame.f_code.co_filename.startswith(self.project_root):
                return f"{frame.f_code.co_filename}:{frame.f_lineno}"
            frame = frame.f_back
        return None

    # -- hooks -------------------------------------------------------------------

    def _do_connect(self, dialect, connection_record, cargs, cparams):
        target = describe_target(dialect.name, getattr(dialect, "driver", ""), cargs, cparams)
        if dialect.name != "postgresql":
            self.stop(f"asked for a {dialect.name} database ({target}), but the dry-run runs on PostgreSQL only")
        if connection_record is not None:
            connection_record.info["migdoc_target"] = target
        self._pending.target = target  # for the driver hook, which the connect below calls
        try:
            # connecting here (what SQLAlchemy does next anyway) so that a failure to reach
            # some other server says so, instead of looking like the throwaway one failed
            return dialect.connect(*cargs, **cparams)
        except Exception as exc:
            if self._is_ours(cparams):
                raise
            self.stop(
                f"tried to connect to {target}, not to the dry-run's throwaway database "
                f"(and that failed: {_masked_first_line(exc)})"
            )
        finally:
            self._pending.target = None

    def _is_ours(self, cparams) -> bool:
        database = cparams.get("dbname") or cparams.get("database")
        return database == self.identity.database and cparams.get("host") == self.identity.host

    def _on_connect(self, dbapi_connection, connection_record) -> None:
        if connection_record is not None and connection_record.info.get(_PROVED) == self.identity.token:
            return  # proved by the driver hook already
        target = connection_record.info.get("migdoc_target") if connection_record is not None else None
        self.prove(dbapi_connection, target)
        if connection_record is not None:
            connection_record.info[_PROVED] = self.identity.token

    def _on_checkout(self, dbapi_connection, connection_record, proxy) -> None:
        if connection_record.info.get(_PROVED) != self.identity.token:
            self._on_connect(dbapi_connection, connection_record)

    def _prove_alembic_connection(self, connection) -> None:
        fairy = getattr(connection, "connection", None) if connection is not None else None
        record = getattr(fairy, "_connection_record", None)
        if record is not None and record.info.get(_PROVED) == self.identity.token:
            return
        dbapi_connection = getattr(fairy, "dbapi_connection", None)
        if dbapi_connection is None:
            return
        url = getattr(getattr(connection, "engine", None), "url", None)
        target = mask_url(url.render_as_string(hide_password=False)) if url is not None else None
        self.prove(dbapi_connection, target)
        if record is not None:
            record.info[_PROVED] = self.identity.token

    # -- installing --------------------------------------------------------------

    def __enter__(self) -> ConnectionGuard:
        from sqlalchemy import event
        from sqlalchemy.engine import Engine
        from sqlalchemy.pool import Pool

        hooks = [(Engine, "do_connect", self._do_connect), (Pool, "connect", self._on_connect)]
        hooks.append((Pool, "checkout", self._on_checkout))
        try:
            for target, name, fn in hooks:
                event.listen(target, name, fn)
                self._undo.append(lambda t=target, n=name, f=fn: event.remove(t, n, f))
            self._patch_alembic()
            patch_drivers(self)
        except BaseException:
            self._restore()
            raise
        return self

    def __exit__(self, *exc_info) -> None:
        self._restore()

    def _restore(self) -> None:
        while self._undo:
            undo = self._undo.pop()
            with contextlib.suppress(Exception):
                undo()

    def _patch(self, owner, name: str, replacement) -> None:
        """Replace ``owner.name`` until the guard ends; an inherited one is put back by removing ours."""
        if name in vars(owner):
            original = vars(owner)[name]
            self._undo.append(lambda: setattr(owner, name, original))
        else:
            self._undo.append(lambda: delattr(owner, name))
        setattr(owner, name, replacement)

    def _patch_alembic(self) -> None:
        from alembic.runtime.migration import MigrationContext

        original = inspect.getattr_static(MigrationContext, "configure").__func__
        guard = self

        def configure(cls, connection=None, *args, opts=None, **kwargs):
            if connection is not None:
                guard._prove_alembic_connection(connection)
            # one transaction per step keeps the locks held bounded however long the chain
            # (one transaction for the whole chain runs out of lock slots near 300 revisions)
            opts = {**(opts or {}), "transaction_per_migration": True}
            return original(cls, connection, *args, opts=opts, **kwargs)

        self._patch(MigrationContext, "configure", classmethod(configure))

    def take_pending_target(self) -> str | None:
        """Where SQLAlchemy's ``do_connect`` said this connection goes (None: not through it)."""
        target, self._pending.target = getattr(self._pending, "target", None), None
        return target


def describe_target(dialect: str, driver: str, cargs, cparams) -> str:
    """A URL-like description of where a connection goes; never the password."""
    scheme = f"{dialect}+{driver}" if driver else dialect
    if dialect == "sqlite":
        path = cargs[0] if cargs else cparams.get("database", "")
        return f"{scheme}:///{path}"
    params = dict(cparams)
    if cargs and isinstance(cargs[0], str) and not params:
        return f"{scheme} {mask_secrets(cargs[0])}"
    return f"{scheme}://{netloc(params)}"


def _tokens_of(row) -> tuple[str | None, ...]:
    """The tokens a proof row offers: the server setting, and the one in the database comment."""
    from_comment = None
    with contextlib.suppress(ValueError, TypeError, AttributeError):
        from_comment = json.loads(row[2]).get(COMMENT_TOKEN_KEY)
    return (row[0], from_comment if isinstance(from_comment, str) else None)


def _server_side_target(row) -> str:
    if row is None:
        return "a database that is not the run's (it cannot answer the proof query)"
    return f"database {row[1]!r} (not the run's)"


def _masked_first_line(exc: BaseException) -> str:
    return mask_secrets(first_line(exc))
