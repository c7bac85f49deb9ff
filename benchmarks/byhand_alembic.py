"""Alembic run by hand, the reference verdict for ``bench_real_apps.py`` (and tests/test_real_apps.py).

Runs inside an application's own virtual environment (``APP_VENV/bin/python byhand_alembic.py SPEC``),
with that application's Alembic, SQLAlchemy, driver and ``env.py``, through Alembic's own command
API only: no migdoc code is imported here. SPEC is a JSON object:

* ``url``: the throwaway database (with the application's driver);
* ``mode``: ``updownup`` (``upgrade heads``, ``downgrade base``, ``upgrade heads``: what a careful
  engineer runs first), ``check`` (``upgrade heads`` then ``alembic check``: do the models match
  the migrations, the reference for migdoc's MD020), ``steps`` (``upgrade REV`` for each revision in order, each its own
  command, as deployments across releases run them) or ``stairway`` (``upgrade REV``,
  ``downgrade`` to its parent, ``upgrade REV`` again, each its own command);
* ``ini`` / ``script``: the Alembic config file and ``script_location`` (either may be absent);
* ``versions``: version folders the application sets in code (``version_locations``);
* ``attributes``: values for ``config.attributes`` (keystone's ``configure_logger``);
* ``ini_from``: ``MODULE:CALLABLE``, a context manager the application itself uses to write its
  config file, called with the URL (jupyterhub's template ``alembic.ini``);
* ``env``: environment variables to set (``{url}`` is replaced); ``x``: ``-x`` arguments;
* ``setup``: ``MODULE:ATTRIBUTE.PATH``, called once with an open connection before the first
  command, for an application that builds its base schema in code (mlflow's initial models);
* ``prepare``: ``MODULE:ATTRIBUTE`` callables the application's own command calls first, with no
  arguments (keystone-manage loads its oslo.config options);
* ``wrap``: ``MODULE:ATTRIBUTE``, an async function the application runs each Alembic command
  through (prefect runs them in an anyio worker thread: ``run_sync_in_worker_thread``);
* ``imports``: modules the application's own command imports before running Alembic;
* ``connection``: hand an open connection in ``config.attributes["connection"]`` (as the
  applications that call Alembic from code do).

Prints one JSON line: ``ok``, ``revisions`` (Alembic's count), ``commands``, ``seconds`` and, on a
failure, ``revision``, ``phase`` and ``error`` (the exception's first line).
"""

from __future__ import annotations

import contextlib
import importlib
import json
import os
import re
import sys
import time

from alembic import command
from alembic.config import Config
from alembic.runtime import migration
from alembic.script import ScriptDirectory

RUNNING = re.compile(r"Running (upgrade|downgrade) (.*?) -> (.*?)(?:, |$)")


class _LastStep:
    """Notes the revision Alembic last started, from its own "Running upgrade a -> b" log line
    (the only place a failing step is named when one command runs many steps)."""

    def __init__(self, logger):
        self.logger = logger
        self.revision = None
        self.phase = None

    def info(self, message, *args, **kwargs):
        text = message % args if args else str(message)
        match = RUNNING.search(text)
        if match:
            self.phase = match.group(1)
            # upgrade "down -> rev", downgrade "rev -> down": the revision whose code runs
            self.revision = match.group(3) if self.phase == "upgrade" else match.group(2)
        return self.logger.info(message, *args, **kwargs)

    def __getattr__(self, name):
        return getattr(self.logger, name)


def _callable(reference):
    module_name, _, path = reference.partition(":")
    value = importlib.import_module(module_name)
    for attribute in path.split("."):
        value = getattr(value, attribute)
    return value


