"""migdoc's side of the child process that runs the project's code (see ``child``).

Starts ``python`` (the project's interpreter, ``--python``; default migdoc's own) with
migdoc's package, and nothing else of migdoc's environment, importable; sends the job;
turns what comes back into a ``DryrunResult``, an error of migdoc's own kind, or, when
the process ended without a word (``os._exit`` in a migration, a crash), a failure of the
step it was running. Touches processes and a temporary folder.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path

from migdoc import errors
from migdoc.dryrun.results import DryrunResult, Failure, ProgressFn, Step
from migdoc.errors import EnvironmentProblem, UsageError

# `python -c` puts the current folder first on sys.path, where a project's own package may
# shadow the standard library (airflow/logging/ in airflow's folder): the child drops it, as
# migdoc's own process never had it; the project's prepend_sys_path still applies
_START = (
    "import sys; sys.path[:] = [sys.argv[1], *(p for p in sys.path if p not in ('', '.'))]; "
    "sys.argv[1:] = []; from migdoc.dryrun.child import main; main()"
)


@contextlib.contextmanager
def migdoc_only() -> Iterator[str]:
    """A folder holding only migdoc's package (a link to it): on the child's path, it makes
    migdoc importable without migdoc's own alembic and sqlalchemy shadowing the project's."""
    import migdoc

    folder = tempfile.mkdtemp(prefix="migdoc-child-")
    try:
        os.symlink(Path(migdoc.__file__).resolve().parent, Path(folder) / "migdoc")
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def check_python(python: str) -> str:
    found = shutil.which(python) if os.sep not in python else python
    if not found or not os.access(found, os.X_OK) or Path(found).is_dir():
        raise UsageError(f"--python {python}: no such interpreter", option="--python", value=python)
    return found


def _layout(layout) -> dict:
    def text(value):
        return str(value) if value is not None else None

    return {
        "root": str(layout.root),
        "config_file": text(layout.config_file),
        "ini_section": layout.ini_section,
        "script_location": text(layout.script_location),
        "version_locations": [str(p) for p in layout.version_locations],
        "prepend_sys_path": [str(p) for p in layout.prepend_sys_path],
    }


def run_in_child(
    python: str,
    project,
    url: str,
    *,
    database: str | None,
    identity,
    options: dict,
    progress: ProgressFn | None,
) -> DryrunResult:
    """The stairway, run by ``python`` in a child process; its result as if run here."""
    read_fd, write_fd = os.pipe()
    job = {
        "layout": _layout(project.layout),
        "url": url,
        "database": database,
        "identity": vars(identity) if identity is not None else None,
        "options": options,
        "message_fd": write_fd,
    }
    started, outcome = None, None
    with migdoc_only() as folder:
        try:
            child = subprocess.Popen(
                [python, "-c", _START, folder],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,  # the project's prints: relayed to stderr, never into the report
                stderr=subprocess.STDOUT,
                pass_fds=(write_fd,),
                cwd=str(project.layout.root),
            )
        except OSError as exc:
            os.close(read_fd)
            os.close(write_fd)
            raise EnvironmentProblem(f"--python {python}: cannot start it: {exc}", needs=python) from exc
        os.close(write_fd)
        relay = threading.Thread(target=_relay, args=(child.stdout, sys.stderr), daemon=True)
        relay.start()
        try:
            with child.stdin:  # type: ignore[union-attr]
                child.stdin.write(json.dumps(job).encode())  # type: ignore[union-attr]
            with os.fdopen(read_fd, encoding="utf-8") as channel:
                for line in channel:
                    message = json.loads(line)
                    kind, payload = next(iter(message.items()))
                    if kind == "started":
                        started = payload
                    elif kind == "progress":
                        started = None
                        if progress is not None:
                            progress(payload["label"], _step(payload["step"]))
                    else:
                        outcome = (kind, payload)
            code = child.wait()
        except BaseException:  # a signal for migdoc (or an error here): the child goes first
            _stop(child)
            raise
        finally:
            relay.join(timeout=5)
    return _result(outcome, code, started, python)


def _relay(source, target) -> None:
    """What the project's code prints (env.py's "Using database ..."), as it comes, to
    migdoc's stderr: stdout carries the report, which may be JSON."""
    with contextlib.suppress(OSError, ValueError), source:
        for line in iter(source.readline, b""):
            target.write(line.decode("utf-8", errors="replace"))
            target.flush()


def _stop(child: subprocess.Popen) -> None:
    if child.poll() is None:
        with contextlib.suppress(OSError):
            child.send_signal(signal.SIGTERM)
        try:
            child.wait(timeout=15)
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()


def _step(data: dict) -> Step:
    from migdoc.dryrun.locks import RelationLock

    locks = tuple(RelationLock.from_dict(lock) for lock in data["locks"]) if "locks" in data else None
    return Step(data["revision"], data["phase"], data["ok"], data["seconds"], locks)


def _failure(data: dict) -> Failure:
    from migdoc.dryrun.schema import SchemaChange

    return Failure(
        revision=data["revision"],
        file=data["file"],
        phase=data["phase"],
        error=data["error"],
        statement=data.get("statement"),
        schema_diff=tuple(
            SchemaChange(c["object"], c["name"], c["change"], c["before"], c["after"]) for c in data["schema_diff"]
        ),
        findings=tuple(data.get("findings", ())),
        line=data.get("line"),
    )


def _result(outcome, code: int, started: dict | None, python: str) -> DryrunResult:
    if outcome is None:  # the process ended without a word
        how = f"exit status {code}" if code >= 0 else f"signal {signal.Signals(-code).name}"
        if started is None:
            raise EnvironmentProblem(
                f"the project's code ended the dry-run's process ({how}) before the first migration ran "
                f"(os._exit, a crash of {python}): nothing was tried on the database",
                needs="env.py",
            )
        result = DryrunResult(None)
        result.add_failure(
            Failure(
                started["revision"],
                started["file"],
                started["phase"],
                f"the project's code ended the dry-run's process ({how}) during this step: "
                "a migration must return or raise, never end the process (os._exit) or crash it",
            )
        )
        return result
    kind, payload = outcome
    if kind == "error":
        error_class = getattr(errors, payload["type"], errors.MigdocError)
        if not (isinstance(error_class, type) and issubclass(error_class, errors.MigdocError)):
            error_class = errors.MigdocError
        raise error_class(payload["message"])
    if kind == "interrupted":
        from migdoc.util.signals import Interrupted

        raise Interrupted(payload)
    if kind == "bug":
        raise RuntimeError(f"the dry-run's process failed:\n{payload}")
    from migdoc.dryrun.model_drift import Drift

    result = DryrunResult(
        payload["database"],
        steps=[_step(step) for step in payload["steps"]],
        revisions=payload["revisions"],
        seconds=payload["seconds"],
        drift=[Drift(d["message"], d["file"], d["line"], d["revision"]) for d in payload["model_drift"]],
        not_run=list(payload["not_run"]),
        notes=list(payload["notes"]),
        driver=payload["driver"],
        fast_forward_seconds=payload.get("fast_forward_seconds"),
    )
    for failure in payload["failures"]:
        result.add_failure(_failure(failure))
    return result
