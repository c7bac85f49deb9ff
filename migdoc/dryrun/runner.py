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
import dataclasses
import logging
import logging.config
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

from migdoc.dryrun import base_schema
from migdoc.dryrun.alembic_env import (
    dryrun_config_class,
    forget_relative_finders,
    has_tool_alembic,
    ini_escaped,
    script_label,
    script_parents,
    tolerant_file_config,
)
from migdoc.dryrun.base_schema import BaseSchema
from migdoc.dryrun.failures import (
    NoOnlineRun,
    db_message,
    describe_exception,
    is_connection_error,
    is_server_error,
    line_in,
    project_frame,
    raise_before_first_step,
    raise_if_missing_module,
    raise_if_no_app,
    record_path,
    statement_of,
)
from migdoc.dryrun.guard import ConnectionGuard, ForeignConnection, RunIdentity
from migdoc.dryrun.locks import OPEN_TRANSACTION_NOTE, LockRecorder, lock_risks, own_cursor
from migdoc.dryrun.results import (
    DEFAULT_STEP_TIMEOUT,
    DryrunResult,
    Failure,
    ProgressFn,
    Step,
    static_failure,
)
from migdoc.dryrun.schema import SchemaTracker
from migdoc.errors import DatabaseError, MigdocError, UsageError
from migdoc.util.signals import FirstSignalGuard, Interrupted


