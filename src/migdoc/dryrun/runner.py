"""The stairway: every revision upgraded, snapshotted, downgraded, compared, upgraded again.

Runs the project's own ``env.py`` once, through Alembic's API, with a migration
function that is a generator: ``MigrationContext.run_migrations`` asks it for
one step at a time and runs each (with its version-table bookkeeping) before
asking for the next, so between steps the generator takes its snapshots on the
very connection ``env.py`` opened. Alembic's start-up (config, script
directory, ``env.py``, engine) is paid once, not once per step.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import sys
import time
import traceback
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from migdoc.dryrun.schema import SchemaChange, Snapshot, diff_snapshots, take_snapshot
from migdoc.errors import DatabaseError, UsageError

LOAD_CODES = ("MD001", "MD002", "MD005", "MD010")


@dataclass(frozen=True)
class Step:
    revision: str
    phase: str
    ok: bool
    seconds: float

    def to_dict(self) -> dict[str, object]:
        return {"revision": self.revision, "phase": self.phase, "ok": self.ok, "seconds": round(self.seconds, 4)}


@dataclass(frozen=True)
class Failure:
    revision: str | None
    file: str | None
    phase: str  # upgrade, downgrade, consistency, load
    error: str
    statement: str | None = None
    schema_diff: tuple[SchemaChange, ...] = ()
    findings: tuple[dict[str, object], ...] = ()
    line: int | None = None

    def to_dict(self) -> dict[str, object]:
        data: dict[str, object] = {
            "revision": self.revision,
            "file": self.file,
            "phase": self.phase,
            "error": self.error,
            "statement": self.statement,
            "schema_diff": [change.to_dict() for change in self.schema_diff],
        }
        if self.line is not None:
            data["line"] = self.line
        if self.findings:
            data["findings"] = list(self.findings)
        return data


@dataclass
class DryrunResult:
    database: str | None
    steps: list[Step] = field(default_factory=list)
    failure: Failure | None = None
    revisions: int = 0
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return self.failure is None

    def to_dict(self) -> dict[str, object]:
        return {
            "ok": self.ok,
            "database": self.database,
            "steps": [step.to_dict() for step in self.steps],
            "failure": self.failure.to_dict() if self.failure else None,
        }


ProgressFn = Callable[[str, Step], None]
"""Called after each step with the revision's label (id and message) and the step."""


def static_failure(project) -> Failure | None:
    """A chain the static reader finds unrunnable fails with phase ``load``, before any database."""
    from migdoc.api import check_project

    result = check_project(project, select=LOAD_CODES)
    errors = [d for d in result.diagnostics if d.code in LOAD_CODES and d.severity.value == "error"]
    if not errors:
        return None
    first = errors[0]
    return Failure(
        revision=first.revision,
        file=first.file,
        phase="load",
        error="; ".join(f"{d.code} {d.message}" for d in errors),
        line=first.line,
        findings=tuple(
            {"code": d.code, "file": d.file, "line": d.line, "revision": d.revision, "message": d.message}
            for d in errors
        ),
    )


class _SnapshotError(RuntimeError):
    """Migdoc's own catalog query failed: a bug to surface (exit 3), not a finding."""


class _StepFailed(Exception):
    """Raised inside the migration generator to stop ``run_migrations`` on an inconsistency."""


