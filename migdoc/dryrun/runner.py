"""The stairway: every revision upgraded, snapshotted, downgraded, compared, upgraded again.

Runs the project's own ``env.py`` once, through Alembic's API, with a migration
function that is a generator: ``MigrationContext.run_migrations`` asks it for
one step at a time and runs each (with its version-table bookkeeping) before
asking for the next, so between steps the generator takes its snapshots on the
very connection ``env.py`` opened. Alembic's start-up (config, script
directory, ``env.py``, engine) is paid once, not once per step.

Over ~400 lines for a reason: :class:`Stairway` is one object whose state (the step
running, its timer, the statement last sent, the snapshots) the generator Alembic drives,
the signal handler of the step timer and the failure bookkeeping all share. Its records
are in ``results``, what a failure means in ``failures``, Alembic's side in ``alembic_env``.
"""

from __future__ import annotations

import contextlib
import logging
import logging.config
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

from migdoc.dryrun.alembic_env import (
    dryrun_config_class,
    forget_relative_finders,
    has_tool_alembic,
    ini_escaped,
    script_label,
    script_parents,
    tolerant_file_config,
)
from migdoc.dryrun.failures import (
    db_message,
    is_connection_error,
    is_server_error,
    line_in,
    project_frame,
    raise_if_missing_module,
    raise_if_no_app,
    record_path,
    statement_of,
)
from migdoc.dryrun.guard import ConnectionGuard, ForeignConnection, RunIdentity
from migdoc.dryrun.results import (
    DEFAULT_STEP_TIMEOUT,
    DryrunResult,
    Failure,
    ProgressFn,
    Step,
    static_failure,
)
from migdoc.dryrun.schema import SchemaChange, SchemaTracker
from migdoc.errors import DatabaseError, UsageError


class _SnapshotError(RuntimeError):
    """Migdoc's own catalog query failed: a bug to surface (exit 3), not a finding."""


class _StepFailed(Exception):
    """Raised inside the migration generator to stop ``run_migrations`` on an inconsistency."""