class _SnapshotError(RuntimeError):
    """Migdoc's own catalog query failed: a bug to surface (exit 3), not a finding."""


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
        fail_fast: bool = False,
        base: BaseSchema | None = None,
        fast_forward: Sequence[str] = (),
    ) -> None:
        self.project = project
        # --since / --base-ref: revisions upgraded in one env.py run before the stairway, unchecked
        self.fast_forward = frozenset(fast_forward)
        self._quick: list = []  # their scripts, in order: what a reset rebuilds first
        self.fail_fast = fail_fast  # stop at the first failure instead of going on where it safely can
        self.base = base if base is not None and not base.is_empty else None  # built before the chain
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
        # (with the driver the project names: filled in when the run starts)
        self._x_templates = tuple(x_arguments)
        self.x_arguments = tuple(x.replace("{url}", url) for x in x_arguments)
        self._own_url = url  # migdoc's own connection (a synchronous driver)
        self.progress = progress
        self.result = DryrunResult(database)
        self._current: tuple[object, str, float] | None = None  # (script, phase, started)
        self._order: list = []
        self._chain = None  # the revisions as a graph (parents to children), from _plan
        self._script_dir = None
        self._revision_map = None
        self._version_table: str | None = "alembic_version"
        self._version_schema: str | None = None
        self._control_engine = None
        self._connection = None  # migdoc's own connection to the throwaway database (snapshots)
        self._engines: set = set()  # engines env.py made in the current run, disposed after it
        self._next: tuple | None = None  # (script, phase) the env.py run is for; None: no step
        self._guard: ConnectionGuard | None = None
        self._base_built = False
        self.on_start: Callable | None = None  # told of each step as it starts (the child process's channel)
        self._locks = LockRecorder()  # the upgrade step running now: what it locks (``locks``)
        self._locks_pending: int | None = None  # index in result.steps of the step whose locks are to come

    # -- set-up --------------------------------------------------------------

    def _config(self, with_url: bool = True):
        """Alembic's Config as its command line builds it (the ini file and pyproject.toml's
        ``[tool.alembic]`` both), with the script and version locations ``check`` found: one
        configuration, read one way, so whatever ``check`` reads the dry-run runs. With what
        env.py may ask for: the throwaway URL (``sqlalchemy.url``), ``-x`` arguments and
        migdoc's open connection in ``config.attributes["connection"]`` (Alembic's cookbook
        pattern for a caller that hands in its connection)."""
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
        if not with_url:
            return config
        config.set_main_option("sqlalchemy.url", ini_escaped(self.url))
        # where some env.py files (polar's) take a URL a caller hands in, before their settings
        config.attributes["sqlalchemy.url"] = self.url
        if self._connection is not None:
            config.attributes["connection"] = _handed_in(self._connection)
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
        revision_map = script_dir.revision_map
        scripts = {s.revision: s for s in script_dir.walk_revisions()}
        chain = Chain(
            {rev: {parent for parent in script_parents(script) if parent in scripts} for rev, script in scripts.items()}
        )
        self._chain = chain
        wanted = set(scripts)
        if self.to is not None:
            from alembic.script.revision import RevisionError
            from alembic.util import CommandError

            try:
                # several revisions (a database stamped on several branches) are separated by spaces
                targets = revision_map.get_revisions(tuple(self.to.split()) if " " in self.to.strip() else self.to)
            except (CommandError, RevisionError, KeyError, ValueError) as exc:
                raise UsageError(f"--to {self.to}: {exc}", option="--to", value=self.to) from exc
            if not targets:
                raise UsageError(f"--to {self.to}: no such revision", option="--to", value=self.to)
            wanted = set()
            for target in targets:
                if target is not None:
                    wanted |= {target.revision} | chain.ancestors(target.revision)
        return [scripts[rev] for rev in chain.order(wanted)]

    # -- one env.py run per step -------------------------------------------------

    def _run_env(self, migrations: Callable) -> bool:
        """One run of the project's ``env.py`` with a fresh Config, EnvironmentContext and
        MigrationContext, as ``alembic upgrade`` in a new process has them: nothing of an
        earlier step's context (Alembic's ``impl.memo`` of the enum types a step created)
        is carried into this one. ``migrations(context)``: the steps, an iterator Alembic
        drives. False when env.py never asked for them (no online run)."""
        from alembic.runtime.environment import EnvironmentContext

        config = self._config()
        asked = False

        def migration_fn(heads, context):
            nonlocal asked
            if asked:  # an env.py that runs migrations twice (several databases): once is enough
                return []
            asked = True
            self.result.configure_options = dict(context.opts)
            return migrations(context)

        try:
            with EnvironmentContext(config, self._script_dir, fn=migration_fn, as_sql=False):
                self._script_dir.run_env()
        finally:
            self._dispose_engines()
        return asked

    def _remember_engine(self, connection, *branch) -> None:  # SQLAlchemy 1.4 also passes ``branch``
        if connection.engine is not self._control_engine:
            self._engines.add(connection.engine)

    def _dispose_engines(self) -> None:
        """Closes what the engines env.py made in this run still pool: a run per step must not
        pile up open connections (an env.py without NullPool)."""
        engines, self._engines = list(self._engines), set()
        for engine in engines:
            with contextlib.suppress(Exception):
                engine.dispose()

    def _step(self, script, phase: str) -> Failure | None:
        """One step (``upgrade``, ``downgrade`` or ``re-upgrade``) in its own env.py run;
        its failure, if any."""
        from alembic.runtime.migration import RevisionStep

        def migrations(context):
            self._start(script, phase)
            yield RevisionStep(self._revision_map, script, phase != "downgrade")
            self._finish()

        self._next = (script, phase)
        return self._guarded_run(migrations)

    def _guarded_run(self, migrations: Callable) -> Failure | None:
        ran = False
        try:
            with self._timer():
                if not self._run_env(migrations):
                    raise NoOnlineRun()
            ran = True
        except _StepTimeout:
            pass
        except (ForeignConnection, Interrupted, _SnapshotError, MigdocError):
            raise
        except KeyboardInterrupt as exc:
            if not isinstance(signal.getsignal(signal.SIGINT), FirstSignalGuard):
                raise  # no signal guard here (a library caller): a real Ctrl-C may look like this
            return self._failure_of(exc)
        except BaseException as exc:  # noqa: BLE001 - the project's code failed (or exited): report, don't crash
            return self._failure_of(exc)
        finally:
            self._settle(ok=ran)
            self._complete_locks()
        if self._timed_out is not None:  # also when env.py swallowed the interruption
            return self._timeout_failure()
        if self._current is not None:  # the step began and never ended: env.py swallowed its error
            script, phase, _ = self._current
            self._finish(ok=False)
            return Failure(
                script.revision,
                record_path(Path(script.path)),
                phase,
                "the step did not finish: env.py caught its error and went on (the error itself is not known)",
            )
        return None

    def _settle(self, ok: bool) -> None:
        """Our connection out of any transaction env.py left open on it (one begun before its
        ``context.configure``, which Alembic then leaves to its caller to commit), so that the
        next step, and the snapshot, start where this step ended."""
        connection = self._connection
        if connection is None:
            return
        with contextlib.suppress(Exception):
            if connection.in_transaction():
                if ok:
                    connection.commit()
                else:
                    connection.rollback()
        if connection.closed or connection.invalidated:  # env.py closed it: a fresh one
            self._connection = self._control_engine.connect()
            if self._tracker is not None:
                self._tracker.connection = self._connection

    # -- the stairway ----------------------------------------------------------------

    def _stairway(self) -> None:
        """Every revision up, down, compared, up again, each step its own env.py run. A
        failure is recorded and, unless ``fail_fast``, the run goes on where it safely can:
        the database rebuilt at the last good state; nothing above a failed upgrade runs."""
        if not self.downgrade:
            self._upgrades_only()
            return
        tracker = None
        if self.downgrade:
            tracker = SchemaTracker(
                self._connection, self._version_table, self._version_schema, verify=self.verify_snapshots
            )
            self._tracker = tracker
            self._snapshot(tracker.start)
            self._connection.commit()  # the event triggers visible to env.py's own connections
        upgraded: list = []  # the revisions the database holds: what a reset rebuilds
        broken: set[str] = set()  # revisions that could not be upgraded
        for script in self._order:
            if broken & self._chain.ancestors(script.revision):
                self.result.not_run.append(script.revision)
                continue
            failure = self._step(script, "upgrade")
            if failure is not None:
                broken.add(script.revision)
                if self._failed(failure, upgraded):
                    return
                continue
            upgraded.append(script)
            if tracker is None:
                continue
            self._snapshot(tracker.after_upgrade)
            self._connection.commit()
            failure = self._step(script, "downgrade")
            if failure is None:
                failure = self._consistency(script, tracker)
            if failure is None:
                failure = self._step(script, "re-upgrade")
            if failure is not None and self._failed(failure, upgraded):
                return
        self._compare_models()

    def _upgrades_only(self) -> None:
        """``--no-downgrade``: the upgrades in one env.py run, as ``alembic upgrade head``
        runs them (each revision upgraded once: no context outlives a step it could mislead);
        after a failure, unless ``fail_fast``, a new run on the rebuilt database goes on with
        the revisions that do not need the failed one."""
        from alembic.runtime.migration import RevisionStep

        pending = list(self._order)
        upgraded: list = []
        broken: set[str] = set()

        def migrations(context):
            while pending:
                script = pending.pop(0)
                if broken & self._chain.ancestors(script.revision):
                    self.result.not_run.append(script.revision)
                    continue
                self._next = (script, "upgrade")
                self._start(script, "upgrade")
                yield RevisionStep(self._revision_map, script, True)
                self._finish()
                upgraded.append(script)

        while pending:
            left = len(pending)
            failure = self._guarded_run(migrations)
            if failure is None:
                continue
            if failure.revision is not None:
                broken.add(failure.revision)
            if self._failed(failure, upgraded) or len(pending) == left:  # no step taken: no way on
                return
        self._compare_models()

    def _consistency(self, script, tracker: SchemaTracker) -> Failure | None:
        self._start(script, "consistency")
        diff = self._snapshot(tracker.after_downgrade)
        self._connection.commit()
        if not diff:
            self._finish()
            return None
        self._finish(ok=False)
        count = len(diff)
        noun = "difference" if count == 1 else "differences"
        return Failure(
            script.revision,
            record_path(Path(script.path)),
            "consistency",
            f"the schema after downgrade differs from the schema before upgrade ({count} {noun})",
            schema_diff=tuple(diff),
        )

    def _failed(self, failure: Failure, upgraded: list) -> bool:
        """Records ``failure``; True when the run stops here (``fail_fast``, or no way on)."""
        self.result.add_failure(failure)
        if self.fail_fast:
            return True
        reset_failure = self._reset(upgraded)
        if reset_failure is not None:
            self.result.add_failure(reset_failure)
            return True
        return False

    def _reset(self, upgraded: list) -> Failure | None:
        """The throwaway database emptied and rebuilt by upgrading, in one env.py run (an
        ``alembic upgrade``), every revision that upgraded cleanly so far: the state the
        next step expects, whatever the failed step left behind."""
        from alembic.runtime.migration import RevisionStep
        from sqlalchemy import text
        from sqlalchemy.exc import DBAPIError

        self._timed_out = None
        try:
            with self._connection.begin():
                self._connection.execute(text(_EMPTY_DATABASE_SQL))  # text(): the % of format() escaped
        except DBAPIError as exc:
            return Failure(None, None, "reset", f"could not empty the database to go on: {db_message(exc)}")
        self._build_base()
        upgraded = [*self._quick, *upgraded]  # the fast-forwarded revisions lie below every step
        if upgraded:

            def migrations(context):
                for script in upgraded:
                    yield RevisionStep(self._revision_map, script, True)

            self._next = (upgraded[-1], "upgrade")
            failure = self._guarded_run(migrations)
            if failure is not None:
                return dataclasses.replace(
                    failure, error=f"rebuilding the database after the failure above: {failure.error}"
                )
        if self._tracker is not None:  # the whole schema read again; the next "before" is now
            self._tracker.opaque = True
            self._snapshot(self._tracker.after_upgrade)
            self._snapshot(self._tracker.after_downgrade)
            self._connection.commit()
        return None

    @staticmethod
    def _snapshot(look):
        try:
            return look()
        except Exception as exc:  # noqa: BLE001 - a bug in migdoc's catalog query, not in the project
            raise _SnapshotError(f"schema snapshot failed: {exc}") from exc

    def _compare_models(self) -> None:
        """MD020: at the heads, the models (env.py's ``target_metadata``) against the schema,
        in one more env.py run (the context it configures carries the models)."""
        if self.to is not None or not self._order or self.result.failures:
            return
        head = self._order[-1]

        def migrations(context):
            self._models_drift(context, head)
            return iter(())

        self._next = (head, "models")
        failure = self._guarded_run(migrations)
        if failure is not None:
            self.result.add_failure(failure)

    def _models_drift(self, context, head) -> None:
        metadata = context.opts.get("target_metadata")
        if metadata is None:
            return
        from migdoc.dryrun.model_drift import compare_models, drift_of

        try:
            # context.opts: the keyword arguments env.py gave context.configure (include_object...)
            diffs = compare_models(context.connection, metadata, context.opts)
        except Exception as exc:  # noqa: BLE001 - the project's metadata or hooks failed: report it
            self.result.add_failure(
                Failure(
                    None,
                    record_path(Path(head.path)),
                    "models",
                    f"comparing the models failed: {type(exc).__name__}: {exc}",
                )
            )
            return
        self.result.drift = drift_of(diffs, record_path(Path(head.path)), head.revision)

    # -- the step timer ----------------------------------------------------------

    def _start(self, script, phase: str) -> None:
        if self.on_start is not None:
            self.on_start(script, phase)
        self._complete_locks()
        self._locks.abandon()  # a step that failed before: nothing of it is carried on
        if phase == "upgrade" and self._connection is not None:
            with self._lock_measurement():
                with own_cursor(self._connection) as cursor:
                    self._locks.start(cursor)
        self._current = (script, phase, time.perf_counter())
        self._statement = None
        self._arm()

    @contextlib.contextmanager
    def _lock_measurement(self) -> Iterator[None]:
        """A failure of migdoc's own catalog queries is no failure of the project's step: the
        step goes on unmeasured, and a note says so once."""
        try:
            yield
        except Exception as exc:  # noqa: BLE001 - reported as a note, never as the step's failure
            self._locks.abandon()
            note = f"the lock report is incomplete: measuring a step failed ({type(exc).__name__}: {exc})"
            if note not in self.result.notes:
                self.result.notes.append(note)

    def _complete_locks(self) -> None:
        """The pending upgrade step's lock records (``locks``), read now that its transaction
        has committed (its locks were seen before COMMIT) or is still open (seen open)."""
        index, self._locks_pending = self._locks_pending, None
        if index is None:
            return
        if self._connection is not None and self._locks.is_running:
            with self._lock_measurement():
                with own_cursor(self._connection) as cursor:
                    locks = self._locks.finish(cursor)
                self.result.steps[index] = dataclasses.replace(self.result.steps[index], locks=locks)
        self._locks.abandon()
        if self._locks.saw_open_transaction and OPEN_TRANSACTION_NOTE not in self.result.notes:
            self.result.notes.append(OPEN_TRANSACTION_NOTE)

    def _finish(self, ok: bool = True) -> None:
        self._disarm()
        assert self._current is not None
        script, phase, started = self._current
        step = Step(script.revision, phase, ok, time.perf_counter() - started)
        if ok and self._locks.is_running:
            # measured once the step's transaction is over: at the end of this env.py run, or when
            # the next step starts (an env.py that commits its own transaction after the steps)
            self._locks_pending = len(self.result.steps)
        else:
            self._locks.abandon()
        self.result.steps.append(step)
        self._current = None
        if self.progress is not None:
            self.progress(script_label(script), step)

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
        tracker = self._tracker
        if tracker is not None and tracker.busy:
            return
        self._statement = statement
        if tracker is not None:
            # the event triggers were committed before any of the project's code ran, so a
            # statement on env.py's own connection is seen by them as one on ours
            tracker.note_statement(statement, tracker.connection)

    @contextlib.contextmanager
    def _statements(self) -> Iterator[None]:
        from sqlalchemy import event
        from sqlalchemy.engine import Engine

        event.listen(Engine, "before_cursor_execute", self._note_statement)
        event.listen(Engine, "engine_connect", self._remember_engine)
        event.listen(Engine, "commit", self._note_locks)
        try:
            with self._engines_kept():
                yield
        finally:
            event.remove(Engine, "before_cursor_execute", self._note_statement)
            event.remove(Engine, "engine_connect", self._remember_engine)
            event.remove(Engine, "commit", self._note_locks)

    def _note_locks(self, conn) -> None:
        """Before a COMMIT during an upgrade step: the locks that transaction holds (``locks``).
        Read through the driver's cursor, outside SQLAlchemy's events."""
        if not self._locks.is_running:
            return
        with contextlib.suppress(Exception):  # a connection that cannot say: the commit goes on
            cursor = conn.connection.cursor()
            try:
                self._locks.on_commit(cursor)
            finally:
                cursor.close()

    @contextlib.contextmanager
    def _engines_kept(self) -> Iterator[None]:
        """env.py runs once per step and makes its engine each time, with the same arguments:
        the engine made the first time is given again (its pool emptied after every run), so
        SQLAlchemy's first-connect queries (server version, settings) are not sent three times
        a revision. No migration state lives in an engine (Alembic's memo is the migration
        context's, made anew per step). Arguments that differ (a ``creator`` function made
        anew) make a new engine, and so does an engine env.py added listeners to (a
        ``connect`` hook that sets the search path): given again, it would run every earlier
        run's copy of the hook too."""
        import sqlalchemy
        import sqlalchemy.engine
        import sqlalchemy.engine.create as create_module

        original = create_module.create_engine
        made: dict[str, tuple[object, int | None]] = {}

        def create_engine(url, **kwargs):
            try:
                key = repr((str(url), sorted(kwargs.items())))
            except Exception:  # noqa: BLE001 - arguments that cannot be compared: a new engine
                return original(url, **kwargs)
            kept = made.get(key)
            if kept is not None and kept[1] is not None and _own_listeners(kept[0]) == kept[1]:
                return kept[0]
            if kept is not None:
                with contextlib.suppress(Exception):
                    kept[0].dispose()
            engine = original(url, **kwargs)
            made[key] = (engine, _own_listeners(engine))
            return engine

        owners = (sqlalchemy, sqlalchemy.engine, create_module)
        for owner in owners:
            owner.create_engine = create_engine
        try:
            yield
        finally:
            for owner in owners:
                owner.create_engine = original
            for engine, _ in made.values():
                with contextlib.suppress(Exception):
                    engine.dispose()

    # -- running ---------------------------------------------------------------

    def _choose_driver(self) -> None:
        """The driver the project's own URL names, kept when installed (see ``driver_choice``)."""
        from migdoc.dryrun.driver_choice import choose_driver

        urls: list[str | None] = []
        with contextlib.suppress(Exception):  # a config env.py alone can read is no URL here
            urls.append(self._config(with_url=False).get_main_option("sqlalchemy.url"))
        urls.extend(os.environ.get(name) for name in self.url_env)
        choice = choose_driver(self.url, urls)
        self.url, self._own_url, self.result.driver = choice.url, choice.own_url, choice.driver
        self.x_arguments = tuple(x.replace("{url}", self.url) for x in self._x_templates)
        if choice.note:
            self.result.notes.append(choice.note)

    def run(self) -> DryrunResult:
        started = time.perf_counter()
        self._choose_driver()
        # whatever the project's code prints (env.py often prints its URL) goes to stderr:
        # stdout carries migdoc's report, which may be JSON
        with self._process_state(), self._statements(), contextlib.redirect_stdout(sys.stderr):
            if self.identity is None:  # a caller that vouches for the URL itself (tests)
                self._run()
                return self._done(started)
            with ConnectionGuard(self.identity, self.project.layout.root) as guard:
                self._guard = guard
                try:
                    self._run()
                except ForeignConnection:
                    pass
                if guard.violation is not None:  # also when env.py swallowed the exception
                    raise DatabaseError(guard.violation)
        return self._done(started)

    def _run(self) -> None:
        from alembic.script import ScriptDirectory
        from sqlalchemy import create_engine
        from sqlalchemy.pool import NullPool

        config = self._config()
        try:
            script_dir = ScriptDirectory.from_config(config)
            self._script_dir = script_dir
            self._revision_map = script_dir.revision_map
            self._order = self._plan(script_dir)
        except UsageError:
            raise
        except Exception as exc:  # noqa: BLE001 - the project's code failed to import
            self.result.add_failure(self._load_failure(exc, "loading the version files"))
            return
        self.result.revisions = len(self._order)
        # future=True: SQLAlchemy 1.4's 2.0-style connection (commit()), what 2.x always gives
        self._control_engine = create_engine(self._own_url, poolclass=NullPool, future=True)
        try:
            self._connection = self._control_engine.connect()
            try:
                self._version_table, self._version_schema = self._version_table_of()
                # Alembic's own bookkeeping (a RowExclusive UPDATE) is no lock risk of the project's
                self._locks.ignored = (str(self._version_table), f"{self._version_schema}.{self._version_table}")
                if self._version_table is None:  # env.py failed (or ran no migrations) before anything ran
                    return
                self._build_base()
                if self._fast_forwarded():
                    self._stairway()
            finally:
                with contextlib.suppress(Exception):
                    self._connection.close()
        finally:
            self._control_engine.dispose()

    def _build_base(self) -> None:
        """``--base-sql``/``--setup``/``--setup-stamp``: the schema the chain starts from;
        then the chain starts above what the version table holds (a stamp)."""
        if self.base is None:
            return
        base_schema.build(
            self._connection,
            self.base,
            self._script_dir,
            self.project.layout.root,
            self._version_table,
            self._version_schema,
        )
        heads = base_schema.current_heads(self._connection, self._version_table, self._version_schema)
        self._connection.commit()
        below: set[str] = set()
        for head in heads:
            if head in self._chain:
                below |= {head} | self._chain.ancestors(head)
        if below and not self._base_built:
            self._order = [script for script in self._order if script.revision not in below]
            self.result.revisions = len(self._order)
            self.result.notes.append(
                f"the chain starts above {', '.join(sorted(heads))}, where the base schema is stamped "
                f"({len(below)} revision{'s' if len(below) != 1 else ''} below it not run)"
            )
        self._base_built = True

    def _fast_forwarded(self) -> bool:
        """The revisions below the scope upgraded as ``alembic upgrade`` would, in one env.py
        run without snapshots or downgrades; the stairway then runs the rest. False: one of
        them failed (recorded), so nothing above it can be proved."""
        if not self.fast_forward:
            return True
        from alembic.runtime.migration import RevisionStep

        quick = [script for script in self._order if script.revision in self.fast_forward]
        self._order = [script for script in self._order if script.revision not in self.fast_forward]
        self.result.revisions = len(self._order)
        started = time.perf_counter()

        def migrations(context):
            for script in quick:
                # a failure here is this revision's: _failure_of reads the step running
                self._current = (script, "fast-forward", time.perf_counter())
                yield RevisionStep(self._revision_map, script, True)
                self._current = None

        if quick:
            self._next = (quick[0], "fast-forward")
            failure = self._guarded_run(migrations)
            if failure is not None:
                self.result.add_failure(failure)
                self.result.not_run.extend(script.revision for script in self._order)
                return False
        self._quick = quick
        self.result.fast_forward_seconds = time.perf_counter() - started
        self.result.notes.append(
            f"fast-forwarded {len(quick)} revision{'s' if len(quick) != 1 else ''} in one upgrade, unchecked "
            f"({self.result.fast_forward_seconds:.1f} s); the stairway runs the {len(self._order)} in scope"
        )
        return True

    def _version_table_of(self) -> tuple[str | None, str | None]:
        """A first env.py run that runs nothing: where env.py keeps the version table (its
        ``context.configure`` says), and env.py proved able to start before any step."""
        found: list = []

        def migrations(context):
            found.append((context._version.name, context._version.schema))
            return iter(())

        self._next = None
        failure = self._guarded_run(migrations)
        if failure is not None:  # only a step can fail; before one, _failure_of raises
            self.result.add_failure(failure)
            return None, None
        return found[0] if found else ("alembic_version", None)

    def _done(self, started: float) -> DryrunResult:
        self.result.seconds = time.perf_counter() - started
        return self.result

    def _timeout_failure(self) -> Failure | None:
        """The step that ran out of time (also when env.py swallowed the interruption)."""
        if self._timed_out is None:
            return None
        self._disarm()
        script, phase, started, statement = self._timed_out
        self._timed_out = None
        step = Step(script.revision, phase, False, time.perf_counter() - started)
        self.result.steps.append(step)
        self._current = None
        if self.progress is not None:
            self.progress(script_label(script), step)
        statement = " ".join(statement.split()) if statement else None
        running = "" if statement else " (no statement was running: Python code in the migration)"
        return Failure(
            script.revision,
            record_path(Path(script.path)),
            phase,
            f"did not finish within {self.step_timeout:g} s (--step-timeout){running}",
            statement=statement,
        )

    def _failure_of(self, exc: BaseException) -> Failure:
        """What the project's code raising ``exc`` means: a failed step (returned), or a
        problem of the environment, the database or the server (raised)."""
        from sqlalchemy.exc import DBAPIError

        if self._guard is not None and self._guard.violation is not None:
            raise ForeignConnection(self._guard.violation)  # env.py swallowed it: whatever came after is moot
        if self._timed_out is not None:
            return self._timeout_failure()  # type: ignore[return-value]
        raise_if_missing_module(exc, self.project.layout.root)
        raise_if_no_app(exc, self.project.layout.root)
        if self._current is None:
            if isinstance(exc, DBAPIError) and is_connection_error(exc):
                raise DatabaseError(f"cannot connect to the database: {db_message(exc)}") from exc
            if self._next is None or not self.result.steps:
                raise_before_first_step(exc, self.project.layout.root, self._env_py)
            script, phase = self._next
            failure = self._load_failure(exc, "running env.py")
            return dataclasses.replace(failure, revision=script.revision, phase=phase)
        script, phase, _ = self._current
        self._finish(ok=False)
        file = record_path(Path(script.path))
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
            return Failure(
                script.revision,
                file,
                phase,
                db_message(exc),
                statement=statement_of(exc),
                line=line_in(exc, script.path),
            )
        return Failure(script.revision, file, phase, describe_exception(exc), line=line_in(exc, script.path))

    @property
    def _env_py(self) -> str:
        return record_path(Path(self._script_dir.dir) / "env.py")

    def _load_failure(self, exc: BaseException, doing: str) -> Failure:
        raise_if_missing_module(exc, self.project.layout.root)
        raise_if_no_app(exc, self.project.layout.root)
        file, line = project_frame(exc, self.project.layout.root)
        return Failure(None, file, "load", f"{doing}: {describe_exception(exc)}", line=line)


