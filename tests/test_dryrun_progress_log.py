"""A dry-run writing to a log (CI), not a terminal: a progress line now and then on stderr,
so a long run is never silent, and stdout keeps the report alone."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest

from migdoc.dryrun.results import Step
from migdoc.output.dryrun_text import PeriodicProgress

ENV_PY = """
import os

from alembic import context
from sqlalchemy import create_engine

engine = create_engine(os.environ["DATABASE_URL"])
with engine.connect() as connection:
    context.configure(connection=connection)
    with context.begin_transaction():
        context.run_migrations()
"""


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def revision_steps(label: str, ok: bool = True):
    return [(label, Step(label, phase, ok, 0.01)) for phase in ("upgrade", "downgrade", "consistency", "re-upgrade")]


def test_a_line_every_n_revisions_or_seconds_and_one_at_the_end():
    lines, clock = [], Clock()
    progress = PeriodicProgress(lines.append, every=3, seconds=60, clock=clock)
    for n in range(7):
        for label, step in revision_steps(f"r{n}"):
            progress(label, step)
        clock.now += 1
    assert [line.split(" in ")[0] for line in lines] == [
        "migdoc: dry-run: 3 revisions done",
        "migdoc: dry-run: 6 revisions done",
    ]
    clock.now += 100  # a slow revision: the time limit writes a line before the count does
    for label, step in revision_steps("r7"):
        progress(label, step)
    assert lines[-1].startswith("migdoc: dry-run: 8 revisions done in 107 s (r7 done)")
    progress.flush()  # the report that follows says how it ended
    assert len(lines) == 3


def test_a_failed_step_counts_as_done_and_failed():
    lines = []
    progress = PeriodicProgress(lines.append, every=2, seconds=1e9, clock=Clock())
    for label, step in revision_steps("r0"):
        progress(label, step)
    progress("r1", Step("r1", "upgrade", False, 0.01))
    assert lines == ["migdoc: dry-run: 2 revisions done, 1 failed in 0 s (r1 done)\n"]


def test_upgrades_only_count_the_upgrade_as_the_last_step():
    lines = []
    progress = PeriodicProgress(lines.append, is_downgrade=False, every=1, clock=Clock())
    progress("r0", Step("r0", "upgrade", True, 0.01))
    assert lines and lines[0].startswith("migdoc: dry-run: 1 revision done")


@pytest.mark.postgres
def test_a_dry_run_into_a_pipe_writes_progress_on_stderr(tmp_path, pg_binaries):
    root = tmp_path / "long"
    versions = root / "migrations" / "versions"
    versions.mkdir(parents=True)
    (root / "alembic.ini").write_text("[alembic]\nscript_location = %(here)s/migrations\n")
    (root / "migrations" / "env.py").write_text(ENV_PY)
    for n in range(26):  # one more than a progress line's count
        parent = f'"{n - 1:04d}"' if n else "None"
        (versions / f"{n:04d}_step.py").write_text(
            f'revision = "{n:04d}"\ndown_revision = {parent}\nbranch_labels = None\ndepends_on = None\n\n'
            "from alembic import op\n\n\ndef upgrade():\n    op.execute('SELECT 1')\n\n\n"
            "def downgrade():\n    op.execute('SELECT 1')\n"
        )
    done = subprocess.run(
        [sys.executable, "-m", "migdoc", "dryrun", str(root)],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=root.parent,
        env={**__import__("os").environ, "MIGDOC_DRYRUN_SERVER": ""},
    )
    assert done.returncode == 0, done.stderr
    # every 25 revisions, or sooner on a slow machine (every 10 s)
    assert re.search(r"^migdoc: dry-run: \d+ revisions done in \d+ s \(\d{4} done\)$", done.stderr, re.M), done.stderr
    assert "migdoc: dry-run:" not in done.stdout and "dry-run passed" in done.stdout
