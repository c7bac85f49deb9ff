"""A borrowed server: a fresh database on a server the user names (``--server``), created
from ``template0``, stamped as migdoc's, and dropped ``WITH (FORCE)`` afterwards; dead
runs' databases and roles are swept. Touches a database.

Containment by construction: the project's code runs as a role made for the run
(``migdoc_run_<pid>_<random>``: LOGIN, no SUPERUSER, CREATEROLE, CREATEDB, REPLICATION or
BYPASSRLS, owner of the throwaway database and nothing else, dropped afterwards), so
``CREATE ROLE``, ``DROP DATABASE``, ``ALTER SYSTEM``, ``ALTER ROLE`` of another role,
``CREATE EXTENSION dblink`` and untrusted languages fail as they would for an
application's role. The server's own state (roles, memberships, role and database
settings, databases, tablespaces, ``ALTER SYSTEM``'s settings, what the run's role owns
elsewhere) is read before and after the run; a change fails the run (``outside_changes``).
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import secrets
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from migdoc.errors import DatabaseError, first_line
from migdoc.util import owner
from migdoc.util.masking import mask_url, remember_secret

# --- a borrowed server -----------------------------------------------------------


def normalise_url(url: str) -> str:
    """Use the installed psycopg (3) driver for plain ``postgresql://`` URLs."""
    for prefix in ("postgresql://", "postgres://", "postgresql+psycopg2://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


RUN_AS_SERVER_ROLE = "--run-as-server-role"
NOT_CONTAINED = (
    "what it does outside the throwaway database with that role's rights is found only afterwards "
    "(roles, databases, tablespaces, ALTER SYSTEM: the run fails), and not at all through dblink, "
    "postgres_fdw, untrusted languages (plpython3u) or COPY ... PROGRAM when that role is a superuser"
)


@dataclass
class Borrowed:
    """The run's database on a borrowed server: the URL the project's code gets, its name, the
    role that code runs as, and ``outside_changes()``: what changed on the server outside it."""

    url: str
    name: str
    role: str
    outside_changes: Callable[[], list[str]] = field(default=lambda: [])


@contextlib.contextmanager
def borrowed_database(url: str, token: str | None = None, *, as_server_role: bool = False) -> Iterator[Borrowed]:
    """Create a fresh database on the server at ``url`` (and a role to run as, unless
    ``as_server_role``), yield it, drop both afterwards.

    Never touches the database ``url`` names except to connect to it. ``token``:
    the run's secret, set on the new database only (the connection guard's proof)."""
    from sqlalchemy import create_engine
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError, SQLAlchemyError

    try:
        parsed = make_url(normalise_url(url))
    except (ArgumentError, ValueError) as exc:  # ValueError: a port such as "notaport"
        raise DatabaseError(f"not a database URL: {mask_url(url)}", mask_url(url)) from exc
    if not parsed.drivername.startswith("postgresql"):
        raise DatabaseError(f"the dry-run needs PostgreSQL, not {parsed.drivername}: {mask_url(url)}", mask_url(url))
    admin = create_engine(parsed, isolation_level="AUTOCOMMIT", poolclass=_null_pool())
    suffix = f"{os.getpid()}_{secrets.token_hex(6)}"
    name = f"{DATABASE_PREFIX}{suffix}"
    role = None if as_server_role else f"{RUN_ROLE_PREFIX}{suffix}"
    password = secrets.token_urlsafe(24)
    remember_secret(password)
    made: list[str] = []  # what exists to be dropped: "role", "database"
    try:
        with admin.connect() as connection:
            server_role = _check_rights(connection, mask_url(url), as_server_role)
            sweep_dead_databases(connection)
            if role is not None:
                _create_run_role(connection, role, password, server_role)
                made.append("role")
            owner_clause = f' OWNER "{role}"' if role is not None else ""
            _execute(connection, f"CREATE DATABASE \"{name}\" TEMPLATE template0 ENCODING 'UTF8'{owner_clause}")
            made.append("database")
            # The run's token goes into the database's own comment, which every session on
            # this database (and only on it) reads back: ALTER DATABASE ... SET of a custom
            # setting needs a superuser, a comment only the database's owner, which we are.
            _stamp_database(connection, name, token)
            before = server_state(connection, name, role)
        run_url = parsed.set(database=name)
        if role is not None:
            _track_for(run_url, role)
            run_url = run_url.set(username=role, password=password)
            _check_login(run_url, role)
        else:
            print(
                f"migdoc: warning: {RUN_AS_SERVER_ROLE}: the project's code runs as {server_role}: {NOT_CONTAINED}",
                file=sys.stderr,
            )
    except SQLAlchemyError as exc:
        _drop(admin, name, role, made)
        admin.dispose()
        raise DatabaseError(f"cannot use {mask_url(url)}: {first_line(exc)}", mask_url(url)) from exc
    except BaseException:
        _drop(admin, name, role, made)
        admin.dispose()
        raise

    def outside_changes() -> list[str]:
        try:
            with admin.connect() as connection:
                return describe_changes(before, server_state(connection, name, role))
        except SQLAlchemyError as exc:  # the server went away after the run
            raise DatabaseError(
                f"cannot read {mask_url(url)} after the run to compare its state: {first_line(exc)}", mask_url(url)
            ) from exc

    try:
        yield Borrowed(run_url.render_as_string(hide_password=False), name, role or server_role, outside_changes)
    finally:
        _drop(admin, name, role, made)
        admin.dispose()


def _execute(connection, statement: str, params: dict | None = None):
    from sqlalchemy import text

    return connection.execute(text(statement.replace(":", "\\:") if params is None else statement), params or {})


def _check_rights(connection, shown_url: str, as_server_role: bool) -> str:
    """The URL's role, when it can make the run's role and database (else a refusal, exit 2)."""
    name, superuser, createrole, createdb = _execute(
        connection, "SELECT rolname, rolsuper, rolcreaterole, rolcreatedb FROM pg_roles WHERE rolname = current_user"
    ).one()
    missing = [] if superuser or createdb else ["CREATEDB"]
    if not as_server_role and not superuser and not createrole:
        missing.append("CREATEROLE")
    if missing:
        raise DatabaseError(
            f"cannot contain the dry-run on {shown_url}: its role {name!r} lacks {' and '.join(missing)}, "
            "which migdoc needs to make the run's database and a role without rights outside it to run the "
            f"project's code as; grant them (ALTER ROLE {name} {' '.join(missing)}), use a private server "
            f"(no --server), or pass {RUN_AS_SERVER_ROLE} to run the project's code as {name!r} itself",
            shown_url,
        )
    return name


def _create_run_role(connection, role: str, password: str, server_role: str) -> None:
    attributes = "LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS"
    _execute(connection, f"CREATE ROLE \"{role}\" {attributes} PASSWORD '{password}'")
    # a killed run's role is swept by the next run, as its database is
    _stamp(connection, "ROLE", role)
    # to make the database owned by the role, the URL's role must be able to act as it
    # (a superuser always can; a CREATEROLE role grants itself the membership)
    if not _execute(connection, "SELECT rolsuper FROM pg_roles WHERE rolname = current_user").scalar():
        _execute(connection, f'GRANT "{role}" TO "{server_role}"')


def _track_for(admin_url, role: str) -> None:
    """A superuser URL makes the stairway's event triggers in the run's database for the run's
    role (which may not make them): each step's snapshot is then read from what it touched,
    not whole. Another URL's role cannot; the stairway reads whole snapshots then."""
    from sqlalchemy import create_engine, text
    from sqlalchemy.exc import SQLAlchemyError

    from migdoc.dryrun.schema import install_tracking

    engine = create_engine(admin_url, poolclass=_null_pool())
    try:
        with engine.begin() as connection:
            superuser, version = connection.execute(
                text("SELECT current_setting('is_superuser'), current_setting('server_version_num')::int")
            ).one()
            if superuser == "on" and version >= 120000:  # allow_system_table_mods per session: 12+
                install_tracking(connection, role)
    except SQLAlchemyError:
        pass  # a server that refuses: whole snapshots, as for a role that is no superuser
    finally:
        engine.dispose()


def _check_login(run_url, role: str) -> None:
    """The run's role can log in (a server whose pg_hba.conf allows only peer logins refuses it)."""
    from sqlalchemy import create_engine, text
    from sqlalchemy.exc import SQLAlchemyError

    engine = create_engine(run_url, poolclass=_null_pool())
    try:
        with engine.connect() as connection:
            connection.execute(text("SELECT 1"))
    except SQLAlchemyError as exc:
        raise DatabaseError(
            f"the role made for the run, {role}, cannot log in to the throwaway database: {first_line(exc)}; "
            f"allow password logins from here (pg_hba.conf), or pass {RUN_AS_SERVER_ROLE}"
        ) from exc
    finally:
        engine.dispose()


def _drop(admin, name: str, role: str | None, made: list[str]) -> None:
    from sqlalchemy.exc import SQLAlchemyError

    if not made:
        return
    try:
        with admin.connect() as connection:
            if "database" in made:
                _execute(connection, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            if role is not None and "role" in made:
                _execute(connection, f'DROP ROLE IF EXISTS "{role}"')
    except SQLAlchemyError as exc:
        print(f"migdoc: warning: could not drop {name} or {role}: {first_line(exc)}", file=sys.stderr)


# --- the server's own state, before and after ---------------------------------------

# What a run on one database must not change on its server. (kind, name, description)
# rows; the run's own database and role are left out (made and dropped by migdoc), and
# so are other migdoc runs' (another dry-run on the same server may come and go).
_STATE_QUERIES = {
    "role": """SELECT rolname, concat_ws(' ', CASE WHEN rolsuper THEN 'SUPERUSER' END,
        CASE WHEN rolcreaterole THEN 'CREATEROLE' END, CASE WHEN rolcreatedb THEN 'CREATEDB' END,
        CASE WHEN rolcanlogin THEN 'LOGIN' END, CASE WHEN rolreplication THEN 'REPLICATION' END,
        CASE WHEN rolbypassrls THEN 'BYPASSRLS' END, CASE WHEN NOT rolinherit THEN 'NOINHERIT' END,
        CASE WHEN rolconnlimit <> -1 THEN 'CONNECTION LIMIT ' || rolconnlimit END,
        CASE WHEN rolvaliduntil IS NOT NULL THEN 'VALID UNTIL ' || rolvaliduntil END)
        FROM pg_roles""",
    "membership": """SELECT r.rolname || ' in ' || g.rolname, CASE WHEN m.admin_option THEN 'WITH ADMIN' ELSE '' END
        FROM pg_auth_members m JOIN pg_roles r ON r.oid = m.member JOIN pg_roles g ON g.oid = m.roleid""",
    "role setting": """SELECT COALESCE(r.rolname, 'every role') || ' in ' || COALESCE(d.datname, 'every database'),
        array_to_string(s.setconfig, ', ')
        FROM pg_db_role_setting s LEFT JOIN pg_roles r ON r.oid = s.setrole
        LEFT JOIN pg_database d ON d.oid = s.setdatabase""",
    "database": """SELECT d.datname, concat_ws(' ', 'OWNER ' || pg_get_userbyid(d.datdba),
        'ENCODING ' || pg_encoding_to_char(d.encoding), CASE WHEN d.datistemplate THEN 'TEMPLATE' END,
        CASE WHEN NOT d.datallowconn THEN 'NO CONNECTIONS' END,
        CASE WHEN d.datconnlimit <> -1 THEN 'CONNECTION LIMIT ' || d.datconnlimit END,
        'TABLESPACE ' || t.spcname, 'ACL ' || d.datacl::text)
        FROM pg_database d JOIN pg_tablespace t ON t.oid = d.dattablespace""",
    "tablespace": "SELECT spcname, pg_get_userbyid(spcowner) || ' ' || COALESCE(spcacl::text, '') FROM pg_tablespace",
    # readable by a superuser or pg_read_all_settings: ALTER SYSTEM shows here before a reload
    "server setting": """SELECT name || ' (' || sourcefile || ')', setting FROM pg_file_settings
        WHERE sourcefile LIKE '%postgresql.auto.conf'""",
    # readable by a superuser only: ALTER ROLE ... PASSWORD
    "password": "SELECT rolname, md5(COALESCE(rolpassword, '')) FROM pg_authid",
}
_SHARED_OBJECTS_ELSEWHERE = """SELECT d.datname, count(*) FROM pg_shdepend s JOIN pg_database d ON d.oid = s.dbid
    WHERE s.refclassid = 'pg_authid'::regclass AND s.refobjid = (SELECT oid FROM pg_roles WHERE rolname = :role)
      AND d.datname <> :database GROUP BY d.datname"""


def server_state(connection, database: str, role: str | None) -> dict[tuple[str, str], str]:
    """The server's own state, as far as the URL's role may read it (what it may not is left out)."""
    from sqlalchemy.exc import DBAPIError

    ours = {database, role}
    state: dict[tuple[str, str], str] = {}
    for kind, query in _STATE_QUERIES.items():
        try:  # the connection commits each statement: a refused one leaves nothing to roll back
            rows = _execute(connection, query).all()
        except DBAPIError:  # permission denied: pg_authid, pg_file_settings for a role that is no superuser
            continue
        for name, description in rows:
            if kind in ("role", "database", "password") and (name in ours or _is_migdocs(name)):
                continue
            if kind in ("membership", "role setting") and any(
                part in ours or _is_migdocs(part) for part in name.split(" in ")
            ):
                continue
            state[(kind, name)] = description or ""
    if role is not None:
        for other_database, count in _execute(
            connection, _SHARED_OBJECTS_ELSEWHERE, {"role": role, "database": database}
        ):
            state[("objects of the run's role", other_database)] = f"{count} in database {other_database}"
    return state


def _is_migdocs(name: str) -> bool:
    return bool(_DATABASE_NAME.fullmatch(name) or _ROLE_NAME.fullmatch(name))


def describe_changes(before: dict[tuple[str, str], str], after: dict[tuple[str, str], str]) -> list[str]:
    """One phrase per change, sorted: ``role evil was created``, ``database prod2 was dropped``."""
    changes = []
    for kind, name in sorted(before.keys() | after.keys()):
        old, new = before.get((kind, name)), after.get((kind, name))
        if old == new:
            continue
        if kind == "objects of the run's role":
            changes.append(f"the run's role owns or holds rights on objects in database {name} ({new})")
        elif kind == "password":
            if old is not None and new is not None:  # a role made or dropped is said as a role
                changes.append(f"the password of role {name} was changed")
        elif old is None:
            changes.append(f"{kind} {name} was created" + (f" ({new})" if new else ""))
        elif new is None:
            changes.append(f"{kind} {name} was dropped")
        else:
            changes.append(f"{kind} {name} was changed (was {old or 'empty'}; now {new or 'empty'})")
    return changes


DATABASE_PREFIX = "migdoc_dryrun_"
RUN_ROLE_PREFIX = "migdoc_run_"
_DATABASE_NAME = re.compile(re.escape(DATABASE_PREFIX) + r"[0-9a-z_]{1,40}")
_ROLE_NAME = re.compile(re.escape(RUN_ROLE_PREFIX) + r"[0-9a-z_]{1,40}")


def _stamp_database(connection, name: str, token: str | None = None) -> None:
    """Say on the database who made it (pid, host, start time): a run killed before its
    clean-up leaves a database the next run on this server can prove dead and drop. With
    ``token``, the comment is also the connection guard's proof, so it must be written."""
    from sqlalchemy.exc import SQLAlchemyError

    if token is not None:
        _stamp(connection, "DATABASE", name, token)
        return
    with contextlib.suppress(SQLAlchemyError):
        _stamp(connection, "DATABASE", name)


def _stamp(connection, kind: str, name: str, token: str | None = None) -> None:
    from migdoc.dryrun.drivers import COMMENT_TOKEN_KEY

    fields = {"migdoc": "dryrun", **owner.this_process()}
    if token is not None:
        fields[COMMENT_TOKEN_KEY] = token
    stamp = json.dumps(fields).replace("'", "''")
    _execute(connection, f"COMMENT ON {kind} \"{name}\" IS '{stamp}'")


def sweep_dead_databases(connection) -> list[str]:
    """Drop ``migdoc_dryrun_*`` databases and ``migdoc_run_*`` roles whose comment names a
    migdoc dry-run of this host that is gone (killed before it could drop them). Nothing
    else: one without migdoc's comment, or made from another host, is left as it is."""
    from sqlalchemy.exc import SQLAlchemyError

    dropped = []
    for kind, pattern in (("DATABASE", _DATABASE_NAME), ("ROLE", _ROLE_NAME)):  # a role after its database
        for name in _dead(connection, kind, pattern):
            with contextlib.suppress(SQLAlchemyError):
                _execute(
                    connection, f'DROP {kind} IF EXISTS "{name}"' + (" WITH (FORCE)" if kind == "DATABASE" else "")
                )
                dropped.append(name)
    return dropped


_LISTS = {
    "DATABASE": "SELECT datname, shobj_description(oid, 'pg_database') FROM pg_database "
    "WHERE datname LIKE 'migdoc\\_dryrun\\_%'",
    "ROLE": "SELECT rolname, shobj_description(oid, 'pg_authid') FROM pg_roles WHERE rolname LIKE 'migdoc\\_run\\_%'",
}


def _dead(connection, kind: str, pattern: re.Pattern) -> list[str]:
    from sqlalchemy.exc import SQLAlchemyError

    try:
        rows = _execute(connection, _LISTS[kind]).fetchall()
    except SQLAlchemyError:
        return []
    dead = []
    for name, comment in rows:
        if not pattern.fullmatch(name) or not comment:
            continue
        try:
            stamp = json.loads(comment)
        except (ValueError, RecursionError):
            continue
        if isinstance(stamp, dict) and stamp.get("migdoc") == "dryrun" and owner.is_dead(stamp):
            dead.append(name)
    return dead


def _null_pool():
    from sqlalchemy.pool import NullPool

    return NullPool