_EMPTY_DATABASE_SQL = r"""
DO $migdoc$
DECLARE s text;
BEGIN
  FOR s IN SELECT nspname FROM pg_namespace
           WHERE nspname NOT IN ('pg_catalog', 'information_schema')
             AND left(nspname, 8) NOT IN ('pg_toast', 'pg_temp_') LOOP
    EXECUTE format('DROP SCHEMA %I CASCADE', s);
  END LOOP;
  CREATE SCHEMA public;
END
$migdoc$
"""
"""Every schema of the throwaway database dropped and ``public`` made again: the database
as it was created (the run's event triggers and functions live in pg_catalog and stay)."""


def _own_listeners(engine) -> int | None:
    """How many event listeners an engine and its pool carry of their own (not their class's);
    None when this SQLAlchemy does not say (the engine is then never given again)."""
    try:
        count = 0
        for target in (engine, engine.pool):
            dispatch = target.dispatch
            for name in dispatch._event_names:
                count += len(getattr(getattr(dispatch, name), "listeners", ()))
        return count
    except Exception:  # noqa: BLE001 - SQLAlchemy's internals moved: no reuse, as before
        return None


class _Borrowed:
    """``with connection.connect() as c:`` on a connection handed in: the connection itself,
    left open (SQLAlchemy 1.x's ``Connection.connect()`` gave a branch of the same one)."""

    def __init__(self, connection) -> None:
        self.connection = connection

    def __enter__(self):
        return self.connection

    def __exit__(self, *exc_info) -> None:
        return None


