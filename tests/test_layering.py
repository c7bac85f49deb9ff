"""The house's layering, for every module of the package: found by walking it, so a new
module must be placed in one of the rooms below before this passes.

- No module but the command line pulls in click, and none pulls in psycopg, SQLAlchemy
  or Alembic (which imports SQLAlchemy) when imported: those are loaded where a run needs them.
- The pure core (records, reader, graph, rules, planner, edits, outputs) imports none of
  the edges: nothing that reads the configuration or the version files, writes a fix,
  reads a database or git, or runs a dry-run.
"""

from __future__ import annotations

import functools
import json
import pkgutil
import subprocess
import sys

import migdoc

THIRD_PARTY_EDGES = ("click", "psycopg", "sqlalchemy", "alembic")
COMMAND_LINE = {"migdoc.cli": {"click"}}

# The rooms that touch the disk, git, a database, processes or the terminal (STYLE, "The house").
EDGES = {
    "migdoc.__main__",
    "migdoc.cli",
    "migdoc.doctor",
    "migdoc.config",
    "migdoc.config_files",
    "migdoc.scan",
    "migdoc.read_cache",
    "migdoc.cache_files",
    "migdoc.result_cache",
    "migdoc.reports",
    "migdoc.apply",
    "migdoc.plan_proof",
    "migdoc.journal",
    "migdoc.lock",
    "migdoc.deployed",
    "migdoc.gitref",
    "migdoc.dryrun.binaries",
    "migdoc.dryrun.users",
    "migdoc.dryrun.cache",
    "migdoc.dryrun.cluster",
    "migdoc.dryrun.borrowed",
    "migdoc.dryrun.server",
    "migdoc.dryrun.guard",
    "migdoc.dryrun.drivers",
    "migdoc.dryrun.runner",
    "migdoc.dryrun.results",
    "migdoc.dryrun.failures",
    "migdoc.dryrun.alembic_env",
    "migdoc.dryrun.schema",
    "migdoc.dryrun.drift",
    "migdoc.dryrun.process",
    "migdoc.dryrun.child",
    "migdoc.dryrun.driver_choice",
    "migdoc.dryrun.base_schema",
    "migdoc.fix.squash_schema",
}
# Small helpers every room may use: safe file reading and path display, URL masking, the
# owner of a lock or leftover, signal handling; and the package markers.
HELPERS = {
    "migdoc",
    "migdoc.dryrun",
    "migdoc.output",
    "migdoc.filesystem",
    "migdoc.masking",
    "migdoc.owner",
    "migdoc.interrupts",
    "migdoc.dryrun.signals",
}

PROBE = """
import importlib, json, sys
names = json.loads(sys.argv[1])
before = set(sys.modules)
found = {}
for name in names:
    for loaded in [m for m in sys.modules if m not in before or m.startswith("migdoc.")]:
        del sys.modules[loaded]
    importlib.import_module(name)
    found[name] = sorted(m for m in sys.modules if m not in before and m != name)
print(json.dumps(found))
"""


def all_modules() -> list[str]:
    return sorted(["migdoc", *(m.name for m in pkgutil.walk_packages(migdoc.__path__, "migdoc."))])


@functools.cache
def imports_of_each() -> dict[str, list[str]]:
    """Module -> every module importing it alone loads (each in a clean slate of sys.modules)."""
    names = [n for n in all_modules() if n != "migdoc"]
    out = subprocess.run(
        [sys.executable, "-c", PROBE, json.dumps(names)], capture_output=True, text=True, check=True
    ).stdout
    return json.loads(out)


def test_every_module_has_a_room():
    modules = set(all_modules())
    assert len(modules) > 40  # the walk found the package, not an empty folder
    core = modules - EDGES - HELPERS
    assert {"migdoc.model", "migdoc.graph", "migdoc.planner.archive", "migdoc.output.text"} <= core
    assert EDGES <= modules and HELPERS <= modules, "a room names a module that no longer exists"


def test_no_module_but_the_cli_pulls_in_click_a_driver_or_an_engine():
    for name, loaded in imports_of_each().items():
        third_party = {m.split(".")[0] for m in loaded} & set(THIRD_PARTY_EDGES)
        assert third_party <= COMMAND_LINE.get(name, set()), f"importing {name} loads {sorted(third_party)}"


def test_the_core_imports_no_edge():
    imports = imports_of_each()
    core = set(all_modules()) - EDGES - HELPERS - {"migdoc"}
    for name in sorted(core):
        edges = sorted(set(imports[name]) & EDGES)
        assert not edges, f"the core module {name} imports the edge(s) {edges}"
