"""What a failure of the project's code means: a database error's message, statement and
SQLSTATE, a lost connection or server, the project's own frame (file and line), and the
environment problems (a missing module, a Flask app context) that are not a failed step."""

from __future__ import annotations

import sys
import traceback
from pathlib import Path

from migdoc.dryrun.results import record_path
from migdoc.errors import EnvironmentProblem


def raise_if_no_app(exc: BaseException, root: Path) -> None:
    """Flask-Migrate's env.py reads ``current_app``, which exists only inside the app:
    an environment problem with a fix, not a failed migration."""
    if not (isinstance(exc, RuntimeError) and "outside of application context" in str(exc)):
        return
    file, line = project_frame(exc, root)
    where = f"{file}:{line}: " if file and line else ""
    raise EnvironmentProblem(
        f"{where}env.py reads Flask's current_app (a Flask-Migrate env.py), which exists only inside your app; "
        "migdoc runs env.py without it: let env.py fall back when flask.has_app_context() is false "
        '(URL from config.get_main_option("sqlalchemy.url") or DATABASE_URL, metadata from your models module)',
        needs="flask.current_app",
        remedy="fall back in env.py when flask.has_app_context() is false",
    ) from exc


def raise_if_missing_module(exc: BaseException, root: Path) -> None:
    """A module the project imports is not installed here: an environment problem, exit 2."""
    if not isinstance(exc, ImportError):
        return
    file, line = project_frame(exc, root)
    where = f"{file}:{line}: " if file and line else (f"{file}: " if file else "")
    fix = "add the folder that holds it to PYTHONPATH or to prepend_sys_path in the Alembic config"
    if isinstance(exc, ModuleNotFoundError) and exc.name:
        top = exc.name.split(".")[0]
        raise EnvironmentProblem(
            f"{where}the project imports {exc.name!r}, which this Python ({sys.executable}) cannot find; "
            f"install the project (or the package that provides {top!r}) into this environment, or {fix}",
            needs=exc.name,
            remedy=fix,
        ) from exc
    # an ImportError of the project's own making ("email-validator is not installed, run ...")
    raise EnvironmentProblem(
        f"{where}importing the project failed in this Python ({sys.executable}): {exc}; "
        f"install the project and what it needs into this environment, or {fix}",
        needs=getattr(exc, "name", None),
        remedy=fix,
    ) from exc


def db_message(exc, hint: bool = False) -> str:
    orig = getattr(exc, "orig", None)
    diag = getattr(orig, "diag", None)
    primary = getattr(diag, "message_primary", None)
    if primary:
        extra = getattr(diag, "message_hint", None) if hint else None
        return f"{primary} (hint: {extra})" if extra else str(primary)
    text = str(orig if orig is not None else exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


def statement_of(exc) -> str | None:
    statement = getattr(exc, "statement", None)
    return " ".join(str(statement).split()) if statement else None


def _sqlstate(exc) -> str:
    orig = getattr(exc, "orig", None)
    return str(getattr(orig, "sqlstate", None) or getattr(getattr(orig, "diag", None), "sqlstate", None) or "")


def is_connection_error(exc) -> bool:
    orig = getattr(exc, "orig", None)
    state = _sqlstate(exc)
    if state:  # the server said why: only connection errors and shutdowns lose the database
        return state.startswith("08") or state in ("57P01", "57P02", "57P03")
    psycopg = sys.modules.get("psycopg")  # the driver in use is imported already; another has no say here
    if psycopg is None:
        return bool(getattr(exc, "connection_invalidated", False))
    if isinstance(orig, psycopg.OperationalError) and not isinstance(orig, psycopg.errors.QueryCanceled):
        connection = getattr(orig, "pgconn", None)
        return connection is None or getattr(exc, "connection_invalidated", False) or "connect" in str(orig)
    return False


def is_server_error(exc) -> bool:
    """The server itself failed (out of memory or lock slots, disk full, an internal error):
    not something the migration got wrong. SQLSTATE classes 53, 58 and XX."""
    return _sqlstate(exc)[:2] in ("53", "58", "XX")


def project_frame(exc: BaseException, root: Path) -> tuple[str | None, int | None]:
    """The innermost traceback frame in the project's own files."""
    found: tuple[str | None, int | None] = (None, None)
    root_text = str(root)
    for frame in traceback.extract_tb(exc.__traceback__):
        if frame.filename.startswith(root_text):
            found = (record_path(Path(frame.filename)), frame.lineno)
    if found[0] is None and isinstance(exc, SyntaxError) and exc.filename:
        found = (record_path(Path(exc.filename)), exc.lineno)
    return found


def line_in(exc: BaseException, file: str) -> int | None:
    target = str(Path(file).resolve())
    line = None
    for frame in traceback.extract_tb(exc.__traceback__):
        if str(Path(frame.filename).resolve()) == target:
            line = frame.lineno
    return line


class NoOnlineRun(Exception):
    """env.py returned without asking Alembic to run migrations on a connection."""

    def __str__(self) -> str:
        return "env.py did not call context.run_migrations() in online mode"


def describe_exception(exc: BaseException) -> str:
    """What the project's code raised, in words that tell the ways a run can end apart:
    an error, an exit (``sys.exit``), a KeyboardInterrupt raised by the code itself (no
    signal was sent: migdoc's own signals are told apart before this), a bare BaseException."""
    if isinstance(exc, NoOnlineRun):
        return str(exc)
    if isinstance(exc, SystemExit):
        return (
            f"the migration exited (SystemExit({exc.code!r}), as sys.exit() raises): "
            "a migration or env.py must return or raise, not exit the process"
        )
    if isinstance(exc, KeyboardInterrupt):
        return "KeyboardInterrupt raised by the project's code itself (no signal was sent)"
    if not isinstance(exc, Exception):
        text = str(exc)
        return f"{type(exc).__name__} (a BaseException, not an Exception){': ' + text if text else ''}"
    return f"{type(exc).__name__}: {exc}"


def raise_before_first_step(exc: BaseException, root: Path, env_py: str) -> None:
    """The project's code failed before the first migration sent anything: nothing was
    tried on the database, so no verdict on the chain, an environment problem (exit 2)."""
    from migdoc.errors import one_line

    file, line = project_frame(exc, root)
    if file is None:
        file = env_py
    where = f"{file}:{line}" if line else file
    cause = describe_exception(exc)
    if isinstance(exc, NoOnlineRun):
        fix = "let env.py run online when given a database (context.is_offline_mode() false, run_migrations() called)"
    elif type(exc).__name__ in ("NoSuchOptError", "NoSuchGroupError", "RequiredOptError"):
        fix = (
            "env.py reads an option of the application's own configuration that is not set here: "
            "set it (a config file or environment variable the application reads), or let env.py fall back to "
            'config.get_main_option("sqlalchemy.url")'
        )
    else:
        fix = (
            "env.py must start with what migdoc hands it: the throwaway URL in the Alembic config's "
            "sqlalchemy.url and in DATABASE_URL (--url-env NAME for another variable), -x KEY={url} "
            'for context.get_x_argument(), an open connection in config.attributes["connection"]'
        )
    raise EnvironmentProblem(
        f"{where}: env.py failed before the first migration ran, so nothing was tried on the database: "
        f"{one_line(cause)}; {fix}",
        needs="env.py",
        remedy=fix,
    ) from (exc if isinstance(exc, Exception) else None)