def _handed_in(connection):
    """migdoc's connection as env.py gets it in ``config.attributes["connection"]``. Env.py
    files written for SQLAlchemy 1.x (jupyterhub's) treat what they find there like an
    engine: ``with connectable.connect() as connection:``; SQLAlchemy 2's Connection has no
    ``connect()``, so the handed-in one gets one that lends itself."""
    connection.connect = lambda: _Borrowed(connection)
    return connection


class Chain:
    """The revisions as a graph, parents to children: standard library only, as all of the
    dry-run's part that runs in the project's Python (``--python``) must be."""

    def __init__(self, parents: dict[str, set[str]]) -> None:
        self.parents = parents
        self._ancestors: dict[str, frozenset[str]] = {}

    def __contains__(self, revision: object) -> bool:
        return revision in self.parents

    def ancestors(self, revision: str) -> frozenset[str]:
        found = self._ancestors.get(revision)
        if found is None:
            seen: set[str] = set()
            stack = list(self.parents.get(revision, ()))
            while stack:
                parent = stack.pop()
                if parent not in seen:
                    seen.add(parent)
                    stack.extend(self.parents.get(parent, ()))
            found = self._ancestors[revision] = frozenset(seen)
        return found

    def order(self, wanted: set[str]) -> list[str]:
        """``wanted`` base first; among revisions ready at once, the smallest id first (a
        stable order: networkx's lexicographical topological sort, as before)."""
        import heapq

        waiting = {rev: len(self.parents[rev] & wanted) for rev in wanted}
        children: dict[str, list[str]] = {rev: [] for rev in wanted}
        for rev in wanted:
            for parent in self.parents[rev] & wanted:
                children[parent].append(rev)
        ready = [rev for rev, count in waiting.items() if count == 0]
        heapq.heapify(ready)
        ordered = []
        while ready:
            rev = heapq.heappop(ready)
            ordered.append(rev)
            for child in children[rev]:
                waiting[child] -= 1
                if waiting[child] == 0:
                    heapq.heappush(ready, child)
        return ordered


