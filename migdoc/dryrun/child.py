"""The dry-run's part that runs the project's code, in a process of its own.

Started by :mod:`migdoc.dryrun.process` with the project's Python (``--python``, default
migdoc's own): reads its job (JSON) on stdin, runs the stairway, and writes what happens
(steps started and done, then the result, or the error that ended it) as JSON lines to
the file descriptor the job names. A migration that calls ``os._exit`` or crashes the
interpreter ends this process, not migdoc's report.

Imports nothing beyond the standard library, alembic, sqlalchemy and the project's
driver (through the modules of ``migdoc.dryrun`` it runs, which keep to the same rule).
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
import traceback
from pathlib import Path
from types import SimpleNamespace


def _layout(data: dict) -> SimpleNamespace:
    def path(value):
        return Path(value) if value is not None else None

    return SimpleNamespace(
        root=Path(data["root"]),
        config_file=path(data["config_file"]),
        ini_section=data["ini_section"],
        script_location=path(data["script_location"]),
        version_locations=[Path(p) for p in data["version_locations"]],
        prepend_sys_path=[Path(p) for p in data["prepend_sys_path"]],
    )


def main() -> None:
    job = json.loads(sys.stdin.read())
    channel = os.fdopen(job["message_fd"], "w", buffering=1, encoding="utf-8")

    def send(kind: str, payload) -> None:
        # migdoc stopped listening (a signal: it is stopping this process too): nothing to tell
        with contextlib.suppress(OSError, ValueError):
            channel.write(json.dumps({kind: payload}) + "\n")
            channel.flush()

    from migdoc.util.signals import FirstSignalGuard, Interrupted

    signals = FirstSignalGuard()
    signals.install()
    code = 0
    try:
        from migdoc.dryrun.base_schema import BaseSchema
        from migdoc.dryrun.guard import RunIdentity
        from migdoc.dryrun.runner import Stairway
        from migdoc.errors import MigdocError

        options = job["options"]
        identity = RunIdentity(**job["identity"]) if job["identity"] else None
        stairway = Stairway(
            SimpleNamespace(layout=_layout(job["layout"])),
            job["url"],
            downgrade=options["downgrade"],
            to=options["to"],
            url_env=options["url_env"],
            progress=lambda label, step: send("progress", {"label": label, "step": step.to_dict()}),
            database=job["database"],
            identity=identity,
            step_timeout=options["step_timeout"],
            x_arguments=options["x_arguments"],
            fail_fast=options["fail_fast"],
            base=BaseSchema(**options["base"]) if options["base"] else None,
            fast_forward=options.get("fast_forward", ()),
        )
        stairway.on_start = lambda script, phase: send(
            "started", {"revision": script.revision, "phase": phase, "file": str(Path(script.path).resolve())}
        )
        try:
            result = stairway.run()
        except MigdocError as exc:
            send("error", {"type": type(exc).__name__, "message": str(exc)})
            code = exc.exit_code
        else:
            send("result", {**result.to_dict(), "revisions": result.revisions, "seconds": result.seconds})
    except Interrupted as exc:
        send("interrupted", exc.signum)
        code = 128 + exc.signum
    except BaseException:  # noqa: BLE001 - a bug in migdoc's own code here: its traceback, for the report
        send("bug", traceback.format_exc())
        code = 3
    finally:
        with contextlib.suppress(OSError, ValueError):
            channel.close()
    sys.exit(code)
