"""On every healthy fixture, migdoc sees the chain exactly as Alembic does.

Alembic imports the version files (migdoc never does); this test lets it, on a
copy, and compares revisions, heads and bases.
"""

from __future__ import annotations

import shutil
import sys
import warnings
from pathlib import Path

import pytest
from alembic.config import Config
from alembic.script import ScriptDirectory

from migdoc.api import load_project
from test_fixtures import EXTRA_ARGS, FIXTURE_NAMES, FIXTURES

HEALTHY = [n for n in FIXTURE_NAMES if n.startswith("healthy_")]


def alembic_view(root: Path, section: str) -> tuple[set[str], set[str], set[str]]:
    ini = root / "alembic.ini"
    toml = root / "pyproject.toml"
    config = Config(
        str(ini) if ini.exists() else None,
        ini_section=section,
        toml_file=str(toml) if toml.exists() else None,
    )
    with warnings.catch_warnings():
        # Alembic warns about its own legacy settings; that is not what we compare.
        warnings.simplefilter("ignore", DeprecationWarning)
        script = ScriptDirectory.from_config(config)
        revisions = {r.revision for r in script.walk_revisions()}
        return revisions, set(script.get_heads()), set(script.get_bases())


@pytest.mark.parametrize("name", HEALTHY)
def test_heads_bases_and_revisions_match_alembic(name, tmp_path, monkeypatch):
    root = tmp_path / name
    shutil.copytree(FIXTURES / name, root)
    monkeypatch.chdir(root)
    args = EXTRA_ARGS.get(name, [])
    section = args[args.index("-n") + 1] if "-n" in args else "alembic"
    before = set(sys.modules)
    try:
        revisions, heads, bases = alembic_view(root, section)
    finally:
        for module in set(sys.modules) - before:
            sys.modules.pop(module, None)  # Alembic loads version files as modules

    project = load_project(root, name=section)
    assert {rf.revision for rf in project.files if rf.revision} == revisions
    assert set(project.graph.heads) == heads
    assert set(project.graph.bases) == bases