def host_of(url: str) -> str | None:
    from sqlalchemy.engine import make_url

    parsed = make_url(url)
    host = parsed.query.get("host")
    return str(host) if isinstance(host, str) else parsed.host


def run_stairway(
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
    fail_fast: bool = False,
    base: BaseSchema | None = None,
    python: str | None = None,
    in_process: bool = False,
    fast_forward: Sequence[str] = (),
    after_run: Callable[[str], None] | None = None,
) -> DryrunResult:
    """The whole dry-run: static gate, a database (first way that applies), the stairway
    (run by ``python``, default this one, in a child process), clean-up. ``in_process``:
    the stairway in this process instead (a harness that hands env.py objects of its own;
    a migration that ends the process then ends the caller too).

    ``load_check``: the project's static check on :data:`LOAD_CODES`, the gate."""
    from migdoc.dryrun.server import outside_failure, throwaway_database

    if to is not None and not to.strip():
        raise UsageError(
            "--to needs a revision (an id, a prefix of one, head, label@head); an empty one names none",
            option="--to",
            value=to,
        )
    if base is not None and base.setup is not None:
        base_schema.check_setup_spec(base.setup)
    if (
        base is not None and base.sql_file is not None and base.sql_text is None
    ):  # read now: the run works in the project's folder
        base = dataclasses.replace(base, sql_text=base_schema.read_sql(base.sql_file))
    started = time.perf_counter()
    failure = static_failure(load_check)
    if failure is not None:
        return DryrunResult(None, failure=failure)
    from migdoc.dryrun.process import check_python

    python = check_python(python or sys.executable)
    with throwaway_database(server_url, pg_bindir, run_as_server_role=run_as_server_role) as throwaway:
        if on_database is not None:
            on_database(throwaway.description)
        if in_process:
            result = Stairway(
                project,
                throwaway.url,
                downgrade=downgrade,
                to=to,
                url_env=url_env,
                progress=progress,
                database=throwaway.description,
                identity=RunIdentity(
                    throwaway.name,
                    throwaway.token,
                    host_of(throwaway.url),
                    project.layout.settings.lock_timeout_ms,
                ),
                step_timeout=step_timeout,
                x_arguments=x_arguments,
                fail_fast=fail_fast,
                base=base,
                fast_forward=fast_forward,
            ).run()
        else:
            result = _run_child(
                python,
                project,
                throwaway,
                downgrade=downgrade,
                to=to,
                url_env=url_env,
                step_timeout=step_timeout,
                x_arguments=x_arguments,
                fail_fast=fail_fast,
                base=base,
                progress=progress,
                fast_forward=fast_forward,
            )
        result.lock_risks = lock_risks(result.steps, _upgrade_bodies(project))
        if after_run is not None:  # the throwaway database as the run left it (the drift check reads it)
            after_run(throwaway.url)
        changes = throwaway.outside_changes()  # the server's own state, before and after
        if changes:
            server = outside_failure(changes, result.failure)
            result.failure = server
            result.failures.insert(0, server)
    result.seconds = time.perf_counter() - started
    return result


