"""Helpers for the hostile-input tests: tiny projects written from literals, and runs that cannot hang."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

REVISION = '''"""{message}

Revision ID: {rev}
Revises: {revises}
Create Date: 2025-01-0{day} 00:00:00

"""
from alembic import op
import sqlalchemy as sa

revision = {rev!r}
down_revision = {down!r}
branch_labels = None
depends_on = None


def upgrade():
    op.add_column("customers", sa.Column("c_{rev}", sa.Integer()))


def downgrade():
    op.drop_column("customers", "c_{rev}")
'''


def write_revision(versions: Path, rev: str, down: str | None, message: str = "step", name: str | None = None) -> Path:
    path = versions / (name or f"{rev}_step.py")
    day = (sum(map(ord, rev)) % 9) + 1
    path.write_text(REVISION.format(message=message, rev=rev, revises=down or "", down=down, day=day))
    return path


def write_project(root: Path, revisions: int = 3) -> Path:
    """``root`` with alembic.ini, env.py and a linear chain r1 <- r2 <- ...; returns the versions folder."""
    versions = root / "migrations" / "versions"
    versions.mkdir(parents=True)
    (root / "alembic.ini").write_text("[alembic]\nscript_location = %(here)s/migrations\n")
    (root / "migrations" / "env.py").write_text("raise SystemExit('not run by migdoc check')\n")
    for n in range(1, revisions + 1):
        write_revision(versions, f"r{n}", f"r{n - 1}" if n > 1 else None)
    return versions


def run_migdoc(*args: str, cwd: Path, timeout: float = 60) -> subprocess.CompletedProcess:
    """migdoc as its own process, killed (and the test failed) if it outlives ``timeout``."""
    env = {**os.environ, "NO_COLOR": "1"}
    return subprocess.run(
        [sys.executable, "-m", "migdoc", *args], cwd=cwd, capture_output=True, text=True, timeout=timeout, env=env
    )