class _StepTimeout(KeyboardInterrupt):
    """Raised by the step timer's signal handler wherever the step is: a KeyboardInterrupt,
    so that psycopg cancels a running statement on the server before it unwinds, and an
    env.py's ``except Exception`` cannot swallow it."""


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
        identity: RunIdentity | None = None,
        step_timeout: float | None = DEFAULT_STEP_TIMEOUT,
        x_arguments: Sequence[str] = (),
        verify_snapshots: bool = False,
    ) -> None:
        self.project = project
        # tests: check the snapshot kept step by step against a whole one at every step
        self.verify_snapshots = verify_snapshots
        self._tracker: SchemaTracker | None = None
        self.url = url
        self.identity = identity
        self.step_timeout = step_timeout
        self._statement: str | None = None  # the last statement sent, for a step that times out
        self._timed_out: tuple | None = None  # (script, phase, started, statement) of the step that timed out
        self.downgrade = downgrade
        self.to = to
        self.url_env = tuple(url_env)
        # Alembic's -x KEY=VALUE for env.py's context.get_x_argument(); {url} is the throwaway URL
        self.x_arguments = tuple(x.replace("{url}", url) for x in x_arguments)
        self.progress = progress
        self.result = DryrunResult(database)
        self._current: tuple[object, str, float] | None = None  # (script, phase, started)
        self._diff: tuple[SchemaChange, ...] = ()
        self._ran = False
        self._order: list = []

    # -- set-up --------------------------------------------------------------

    def _config(self):
        """Alembic's Config as its command line builds it (the ini file and pyproject.toml's
        ``[tool.alembic]`` both), with the script and version locations ``check`` found: one
        configuration, read one way, so whatever ``check`` reads the dry-run runs."""
        Config = dryrun_config_class()  # noqa: N806 - a class, chosen at run time

        layout = self.project.layout
        kwargs: dict[str, str] = {}
        config_file = layout.config_file
        if config_file is not None and config_file.suffix == ".toml":
            kwargs["toml_file"] = str(config_file)
        elif config_file is not None:
            kwargs["file_"] = str(config_file)
            kwargs["ini_section"] = layout.ini_section
            pyproject = config_file.parent / "pyproject.toml"
            if has_tool_alembic(pyproject):
                kwargs["toml_file"] = str(pyproject)
        config = Config(**kwargs)
        if layout.script_location is not None:
            config.set_main_option("script_location", ini_escaped(str(layout.script_location)))
        if layout.version_locations:
            config.set_main_option("path_separator", "os")
            config.set_main_option(
                "version_locations", os.pathsep.join(ini_escaped(str(p)) for p in layout.version_locations)
            )
        config.set_main_option("sqlalchemy.url", ini_escaped(self.url))
        # where some env.py files (polar's) take a URL a caller hands in, before their settings
        config.attributes["sqlalchemy.url"] = self.url
        if self.x_arguments:
            import argparse

            config.cmd_opts = argparse.Namespace(x=list(self.x_arguments))
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
        old_file_config = logging.config.fileConfig
        try:
            # env.py's fileConfig only sets up logging, which the run silences anyway; an ini
            # without the logging sections (KeyError 'formatters') must not stop the dry-run
            logging.config.fileConfig = tolerant_file_config(old_file_config)
            os.chdir(layout.root)
            forget_relative_finders()
            sys.path[:0] = [str(p) for p in layout.prepend_sys_path]
            for name in self.url_env:
                os.environ[name] = self.url
            # env.py's fileConfig would print every "Running upgrade" line
            logging.disable(logging.WARNING)
            yield
        finally:
            logging.config.fileConfig = old_file_config
            os.chdir(old_cwd)
            sys.path[:] = old_path
            forget_relative_finders()
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
        import networkx as nx

        revision_map = script_dir.revision_map
        scripts = {s.revision: s for s in script_dir.walk_revisions()}
        chain = nx.DiGraph()
        chain.add_nodes_from(scripts)
        chain.add_edges_from(
            (parent, rev) for rev, script in scripts.items() for parent in script_parents(script) if parent in scripts
        )
        wanted = set(scripts)
        if self.to is not None:
            from alembic.script.revision import RevisionError
            from alembic.util import CommandError

            try:
                targets = revision_map.get_revisions(self.to)
            except (CommandError, RevisionError, KeyError, ValueError) as exc:
                raise UsageError(f"--to {self.to}: {exc}", option="--to", value=self.to) from exc
            if not targets:
                raise UsageError(f"--to {self.to}: no such revision", option="--to", value=self.to)
            wanted = set()
            for target in targets:
                if target is not None:
                    wanted |= {target.revision} | nx.ancestors(chain, target.revision)
        # base first; among revisions ready at once, the smallest id first (a stable order)
        return [scripts[rev] for rev in nx.lexicographical_topological_sort(chain.subgraph(wanted))]

    # -- the generator that Alembic drives -------------------------------------

    def _start(self, script, phase: str) -> None:
        self._current = (script, phase, time.perf_counter())
        self._statement = None
        self._arm()

    def _finish(self, ok: bool = True) -> None:
        self._disarm()
        assert self._current is not None
        script, phase, started = self._current
        step = Step(script.revision, phase, ok, time.perf_counter() - started)
        self.result.steps.append(step)
        if ok:
            self._current = None
        if self.progress is not None:
            self.progress(script_label(script), step)

    def _migration_fn(self, heads, context):
        if self._ran:  # an env.py that runs migrations twice (several databases): once is enough
            return []
        self._ran = True
        return self._steps(context)

    def _steps(self, context) -> Iterator:
        from alembic.runtime.migration import RevisionStep

        revision_map = self._revision_map
        tracker = None
        if self.downgrade:
            tracker = SchemaTracker(
                context.connection, context.version_table, context.version_table_schema, verify=self.verify_snapshots
            )
            self._tracker = tracker
            self._snapshot(tracker.start)
        for script in self._order:
            self._start(script, "upgrade")
            yield RevisionStep(revision_map, script, True)
            self._finish()
            if tracker is None:
                continue
            self._snapshot(tracker.after_upgrade)
            self._start(script, "downgrade")
            yield RevisionStep(revision_map, script, False)
            self._finish()
            self._start(script, "consistency")
            diff = self._snapshot(tracker.after_downgrade)
            if diff:
                self._diff = tuple(diff)
                raise _StepFailed()
            self._finish()
            self._start(script, "upgrade")
            yield RevisionStep(revision_map, script, True)
            self._finish()
        self._compare_models(context)

    @staticmethod
    def _snapshot(look):
        try:
            return look()
        except Exception as exc:  # noqa: BLE001 - a bug in migdoc's catalog query, not in the project
            raise _SnapshotError(f"schema snapshot failed: {exc}") from exc

    def _compare_models(self, context) -> None:
        """MD020: at the heads, the models (env.py's ``target_metadata``) against the schema."""
        metadata = context.opts.get("target_metadata")
        if metadata is None or self.to is not None or not self._order:
            return
        from migdoc.dryrun.drift import compare_models, drift_of

        head = self._order[-1]
        try:
            # context.opts: the keyword arguments env.py gave context.configure
            diffs = compare_models(context.connection, metadata, context.opts)
        except Exception as exc:  # noqa: BLE001 - the project's metadata or hooks failed: report it
            self.result.failure = Failure(
                None,
                record_path(Path(head.path)),
                "models",
                f"comparing the models failed: {type(exc).__name__}: {exc}",
            )
            return
        self.result.drift = drift_of(diffs, record_path(Path(head.path)), head.revision)

    # -- the step timer ----------------------------------------------------------

    def _can_time(self) -> bool:
        return bool(self.step_timeout) and threading.current_thread() is threading.main_thread()

    def _arm(self) -> None:
        if self._can_time():
            signal.setitimer(signal.ITIMER_REAL, float(self.step_timeout))  # type: ignore[arg-type]

    def _disarm(self) -> None:
        if self._can_time():
            signal.setitimer(signal.ITIMER_REAL, 0)

    def _on_alarm(self, signum, frame) -> None:
        if self._current is None or self._timed_out is not None:
            return
        self._timed_out = (*self._current, self._statement)
        raise _StepTimeout()

    @contextlib.contextmanager
    def _timer(self) -> Iterator[None]:
        """SIGALRM ends a step that runs longer than ``step_timeout``; only in the main thread."""
        if not self._can_time():
            yield
            return
        previous = signal.signal(signal.SIGALRM, self._on_alarm)
        try:
            yield
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.signal(signal.SIGALRM, previous)

    def _note_statement(self, conn, cursor, statement, parameters, context, executemany) -> None:
        self._statement = statement
        if self._tracker is not None:
            self._tracker.note_statement(statement, conn)

    @contextlib.contextmanager
    def _statements(self) -> Iterator[None]:
        from sqlalchemy import event
        from sqlalchemy.engine import Engine

        event.listen(Engine, "before_cursor_execute", self._note_statement)
        try:
            yield
        finally:
            event.remove(Engine, "before_cursor_execute", self._note_statement)

    # -- running ---------------------------------------------------------------

    def run(self) -> DryrunResult:
        started = time.perf_counter()
        # whatever the project's code prints (env.py often prints its URL) goes to stderr:
        # stdout carries migdoc's report, which may be JSON
        with self._process_state(), self._statements(), contextlib.redirect_stdout(sys.stderr):
            if self.identity is None:  # a caller that vouches for the URL itself (tests)
                with self._timer():
                    self._run()
                self._timeout_failure()
                return self._done(started)
            with ConnectionGuard(self.identity, self.project.layout.root) as guard:
                try:
                    with self._timer():
                        self._run()
                except ForeignConnection:
                    pass
                self._timeout_failure()
                if guard.violation is not None:  # also when env.py swallowed the exception
                    raise DatabaseError(guard.violation)
        return self._done(started)

    def _run(self) -> None:
        from alembic.runtime.environment import EnvironmentContext
        from alembic.script import ScriptDirectory

        config = self._config()
        try:
            script_dir = ScriptDirectory.from_config(config)
            self._revision_map = script_dir.revision_map
            self._order = self._plan(script_dir)
        except UsageError:
            raise
        except Exception as exc:  # noqa: BLE001 - the project's code failed to import
            self.result.failure = self._load_failure(exc, "loading the version files")
            return
        self.result.revisions = len(self._order)
        try:
            with EnvironmentContext(config, script_dir, fn=self._migration_fn, as_sql=False):
                script_dir.run_env()
        except _StepTimeout:
            self._timeout_failure()
        except Exception as exc:  # noqa: BLE001 - the project's migrations failed; report, don't crash
            self._fail(exc)
        else:
            if not self._ran:
                self.result.failure = Failure(
                    None,
                    record_path(Path(script_dir.dir) / "env.py"),
                    "load",
                    "env.py did not call context.run_migrations() in online mode",
                )

    def _done(self, started: float) -> DryrunResult:
        self.result.seconds = time.perf_counter() - started
        return self.result

    def _timeout_failure(self) -> None:
        """The step that ran out of time (also when env.py swallowed the interruption)."""
        if self._timed_out is None or self.result.failure is not None:
            return
        self._disarm()
        script, phase, started, statement = self._timed_out
        step = Step(script.revision, phase, False, time.perf_counter() - started)
        self.result.steps.append(step)
        self._current = None
        if self.progress is not None:
            self.progress(script_label(script), step)
        statement = " ".join(statement.split()) if statement else None
        running = "" if statement else " (no statement was running: Python code in the migration)"
        self.result.failure = Failure(
            script.revision,
            record_path(Path(script.path)),
            phase,
            f"did not finish within {self.step_timeout:g} s (--step-timeout){running}",
            statement=statement,
        )

    def _fail(self, exc: BaseException) -> None:
        from sqlalchemy.exc import DBAPIError

        if isinstance(exc, _SnapshotError):
            raise exc
        raise_if_missing_module(exc, self.project.layout.root)
        raise_if_no_app(exc, self.project.layout.root)
        if self._current is None:
            if isinstance(exc, DBAPIError) and is_connection_error(exc):
                raise DatabaseError(f"cannot connect to the database: {db_message(exc)}") from exc
            self.result.failure = self._load_failure(exc, "running env.py")
            return
        script, phase, _ = self._current
        self._finish(ok=False)
        file = record_path(Path(script.path))
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
            if exc.connection_invalidated or is_connection_error(exc):
                raise DatabaseError(
                    f"lost the database during {phase} of {script.revision}: {db_message(exc)}"
                ) from exc
            if is_server_error(exc):
                raise DatabaseError(
                    f"the database server failed during {phase} of {script.revision} ({file}), "
                    f"not the migration: {db_message(exc, hint=True)}"
                ) from exc
            self.result.failure = Failure(
                script.revision,
                file,
                phase,
                db_message(exc),
                statement=statement_of(exc),
                line=line_in(exc, script.path),
            )
            return
        self.result.failure = Failure(
            script.revision, file, phase, f"{type(exc).__name__}: {exc}", line=line_in(exc, script.path)
        )

    def _load_failure(self, exc: BaseException, doing: str) -> Failure:
        raise_if_missing_module(exc, self.project.layout.root)
        raise_if_no_app(exc, self.project.layout.root)
        file, line = project_frame(exc, self.project.layout.root)
        return Failure(None, file, "load", f"{doing}: {type(exc).__name__}: {exc}", line=line)


