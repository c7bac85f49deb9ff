"""Helpers for the fix tests: plan with a fixed clock, apply, snapshot trees, load with Alembic."""

from __future__ import annotations

import hashlib
import warnings
from datetime import datetime
from pathlib import Path

from migdoc import apply as applying
from migdoc.api import check_project, load_project
from migdoc.plan import FixOptions, Plan
from migdoc.planner import plan_repairs

NOW = datetime(2025, 12, 20, 10, 0, 0)


def plan_for(path: str, **flags) -> Plan:
    project = load_project(path)
    before = check_project(project)
    context = applying.prepare_context(project, before.diagnostics, archive_dir=flags.get("archive_dir"), now=NOW)
    return plan_repairs(context, FixOptions(now=NOW, **flags))


def apply_for(path: str, plan: Plan) -> applying.ApplyResult:
    project = load_project(path)
    before = check_project(project)
    return applying.apply_plan(plan, project.layout.root, lambda: check_project(load_project(path)), before, NOW)


def snapshot(root: Path) -> dict[str, str]:
    """Relative path -> sha256 of every file under root (directories included as markers)."""
    out = {}
    for path in sorted(root.rglob("*")):
        key = path.relative_to(root).as_posix()
        out[key] = hashlib.sha256(path.read_bytes()).hexdigest() if path.is_file() else "<dir>"
    return out


def alembic_heads(project_dir: Path) -> list[str]:
    """Load the project with Alembic's own ScriptDirectory; fail on any warning it emits."""
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        script = ScriptDirectory.from_config(Config(str(project_dir / "alembic.ini")))
        heads = sorted(script.get_heads())
        list(script.walk_revisions())
    assert not caught, [str(w.message) for w in caught]
    return heads
