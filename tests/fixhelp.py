"""Helpers for the fix tests: plan with a fixed clock, apply, snapshot trees, load with Alembic."""

from __future__ import annotations

import hashlib
import warnings
from datetime import datetime
from pathlib import Path

from migdoc import doctor
from migdoc.fix import apply as applying
from migdoc.model import Plan

NOW = datetime(2025, 12, 20, 10, 0, 0)


def plan_for(path: str, **flags) -> Plan:
    """The plan ``migdoc fix`` makes, at the fixed clock ``NOW``."""
    return doctor.plan_fix(doctor.load_project(path), doctor.FixOptions(now=NOW, **flags)).plan


def apply_for(path: str, plan: Plan) -> applying.ApplyResult:
    """Apply ``plan`` as ``migdoc fix --apply`` does (with the project as it is now)."""
    project = doctor.load_project(path)
    proposal = doctor.FixProposal(doctor.check_project(project), doctor.FixOptions(now=NOW), plan=plan)
    return doctor.apply_fix(project, proposal)


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
