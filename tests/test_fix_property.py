"""Property: applying any plan (--archive, --merge, --renumber, --relink; copies that differ
in parent and name, cherry-picked revisions whose parent is missing) to a random chain never
loses a file, never makes it worse, and never moves a file of a chain without errors."""

from __future__ import annotations

import collections
import os
import tempfile
from pathlib import Path

from fixhelp import NOW
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from migdoc.doctor import check_project, load_project, read_plan_inputs
from migdoc.errors import FixRefused
from migdoc.fix import apply as applying
from migdoc.fix.planner import plan_repairs
from migdoc.model import CreateFile, FixOptions

COLUMNS = ("a", "b", "c", "d")


@st.composite
def chains(draw):
    count = draw(st.integers(min_value=2, max_value=8))
    revisions = []
    for i in range(count):
        parent = None if i == 0 else draw(st.one_of(st.none(), st.integers(0, i - 1))) if i > 2 else i - 1
        column = draw(st.sampled_from(COLUMNS))
        revisions.append((f"{i + 1:04d}", None if parent is None else f"{parent + 1:04d}", column))
    duplicates = draw(st.lists(st.integers(0, count - 1), max_size=2, unique=True))
    # a suffixed copy (0025b_x.py declaring 0025) with a parent of its own, as in the seed story
    suffixed = draw(st.one_of(st.none(), st.tuples(st.integers(1, count - 1), st.integers(0, count - 1))))
    if suffixed is not None and suffixed[1] >= suffixed[0]:
        suffixed = None
    # a cherry-pick: its parent is not on this branch
    if count > 2 and draw(st.booleans()):
        rev, _down, column = revisions[-1]
        revisions[-1] = (rev, "0999", column)
    flags = draw(
        st.fixed_dictionaries(
            {
                "is_archive": st.booleans(),
                "is_merge": st.booleans(),
                "is_renumber": st.booleans(),
                "is_relink": st.booleans(),
            }
        )
    )
    if not any(flags.values()):
        flags["is_archive"] = True
    # MD006 is a warning by default, an error where a project makes it one
    strict_names = draw(st.booleans())
    return revisions, duplicates, suffixed, flags, strict_names


def write(root: Path, revisions, duplicates, suffixed=None) -> None:
    versions = root / "migrations" / "versions"
    versions.mkdir(parents=True)
    (root / "alembic.ini").write_text("[alembic]\nscript_location = %(here)s/migrations\n")
    for position, (rev, down, column) in enumerate(revisions):
        body = (
            '    op.create_table("t", sa.Column("id", sa.Integer()))'
            if down is None
            else f'    op.add_column("t", sa.Column("{column}", sa.Integer()))'
        )
        text = (
            f'"""step {rev}\n\nRevision ID: {rev}\nRevises: {down or ""}\nCreate Date: 2025-01-{position + 1:02d}\n\n"""\n'
            "from alembic import op\nimport sqlalchemy as sa\n\n"
            f'revision = "{rev}"\ndown_revision = {repr(down)}\n\n\ndef upgrade():\n{body}\n\n\ndef downgrade():\n    pass\n'
        )
        name = f"{rev}_step.py" if position % 3 else f"step_{position}.py"  # some names to renumber
        (versions / name).write_text(text)
        if position in duplicates:
            (versions / f"{rev}_step_copy.py").write_text(text.replace("step ", "copied step "))
        if suffixed is not None and position == suffixed[0]:
            other = revisions[suffixed[1]][0]
            copy = text.replace(f"down_revision = {repr(down)}", f"down_revision = {other!r}").replace(
                "step ", "suffixed step "
            )
            (versions / f"{rev}b_step.py").write_text(copy)


def contents(root: Path, skip: set[str]) -> collections.Counter:
    """File texts without the lines a relink may change."""
    found = collections.Counter()
    for path in root.rglob("*.py"):
        if str(path.resolve()) in skip:
            continue
        lines = [line for line in path.read_text().splitlines() if not line.startswith(("down_revision", "Revises:"))]
        found["\n".join(lines)] += 1
    return found


@settings(max_examples=40, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])
@given(chains())
# found by this test: --relink re-points a cherry-pick at 0003, --archive then archives 0003
# and re-points it again; two edits of one file, the second refused as "changed on disk"
@example(
    (
        [("0001", None, "a"), ("0002", "0001", "a"), ("0003", "0002", "a"), ("0004", "0999", "b")],
        [],
        None,
        {"is_archive": True, "is_merge": False, "is_renumber": False, "is_relink": True},
        False,
    )
)
def test_apply_never_loses_a_file_nor_makes_things_worse(chain):
    revisions, duplicates, suffixed, flags, strict_names = chain
    cwd = os.getcwd()
    with tempfile.TemporaryDirectory() as tmp:
        os.chdir(tmp)
        try:
            root = Path(tmp) / "p"
            write(root, revisions, duplicates, suffixed)
            if strict_names:
                (root / "pyproject.toml").write_text('[tool.migdoc]\nseverity = { MD006 = "error" }\n')
            before_files = contents(root, set())
            project = load_project("p")
            before = check_project(project)
            context = read_plan_inputs(project, before.diagnostics, now=NOW)
            try:
                plan = plan_repairs(context, FixOptions(now=NOW, **flags))
            except FixRefused:
                return
            if before.summary.errors == 0:
                # a chain without an error is never acted on, by any strategy, but for the renames
                # --renumber named renames for (MD006, warnings included)
                renames = [a for a in plan.actions if a.kind == "rename" and a.answers == ("MD006",)]
                assert renames == list(plan.actions), plan.actions
                assert flags["is_renumber"] or not renames, plan.actions
            if plan.is_empty:
                return
            result = applying.apply_plan(
                plan, project.layout.root, lambda: check_project(load_project("p")), before, NOW
            )
            created = {str(Path(a.path).resolve()) for a in plan.actions if isinstance(a, CreateFile)}
            if result.is_rolled_back:
                assert not any(Path(p).exists() for p in created)
            assert contents(root, created) == before_files
            after = check_project(load_project("p"))
            assert after.summary.errors <= before.summary.errors
        finally:
            os.chdir(cwd)
