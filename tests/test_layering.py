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
    "migdoc.project.config",
    "migdoc.project.layout",
    "migdoc.project.config_files",
    "migdoc.project.scan",
    "migdoc.project.read_cache",
    "migdoc.cache.files",
    "migdoc.cache.results",
    "migdoc.reports.check",
    "migdoc.reports.dryrun",
    "migdoc.reports.fix",
    "migdoc.fix.apply",
    "migdoc.fix.plan_proof",
    "migdoc.fix.journal",
    "migdoc.fix.lock",
    "migdoc.database.deployed",
    "migdoc.project.run_env",
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
    "migdoc.dryrun.model_drift",
    "migdoc.dryrun.process",
    "migdoc.dryrun.child",
    "migdoc.dryrun.driver_choice",
    "migdoc.dryrun.base_schema",
    "migdoc.database.deployed_schema",
    "migdoc.database.schema_drift",
    "migdoc.fix.squash_schema",
}
# Small helpers every room may use: safe file reading and path display, URL masking, the
# owner of a lock or leftover, signal handling; and the package markers.
HELPERS = {
    "migdoc",
    "migdoc.cache",
    "migdoc.chain",
    "migdoc.database",
    "migdoc.dryrun",
    "migdoc.fix",
    "migdoc.output",
    "migdoc.project",
    "migdoc.reports",
    "migdoc.util",
    "migdoc.util.filesystem",
    "migdoc.util.masking",
    "migdoc.util.owner",
    "migdoc.util.interrupts",
    "migdoc.util.signals",
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
    assert {"migdoc.model", "migdoc.chain.graph", "migdoc.fix.planner.archive", "migdoc.output.text"} <= core
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


def test_no_circle_of_imports_lazy_ones_included():
    """Two rooms that need each other share a third below both: a circle ties rooms that should
    stand apart. Every import counts, inside functions and ``TYPE_CHECKING`` blocks too."""
    from import_graph import circles, import_graph

    graph = import_graph()
    assert graph.number_of_nodes() > 40 and graph.number_of_edges() > 100  # the walk read the package
    assert circles(graph) == []


def test_the_circle_finder_finds_a_planted_circle(tmp_path):
    from import_graph import circles, import_graph

    package = tmp_path / "migdoc"
    (package / "inner").mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "inner" / "__init__.py").write_text("")
    (package / "a.py").write_text("from migdoc.inner import b\n")
    (package / "inner" / "b.py").write_text("def late():\n    from .. import a\n")
    assert circles(import_graph(package)) == [["migdoc.a", "migdoc.inner.b"]]


def test_every_module_says_what_it_is_for():
    """A module's place says which stage it serves; its first line says what it is for."""
    import ast

    from import_graph import module_files

    for name, path in module_files().items():
        docstring = ast.get_docstring(ast.parse(path.read_text())) or ""
        assert docstring.strip(), f"{name} ({path}) has no docstring"


def test_the_architecture_page_names_every_room():
    from pathlib import Path

    page = (Path(__file__).resolve().parent.parent / "docs" / "architecture.md").read_text()
    rooms = {name.split(".")[1] for name in all_modules() if name.count(".") >= 1}
    packages = {room for room in rooms if (Path(migdoc.__file__).parent / room).is_dir()}
    assert packages and all(f"`migdoc/{room}/`" in page for room in packages), sorted(packages)


def test_rules_are_listed_by_code():
    from migdoc.rules import RULES

    assert list(RULES) == sorted(RULES) and len(RULES) >= 24