class Stairway:
    """One run of the stairway against ``url``. Invariant: restores cwd, sys.path,
    environment variables, logging and the project's imported modules afterwards."""

    def __init__(
        self,
        project,
        url: str,
        *,
        downgrade: bool = True,
        to: str | None = None,
        url_env: Sequence[str] = ("DATABASE_URL",),
        progress: ProgressFn | None = None,
        database: str | None = None,
    ) -> None:
        self.project = project
        self.url = url
        self.downgrade = downgrade
        self.to = to
        self.url_env = tuple(url_env)
        self.progress = progress
        self.result = DryrunResult(database)
        self._current: tuple[object, str, float] | None = None  # (script, phase, started)
        self._diff: tuple[SchemaChange, ...] = ()
        self._ran = False
        self._order: list = []

    # -- set-up --------------------------------------------------------------

    def _config(self):
        Config = _dryrun_config_class()  # noqa: N806 - a class, chosen at run time

        layout = self.project.layout
        if layout.config_file is None:
            config = Config()
            config.set_main_option("script_location", str(layout.script_location))
        elif layout.config_file.suffix == ".toml":
            config = Config(toml_file=str(layout.config_file))
        else:
            config = Config(file_=str(layout.config_file), ini_section=layout.ini_section)
        if layout.config_file is None or config.get_alembic_option("version_locations") is None:
            if layout.config_file is None:
                config.set_main_option("path_separator", "os")
                config.set_main_option("version_locations", os.pathsep.join(str(p) for p in layout.version_locations))
        config.set_main_option("sqlalchemy.url", self.url.replace("%", "%%"))
        return config

    @contextlib.contextmanager
    def _process_state(self) -> Iterator[None]:
        layout = self.project.layout
        old_cwd = os.getcwd()
        old_path = list(sys.path)
        old_env = {name: os.environ.get(name) for name in self.url_env}
        old_modules = set(sys.modules)
        root_logger = logging.getLogger()
        old_handlers, old_level = list(root_logger.handlers), root_logger.level
        old_loggers = {
            name: (lg.level, list(lg.handlers), lg.disabled, lg.propagate)
            for name, lg in logging.Logger.manager.loggerDict.items()
            if isinstance(lg, logging.Logger)
        }
        old_disable = logging.root.manager.disable
        _CALLER_CWD.append(old_cwd)
        try:
            os.chdir(layout.root)
            sys.path[:0] = [str(p) for p in layout.prepend_sys_path]
            for name in self.url_env:
                os.environ[name] = self.url
            # env.py's fileConfig would print every "Running upgrade" line
            logging.disable(logging.WARNING)
            yield
        finally:
            _CALLER_CWD.pop()
            os.chdir(old_cwd)
            sys.path[:] = old_path
            for name, value in old_env.items():
                if value is None:
                    os.environ.pop(name, None)
                else:
                    os.environ[name] = value
            logging.disable(old_disable)
            root_logger.handlers[:] = old_handlers
            root_logger.setLevel(old_level)
            for name, lg in logging.Logger.manager.loggerDict.items():
                if isinstance(lg, logging.Logger):
                    if name in old_loggers:
                        lg.level, lg.handlers[:], lg.disabled, lg.propagate = old_loggers[name]
                    else:
                        lg.disabled = False
            root = str(layout.root)
            for name in set(sys.modules) - old_modules:
                module_file = getattr(sys.modules[name], "__file__", None) or ""
                if module_file.startswith(root):
                    del sys.modules[name]

    def _plan(self, script_dir) -> list:
        """Revisions in dependency order (down_revision and depends_on), base first."""
        revision_map = script_dir.revision_map
        scripts = {s.revision: s for s in script_dir.walk_revisions()}
        wanted = set(scripts)
        if self.to is not None:
            from alembic.script.revision import RevisionError
            from alembic.util import CommandError

            try:
                targets = revision_map.get_revisions(self.to)
            except (CommandError, RevisionError, KeyError, ValueError) as exc:
                raise UsageError(f"--to {self.to}: {exc}") from exc
            if not targets:
                raise UsageError(f"--to {self.to}: no such revision")
            wanted = set()
            stack = [t.revision for t in targets if t is not None]
            while stack:
                rev = stack.pop()
                if rev in wanted:
                    continue
                wanted.add(rev)
                script = scripts[rev]
                stack.extend(script._normalized_down_revisions)
                stack.extend(script._resolved_dependencies)
        parents = {
            rev: set(scripts[rev]._normalized_down_revisions) | set(scripts[rev]._resolved_dependencies)
            for rev in wanted
        }
        order: list = []
        done: set[str] = set()
        ready = sorted(rev for rev in wanted if not parents[rev] & wanted)
        while ready:
            rev = ready.pop(0)
            order.append(scripts[rev])
            done.add(rev)
            newly = [r for r in wanted - done if r not in ready and parents[r] & wanted <= done]
            ready = sorted(ready + newly)
        return order

    # -- the generator that Alembic drives -------------------------------------

    def _start(self, script, phase: str) -> None:
        self._current = (script, phase, time.perf_counter())

    def _finish(self, ok: bool = True) -> None:
        assert self._current is not None
        script, phase, started = self._current
        step = Step(script.revision, phase, ok, time.perf_counter() - started)
        self.result.steps.append(step)
        if ok:
            self._current = None
        if self.progress is not None:
            self.progress(_label(script), step)

    def _migration_fn(self, heads, context):
        if self._ran:  # an env.py that runs migrations twice (several databases): once is enough
            return []
        self._ran = True
        return self._steps(context)

    def _steps(self, context) -> Iterator:
        from alembic.runtime.migration import RevisionStep

        revision_map = self._revision_map
        connection = context.connection
        version_table, version_schema = context.version_table, context.version_table_schema

        def snapshot() -> Snapshot:
            try:
                return take_snapshot(connection, version_table, version_schema)
            except Exception as exc:  # noqa: BLE001 - a bug in migdoc's catalog query, not in the project
                raise _SnapshotError(f"schema snapshot failed: {exc}") from exc

        before = snapshot() if self.downgrade else {}
        for script in self._order:
            self._start(script, "upgrade")
            yield RevisionStep(revision_map, script, True)
            self._finish()
            if not self.downgrade:
                continue
            after = snapshot()
            self._start(script, "downgrade")
            yield RevisionStep(revision_map, script, False)
            self._finish()
            self._start(script, "consistency")
            diff = diff_snapshots(before, snapshot())
            if diff:
                self._diff = tuple(diff)
                raise _StepFailed()
            self._finish()
            self._start(script, "upgrade")
            yield RevisionStep(revision_map, script, True)
            self._finish()
            before = after

    # -- running ---------------------------------------------------------------

    def run(self) -> DryrunResult:
        from alembic.runtime.environment import EnvironmentContext
        from alembic.script import ScriptDirectory

        started = time.perf_counter()
        with self._process_state():
            config = self._config()
            try:
                script_dir = ScriptDirectory.from_config(config)
                self._revision_map = script_dir.revision_map
                self._order = self._plan(script_dir)
            except UsageError:
                raise
            except Exception as exc:  # noqa: BLE001 - the project's code failed to import
                self.result.failure = self._load_failure(exc, "loading the version files")
                return self._done(started)
            self.result.revisions = len(self._order)
            try:
                with EnvironmentContext(config, script_dir, fn=self._migration_fn, as_sql=False):
                    script_dir.run_env()
            except Exception as exc:  # noqa: BLE001 - the project's migrations failed; report, don't crash
                self._fail(exc)
            else:
                if not self._ran:
                    self.result.failure = Failure(
                        None,
                        _relative(Path(script_dir.dir) / "env.py"),
                        "load",
                        "env.py did not call context.run_migrations() in online mode",
                    )
        return self._done(started)

    def _done(self, started: float) -> DryrunResult:
        self.result.seconds = time.perf_counter() - started
        return self.result

    def _fail(self, exc: BaseException) -> None:
        from sqlalchemy.exc import DBAPIError

        if isinstance(exc, _SnapshotError):
            raise exc
        if self._current is None:
            if isinstance(exc, DBAPIError) and _is_connection_error(exc):
                raise DatabaseError(f"cannot connect to the database: {_db_message(exc)}") from exc
            self.result.failure = self._load_failure(exc, "running env.py")
            return
        script, phase, _ = self._current
        self._finish(ok=False)
        file = _relative(Path(script.path))
        if isinstance(exc, _StepFailed):
            count = len(self._diff)
            noun = "difference" if count == 1 else "differences"
            self.result.failure = Failure(
                script.revision,
                file,
                "consistency",
                f"the schema after downgrade differs from the schema before upgrade ({count} {noun})",
                schema_diff=self._diff,
            )
            return
        if isinstance(exc, DBAPIError):
            if exc.connection_invalidated or _is_connection_error(exc):
                raise DatabaseError(
                    f"lost the database during {phase} of {script.revision}: {_db_message(exc)}"
                ) from exc
            self.result.failure = Failure(
                script.revision,
                file,
                phase,
                _db_message(exc),
                statement=_statement(exc),
                line=_line_in(exc, script.path),
            )
            return
        self.result.failure = Failure(
            script.revision, file, phase, f"{type(exc).__name__}: {exc}", line=_line_in(exc, script.path)
        )

    def _load_failure(self, exc: BaseException, doing: str) -> Failure:
        file, line = _project_frame(exc, self.project.layout.root)
        return Failure(None, file, "load", f"{doing}: {type(exc).__name__}: {exc}", line=line)