def main() -> int:
    spec = json.loads(sys.argv[1])
    url = spec["url"]
    for name, value in spec.get("env", {}).items():
        os.environ[name] = value.replace("{url}", url)
    del sys.argv[1:]  # an application's config parser reads the command line: leave it ours alone
    for module_name in spec.get("imports", []):
        importlib.import_module(module_name)
    for reference in spec.get("prepare", []):
        _callable(reference)()
    last_step = _LastStep(migration.log)
    migration.log = last_step
    with contextlib.ExitStack() as stack:
        ini = spec.get("ini")
        if spec.get("ini_from"):
            ini = stack.enter_context(_callable(spec["ini_from"])(url))

        def config() -> Config:
            # a new Config per command: each command is what a new `alembic` process would run
            cfg = Config(ini, cmd_opts=_options(spec.get("x", [])))
            if spec.get("script"):
                cfg.set_main_option("script_location", spec["script"])
            cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
            if spec.get("versions"):
                cfg.set_main_option("path_separator", "os")
                cfg.set_main_option("version_locations", os.pathsep.join(spec["versions"]))
            cfg.attributes.update(spec.get("attributes", {}))
            return cfg

        if spec.get("setup"):
            from sqlalchemy import create_engine, pool

            with create_engine(url, poolclass=pool.NullPool).begin() as connection:
                _callable(spec["setup"])(connection)
        script = ScriptDirectory.from_config(config())
        revisions = list(reversed(list(script.walk_revisions())))
        plan = _plan(spec["mode"], revisions)
        started = time.perf_counter()
        commands = 0
        engine = None
        if spec.get("connection"):
            from sqlalchemy import create_engine, pool

            engine = create_engine(url, poolclass=pool.NullPool)
        for verb, target, revision, label in plan:
            cfg = config()
            try:
                if engine is not None:
                    with engine.begin() as connection:
                        cfg.attributes["connection"] = connection
                        _run(cfg, verb, target, spec.get("wrap"))
                else:
                    _run(cfg, verb, target, spec.get("wrap"))
            except BaseException as exc:  # noqa: BLE001  (any failure is the verdict, also SystemExit)
                failing = last_step.revision if revision is None else revision
                phase = verb if revision is None else (last_step.phase or verb)
                if revision is not None and last_step.revision not in (None, revision):
                    failing = last_step.revision
                elif label:
                    phase = label
                print(
                    json.dumps(
                        {
                            "ok": False,
                            "revisions": len(revisions),
                            "commands": commands,
                            "seconds": round(time.perf_counter() - started, 2),
                            "revision": failing,
                            "phase": phase,
                            "command": verb if verb == "check" else f"{verb} {target}",
                            "error": (str(exc).strip().splitlines() or [type(exc).__name__])[0][:300],
                            "exception": type(exc).__name__,
                        }
                    )
                )
                return 1
            commands += 1
            last_step.revision = last_step.phase = None
        print(
            json.dumps(
                {
                    "ok": True,
                    "revisions": len(revisions),
                    "commands": commands,
                    "seconds": round(time.perf_counter() - started, 2),
                }
            )
        )
        return 0


def _run(cfg, verb, target, wrap=None):
    if wrap is not None:
        import asyncio

        return asyncio.run(_callable(wrap)(_run, cfg, verb, target))
    if verb == "check":
        command.check(cfg)
    else:
        getattr(command, verb)(cfg, target)


def _options(x_arguments):
    import argparse

    return argparse.Namespace(x=list(x_arguments))


def _plan(mode, revisions):
    """(verb, target, the revision the command is about or None, its phase's name or None) for each
    command, in order; the stairway's second upgrade of a revision is its "re-upgrade"."""
    if mode == "updownup":
        return [("upgrade", "heads", None, None), ("downgrade", "base", None, None), ("upgrade", "heads", None, None)]
    if mode == "check":
        return [("upgrade", "heads", None, None), ("check", "heads", "heads", "check")]
    if mode == "steps":
        return [("upgrade", r.revision, r.revision, "upgrade") for r in revisions]
    if mode == "stairway":
        plan = []
        for r in revisions:
            parents = r._all_down_revisions
            # a merge or a branch's first revision cannot be undone alone with a plain target;
            # "REV-1" is Alembic's own relative form for one step down from REV
            down = parents[0] if len(parents) == 1 else ("base" if not parents else f"{r.revision}-1")
            plan += [("upgrade", r.revision, r.revision, "upgrade"), ("downgrade", down, r.revision, "downgrade")]
            plan.append(("upgrade", r.revision, r.revision, "re-upgrade"))
        return plan
    raise SystemExit(f"unknown mode {mode!r}")


if __name__ == "__main__":
    sys.exit(main())