def _upgrade_bodies(project) -> dict:
    """Revision -> (file, ``upgrade()`` as read statically): the lines lock risks point at."""
    graph = getattr(project, "graph", None)
    if graph is None:
        return {}
    found = {}
    for index in graph.kept.values():
        rf = graph.files[index]
        found[rf.revision] = (record_path(Path(rf.path)), rf.upgrade)
    return found


def _run_child(
    python,
    project,
    throwaway,
    *,
    downgrade,
    to,
    url_env,
    step_timeout,
    x_arguments,
    fail_fast,
    base,
    progress,
    fast_forward=(),
):
    """The stairway in a child process run by ``python`` (see :mod:`migdoc.dryrun.child`)."""
    from migdoc.dryrun.process import run_in_child

    result = run_in_child(
        python,
        project,
        throwaway.url,
        database=throwaway.description,
        identity=RunIdentity(
            throwaway.name,
            throwaway.token,
            host_of(throwaway.url),
            project.layout.settings.lock_timeout_ms,
        ),
        options={
            "downgrade": downgrade,
            "to": to,
            "url_env": list(url_env),
            "step_timeout": step_timeout,
            "x_arguments": list(x_arguments),
            "fail_fast": fail_fast,
            "base": dataclasses.asdict(base) if base is not None else None,
            "fast_forward": sorted(fast_forward),
        },
        progress=progress,
    )
    if result.database is None:
        result.database = throwaway.description
    return result
