"""The connection guard's hooks in the database drivers themselves, for code that opens a
connection without SQLAlchemy: psycopg 3 (``Connection.connect``, ``AsyncConnection.connect``,
libpq's ``psycopg.pq.PGconn``), psycopg2 (``connect``, ``extensions.connection`` and its
subclasses), asyncpg (its one way in, under ``connect``, pools and SQLAlchemy's dialect) and
pg8000 (``CoreConnection``, under every interface), each only when installed.

``guard`` is a ``ConnectionGuard``: ``prove``/``prove_async``/``proves``/``refuse`` (the
proof and its verdict), ``take_pending_target`` (where SQLAlchemy said a connection goes)
and ``_patch`` (a replacement undone when the guard ends).
"""

from __future__ import annotations

import contextlib
import inspect
import sys
import time

from migdoc.util.masking import mask_secrets

TOKEN_SETTING = "migdoc.run_token"
COMMENT_TOKEN_KEY = "run_token"
"""The key of the token in a borrowed server's database comment (see ``server.borrowed_database``)."""
# A private server carries the token as a server setting; a borrowed server's run database
# carries it in its comment. Either one, on the run's database, proves the connection.
PROOF_SQL = (
    f"SELECT current_setting('{TOKEN_SETTING}', true), current_database(), "
    "shobj_description((SELECT oid FROM pg_database WHERE datname = current_database()), 'pg_database')"
)


def patch_drivers(guard) -> None:
    """A raw driver connection, made without SQLAlchemy: proved as it opens. A driver whose
    layout changed is left unpatched (SQLAlchemy's hooks still guard what goes through it)."""
    with contextlib.suppress(ImportError, AttributeError):
        _patch_psycopg(guard)
    with contextlib.suppress(ImportError, AttributeError):
        _patch_libpq(guard)
    for name, patch in (("psycopg2", _patch_psycopg2), ("asyncpg", _patch_asyncpg)):
        if name in sys.modules or _importable(name):
            with contextlib.suppress(ImportError, AttributeError):
                patch(guard)
    if "pg8000" in sys.modules or _importable("pg8000"):
        with contextlib.suppress(ImportError, AttributeError):
            _patch_pg8000(guard)


def _patch_psycopg(guard) -> None:
    import psycopg

    original_connect = inspect.getattr_static(psycopg.Connection, "connect").__func__

    def connect(cls, conninfo: str = "", *args, **kwargs):
        target = guard.take_pending_target()
        connection = original_connect(cls, conninfo, *args, **kwargs)
        guard.prove(connection, target or describe_psycopg(connection))
        return connection

    guard._patch(psycopg.Connection, "connect", classmethod(connect))
    # psycopg.connect is the classmethod bound when psycopg was imported
    guard._patch(psycopg, "connect", lambda *args, **kwargs: psycopg.Connection.connect(*args, **kwargs))

    original_async = inspect.getattr_static(psycopg.AsyncConnection, "connect").__func__

    async def connect_async(cls, conninfo: str = "", *args, **kwargs):
        target = guard.take_pending_target()
        connection = await original_async(cls, conninfo, *args, **kwargs)
        await guard.prove_async(connection, target or describe_psycopg(connection))
        return connection

    guard._patch(psycopg.AsyncConnection, "connect", classmethod(connect_async))


def _patch_libpq(guard) -> None:
    """psycopg's libpq layer, ``psycopg.pq.PGconn``: a compiled class whose methods cannot be
    replaced, so the name is pointed at a subclass that proves what it opens (its module's
    name too, for code that reaches the implementation directly)."""
    import psycopg.pq

    original = psycopg.pq.PGconn

    class GuardedPGconn(original):  # type: ignore[misc, valid-type]
        @classmethod
        def connect(cls, conninfo: bytes = b""):
            pgconn = original.connect(conninfo)
            _prove_libpq(guard, pgconn, conninfo)
            return pgconn

        @classmethod
        def connect_start(cls, conninfo: bytes = b""):
            # the caller polls a connection still being made; it is finished here so that
            # it can be proved (polling a made connection answers "done" at once)
            pgconn = original.connect_start(conninfo)
            _finish_libpq_connect(pgconn)
            _prove_libpq(guard, pgconn, conninfo)
            return pgconn

    GuardedPGconn.__name__ = GuardedPGconn.__qualname__ = original.__name__
    guard._patch(psycopg.pq, "PGconn", GuardedPGconn)
    implementation = sys.modules.get(original.__module__)
    if implementation is not None and vars(implementation).get("PGconn") is original:
        guard._patch(implementation, "PGconn", GuardedPGconn)


def _prove_libpq(guard, pgconn, conninfo) -> None:
    row = None
    with contextlib.suppress(Exception):
        result = pgconn.exec_(PROOF_SQL.encode())
        if result.ntuples == 1:
            values = [result.get_value(0, column) for column in range(3)]
            row = tuple(None if value is None else value.decode() for value in values)
    if guard.proves(row):
        return
    with contextlib.suppress(Exception):
        pgconn.finish()
    text = conninfo.decode(errors="replace") if isinstance(conninfo, bytes) else str(conninfo)
    guard.refuse(row, f"postgresql {mask_secrets(text)}" if text.strip() else None)


