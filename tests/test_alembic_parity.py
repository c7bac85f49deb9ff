"""On every fixture, healthy or broken, migdoc sees the chain as Alembic does.

Alembic imports the version files (migdoc never does); this test lets it, on a
copy, pointed at the project the way the project's own users point it (a
Config from alembic.ini / pyproject.toml, Flask-Migrate's script location set
in code, ``ScriptDirectory(folder)``), and builds its RevisionMap. Where
Alembic builds the map, revisions, heads and bases must be equal (heads and
bases as lists: Alembic counts a shadowed duplicate once per copy). Where it
raises, migdoc must report the error-level finding that names that failure.
"""

from __future__ import annotations

import shutil
import sys
import warnings
from pathlib import Path

import pytest
from alembic.config import Config
from alembic.script import ScriptDirectory
from alembic.script.revision import CycleDetected, DependencyCycleDetected, RevisionError
from alembic.util import CommandError
from test_fixtures import EXTRA_ARGS, FIXTURE_NAMES, FIXTURES

from migdoc.doctor import check_project, load_project

SCRIPT_FOLDER_ONLY = {"layout_script_folder"}
"""Projects with no configuration file: the application calls ``ScriptDirectory(folder)``."""
FLASK_MIGRATE = {"layout_flask_migrate"}
"""Flask-Migrate: alembic.ini without script_location; the folder is passed in code."""

KNOWN_DISAGREEMENTS: dict[str, str] = {}
"""Fixtures where migdoc reports a failure Alembic (the installed version) does not raise."""


def _alembic_failure(code: str, exc: BaseException) -> bool:
    """True when ``exc`` is the failure Alembic raises for migdoc's error ``code``."""
    if code == "MD014":
        return isinstance(exc, CommandError) and "Could not determine revision id" in str(exc)
    if code == "MD010":  # the file itself cannot be imported, or has no revision variables
        return not isinstance(exc, RevisionError | CommandError) or "Could not determine revision id" in str(exc)
    if code == "MD008":
        return isinstance(exc, RevisionError) and "Branch name" in str(exc)
    if code == "MD002":  # a down_revision Alembic cannot find in its map
        return isinstance(exc, KeyError | RevisionError) and not isinstance(exc, CycleDetected)
    if code == "MD005":
        return isinstance(exc, CycleDetected | DependencyCycleDetected)
    if code == "MD024":
        return isinstance(exc, RevisionError) and "not allowed in revision identifier" in str(exc)
    return False


LOAD_FAILURES = ("MD002", "MD005", "MD008", "MD010", "MD014", "MD024")
"""Error-level findings that make Alembic fail before it has a revision map."""


def _options(name: str, tmp_path: Path) -> tuple[str, list[str]]:
    """The ini section and --version-location folders the fixture is run with."""
    args = EXTRA_ARGS.get(name, [])
    section = args[args.index("-n") + 1] if "-n" in args else "alembic"
    locations = [str(tmp_path / args[i + 1]) for i, a in enumerate(args) if a == "--version-location"]
    return section, locations


def alembic_script(name: str, root: Path, section: str, locations: list[str]) -> ScriptDirectory:
    if name in SCRIPT_FOLDER_ONLY:
        return ScriptDirectory(str(root))
    ini = root / "alembic.ini"
    toml = root / "pyproject.toml"
    config = Config(
        str(ini) if ini.exists() else None,
        ini_section=section,
        toml_file=str(toml) if toml.exists() else None,
    )
    if name in FLASK_MIGRATE:
        config.set_main_option("script_location", str(root))
    if locations:  # what the project's own code does when it chooses the folder
        config.set_main_option("version_locations", " ".join(locations))
        config.set_main_option("path_separator", "space")
    return ScriptDirectory.from_config(config)


def alembic_view(name: str, root: Path, section: str, locations: list[str]):
    """(revisions, heads, bases, warnings) from Alembic's own RevisionMap, or the exception it raised."""
    before, path_before = set(sys.modules), list(sys.path)
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            try:
                script = alembic_script(name, root, section, locations)
                revision_map = script.revision_map
                heads, bases = sorted(revision_map.heads), sorted(revision_map.bases)  # builds the map
                revisions = {r.revision for r in script.walk_revisions()}
                view = (revisions, heads, bases)
            except Exception as exc:  # noqa: BLE001 - the failure is what is compared
                return exc, [str(w.message) for w in caught]
        return view, [str(w.message) for w in caught]
    finally:
        for module in set(sys.modules) - before:
            sys.modules.pop(module, None)  # Alembic loads version files as modules
        sys.path[:] = path_before  # and prepend_sys_path adds to sys.path


@pytest.mark.parametrize("name", FIXTURE_NAMES)
def test_revisions_heads_bases_and_failures_match_alembic(name, tmp_path, monkeypatch):
    root = tmp_path / name
    shutil.copytree(FIXTURES / name, root)
    monkeypatch.chdir(root)  # Alembic resolves prepend_sys_path from the current directory
    section, locations = _options(name, tmp_path)
    view, alembic_warnings = alembic_view(name, root, section, locations)

    project = load_project(root, name=section, version_locations=locations)
    errors = {d.code for d in check_project(project).diagnostics if d.severity.value == "error"}
    load_errors = sorted(errors & set(LOAD_FAILURES))
    if isinstance(view, BaseException):
        assert load_errors, f"Alembic fails ({type(view).__name__}: {view}) but migdoc reports no such error"
        assert any(_alembic_failure(code, view) for code in load_errors), (
            f"Alembic fails with {type(view).__name__}: {view}; migdoc reports {load_errors}"
        )
        return
    if name in KNOWN_DISAGREEMENTS:
        assert load_errors, f"{name} no longer disagrees with Alembic: remove it from KNOWN_DISAGREEMENTS"
    else:
        assert load_errors == [], f"Alembic builds the map, but migdoc reports {load_errors}"
    revisions, heads, bases = view
    assert {rf.revision for rf in project.files if rf.revision} == revisions
    assert sorted(project.graph.heads) == heads
    assert sorted(project.graph.bases) == bases
    # A duplicated id: Alembic is not silent about it, and neither is migdoc.
    duplicated = any("present more than once" in w for w in alembic_warnings)
    assert duplicated == ("MD001" in errors)