_PERCENT = re.compile(r"%%|%\(|%")


def escape_percent(value: str) -> str:
    """``%`` -> ``%%`` as Alembic's documentation asks of values given to ``set_main_option``,
    for every ``%`` that cannot be read as ConfigParser syntax (``%%`` or ``%(name)s``): a
    value already escaped, or one meant to interpolate, is unchanged; only a value that
    would have raised "invalid interpolation syntax" is changed."""
    return _PERCENT.sub(lambda match: match.group() if len(match.group()) == 2 else "%%", value)


def _dryrun_config_class():
    from alembic.config import Config

    class DryrunConfig(Config):
        """The Config env.py sees during a dry-run. Many env.py files pass the application's
        URL to ``config.set_main_option`` unescaped; the throwaway database's URL (a
        percent-encoded password, a socket folder in ``?host=``) then fails to load. It is
        escaped here on their behalf (see ``escape_percent``)."""

        def set_section_option(self, section: str, name: str, value: str) -> None:
            super().set_section_option(section, name, escape_percent(value) if isinstance(value, str) else value)

    return DryrunConfig


def _label(script) -> str:
    message = (script.doc or "").strip().splitlines()[0] if script.doc else ""
    return f"{script.revision} {message}".strip()


_CALLER_CWD: list[str] = []  # the user's folder while the stairway runs in the project's