def _host_of(url: str) -> str | None:
    from sqlalchemy.engine import make_url

    parsed = make_url(url)
    host = parsed.query.get("host")
    return str(host) if isinstance(host, str) else parsed.host


def dryrun_project(
    project,
    load_check,
    *,
    server_url: str | None = None,
    pg_bindir: str | None = None,
    downgrade: bool = True,
    to: str | None = None,
    url_env: Sequence[str] = ("DATABASE_URL",),
    progress: ProgressFn | None = None,
    on_database: Callable[[str], None] | None = None,
    step_timeout: float | None = DEFAULT_STEP_TIMEOUT,
    x_arguments: Sequence[str] = (),
    run_as_server_role: bool = False,
) -> DryrunResult:
    """The whole dry-run: static gate, a database (first way that applies), the stairway, clean-up.

    ``load_check``: the project's static check on :data:`LOAD_CODES`, the gate."""
    from migdoc.dryrun.server import outside_failure, throwaway_database

    started = time.perf_counter()
    failure = static_failure(load_check)
    if failure is not None:
        return DryrunResult(None, failure=failure)
    with throwaway_database(server_url, pg_bindir, run_as_server_role=run_as_server_role) as throwaway:
        if on_database is not None:
            on_database(throwaway.description)
        result = Stairway(
            project,
            throwaway.url,
            downgrade=downgrade,
            to=to,
            url_env=url_env,
            progress=progress,
            database=throwaway.description,
            identity=RunIdentity(throwaway.name, throwaway.token, _host_of(throwaway.url)),
            step_timeout=step_timeout,
            x_arguments=x_arguments,
        ).run()
        changes = throwaway.outside_changes()  # the server's own state, before and after
        if changes:
            result.failure = outside_failure(changes, result.failure)
    result.seconds = time.perf_counter() - started
    return result