def _patch_psycopg2(guard) -> None:
    import psycopg2
    import psycopg2.extensions

    original_connect = psycopg2.connect

    def connect(*args, **kwargs):
        connection = original_connect(*args, **kwargs)
        guard.prove(connection, describe_dsn(connection.get_dsn_parameters()))
        return connection

    guard._patch(psycopg2, "connect", connect)
    # ``extensions.connection`` made directly, or subclassed: the name is pointed at a
    # subclass that proves what it opens (a class defined during the run inherits that),
    # and every Python subclass made before (psycopg2.extras.DictConnection, ...) proves too
    base = psycopg2.extensions.connection
    subclasses = _python_subclasses(base)
    guard._patch(psycopg2.extensions, "connection", type(base.__name__, (base,), {}))
    for cls in [psycopg2.extensions.connection, *subclasses]:
        guard._patch(cls, "__init__", _proving_init(guard, cls.__init__))


def _proving_init(guard, original_init):

    def __init__(connection, *args, **kwargs):  # noqa: N807 - it replaces __init__
        depth = getattr(guard._pending, "depth", 0)
        guard._pending.depth = depth + 1
        try:
            original_init(connection, *args, **kwargs)
        finally:
            guard._pending.depth = depth
        if depth == 0:  # a subclass's __init__ calling its parent's: proved once, by the outermost
            guard.prove(connection, describe_dsn(connection.get_dsn_parameters()))

    return __init__


def _patch_asyncpg(guard) -> None:
    """asyncpg's ``connect``, a pool's connections and SQLAlchemy's asyncpg dialect all go
    through ``connect_utils._connect``."""
    import asyncpg.connect_utils

    original = asyncpg.connect_utils._connect

    async def connect(*args, **kwargs):
        target = guard.take_pending_target()
        connection = await original(*args, **kwargs)
        row = None
        with contextlib.suppress(Exception):
            row = tuple(await connection.fetchrow(PROOF_SQL))
        if guard.proves(row):
            return connection
        with contextlib.suppress(Exception):
            connection.terminate()
        guard.refuse(row, target or describe_asyncpg(connection))

    guard._patch(asyncpg.connect_utils, "_connect", connect)


def _patch_pg8000(guard) -> None:
    """Every pg8000 interface (dbapi, legacy, native) is a ``CoreConnection``."""
    import pg8000.core

    original_init = pg8000.core.CoreConnection.__init__

    def __init__(connection, *args, **kwargs):  # noqa: N807 - it replaces __init__
        original_init(connection, *args, **kwargs)
        row = None
        with contextlib.suppress(Exception):
            context = connection.execute_simple(PROOF_SQL)
            row = tuple(context.rows[0])
        if guard.proves(row):
            return
        with contextlib.suppress(Exception):
            connection.close()
        user, database = kwargs.get("user", args[0] if args else ""), kwargs.get("database")
        guard.refuse(row, describe_dsn({"user": user, "host": kwargs.get("host"), "dbname": database}))

    guard._patch(pg8000.core.CoreConnection, "__init__", __init__)


def _python_subclasses(cls) -> list[type]:
    """Every subclass of ``cls`` written in Python (a compiled one's methods cannot be replaced)."""
    found, todo = [], list(cls.__subclasses__())
    while todo:
        sub = todo.pop()
        todo.extend(sub.__subclasses__())
        if sub.__flags__ & _HEAPTYPE and sub not in found:
            found.append(sub)
    return found


_HEAPTYPE = 1 << 9  # Py_TPFLAGS_HEAPTYPE: a class made by a class statement, not by C code


def _finish_libpq_connect(pgconn) -> None:
    """Poll a connection started with ``PQconnectStart`` until it is made or has failed."""
    import selectors

    from psycopg import pq

    deadline = time.monotonic() + 30
    status = pq.PollingStatus.WRITING
    while status not in (pq.PollingStatus.OK, pq.PollingStatus.FAILED) and time.monotonic() < deadline:
        event = selectors.EVENT_READ if status == pq.PollingStatus.READING else selectors.EVENT_WRITE
        with selectors.DefaultSelector() as selector:
            selector.register(pgconn.socket, event)
            selector.select(timeout=max(0.0, deadline - time.monotonic()))
        status = pgconn.connect_poll()


def _importable(name: str) -> bool:
    import importlib.util

    with contextlib.suppress(ImportError, ValueError):
        return importlib.util.find_spec(name) is not None
    return False


def describe_dsn(params: dict) -> str:
    return f"postgresql://{netloc(params)}"


def describe_asyncpg(connection) -> str:
    address = connection._addr  # (host, port), or a unix socket's path
    params = connection._params
    host, port = (address, None) if isinstance(address, str) else (address[0], address[1])
    return describe_dsn({"user": params.user, "host": host, "port": port, "dbname": params.database})


def describe_psycopg(connection) -> str:
    info = connection.info
    return describe_dsn(
        {"user": info.user, "password": info.password, "host": info.host, "port": info.port, "dbname": info.dbname}
    )


def netloc(params: dict) -> str:
    user = params.get("user") or params.get("username") or ""
    password = params.get("password")
    host = params.get("host") or ""
    port = params.get("port")
    database = params.get("dbname") or params.get("database") or ""
    auth = f"{user}{':***' if password else ''}@" if user or password else ""
    if host.startswith("/"):  # a unix socket folder: the way libpq URLs spell it
        return f"{auth}/{database}?host={host}"
    return f"{auth}{host}{f':{port}' if port else ''}/{database}"