def _relative(path: Path) -> str:
    base = Path(_CALLER_CWD[-1] if _CALLER_CWD else os.getcwd())
    with contextlib.suppress(ValueError):
        return str(path.resolve().relative_to(base.resolve()))
    return str(path)


def _db_message(exc) -> str:
    orig = getattr(exc, "orig", None)
    diag = getattr(orig, "diag", None)
    primary = getattr(diag, "message_primary", None)
    if primary:
        return str(primary)
    text = str(orig if orig is not None else exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


def _statement(exc) -> str | None:
    statement = getattr(exc, "statement", None)
    return " ".join(str(statement).split()) if statement else None


def _is_connection_error(exc) -> bool:
    import psycopg

    orig = getattr(exc, "orig", None)
    if isinstance(orig, psycopg.OperationalError) and not isinstance(orig, psycopg.errors.QueryCanceled):
        connection = getattr(orig, "pgconn", None)
        return connection is None or getattr(exc, "connection_invalidated", False) or "connect" in str(orig)
    return False


def _project_frame(exc: BaseException, root: Path) -> tuple[str | None, int | None]:
    """The innermost traceback frame in the project's own files."""
    found: tuple[str | None, int | None] = (None, None)
    root_text = str(root)
    for frame in traceback.extract_tb(exc.__traceback__):
        if frame.filename.startswith(root_text):
            found = (_relative(Path(frame.filename)), frame.lineno)
    if found[0] is None and isinstance(exc, SyntaxError) and exc.filename:
        found = (_relative(Path(exc.filename)), exc.lineno)
    return found


def _line_in(exc: BaseException, file: str) -> int | None:
    target = str(Path(file).resolve())
    line = None
    for frame in traceback.extract_tb(exc.__traceback__):
        if str(Path(frame.filename).resolve()) == target:
            line = frame.lineno
    return line


def dryrun_project(
    project,
    *,
    database_url: str | None = None,
    pg_bindir: str | None = None,
    downgrade: bool = True,
    to: str | None = None,
    url_env: Sequence[str] = ("DATABASE_URL",),
    progress: ProgressFn | None = None,
    on_database: Callable[[str], None] | None = None,
) -> DryrunResult:
    """The whole dry-run: static gate, a database (first way that applies), the stairway, clean-up."""
    from migdoc.dryrun.server import database

    started = time.perf_counter()
    failure = static_failure(project)
    if failure is not None:
        return DryrunResult(None, failure=failure)
    with database(database_url, pg_bindir) as (url, description):
        if on_database is not None:
            on_database(description)
        result = Stairway(
            project, url, downgrade=downgrade, to=to, url_env=url_env, progress=progress, database=description
        ).run()
    result.seconds = time.perf_counter() - started
    return result
