"""Issue 23 item 4: ``fix --archive`` rewrites a merge only when one of its parents was
archived; a redundant merge parent (MD018) is the user's to drop, as ``explain MD018`` says."""

from __future__ import annotations

from fixhelp import NOW
from hostile import write_project, write_revision

from migdoc import doctor
from migdoc.model import EditText


def plan_archive(root):
    project = doctor.load_project(str(root))
    return doctor.plan_fix(project, doctor.FixOptions(now=NOW, is_archive=True)).plan


def test_archive_leaves_a_merge_with_a_redundant_parent_alone(in_tmp):
    versions = write_project(in_tmp / "p")
    merge = write_revision(versions, "m1", ("r3", "r2"))  # r2 is an ancestor of r3: MD018
    write_revision(versions, "x1", "r1", message="dead end")
    plan = plan_archive(in_tmp / "p")
    moved = [a.source for a in plan.actions if a.kind == "move"]
    assert moved == [str(versions / "x1_step.py")]
    assert not [a for a in plan.actions if isinstance(a, EditText)], [a.reason for a in plan.actions]
    assert "('r3', 'r2')" in merge.read_text()


def repeat_of_r2(versions, rev: str):
    """A child of r2 whose upgrade only repeats r2's (MD012): --archive archives it."""
    text = (versions / "r2_step.py").read_text()
    text = text.replace("revision = 'r2'", f"revision = {rev!r}").replace(
        "down_revision = 'r1'", "down_revision = 'r2'"
    )
    (versions / f"{rev}_step.py").write_text(text.replace("Revision ID: r2", f"Revision ID: {rev}"))


def test_archive_relinks_only_the_archived_parent_of_a_merge(in_tmp):
    """a1 repeats r2 and is archived; the merge's parent a1 becomes its nearest surviving
    ancestor r2, which r3 already descends from (dropped: migdoc made that edge); r1, which
    the user wrote although r3 descends from it too, stays."""
    versions = write_project(in_tmp / "p")
    repeat_of_r2(versions, "a1")
    merge = write_revision(versions, "m1", ("r3", "a1", "r1"))
    plan = plan_archive(in_tmp / "p")
    assert [a.source for a in plan.actions if a.kind == "move"] == [str(versions / "a1_step.py")]
    (edit,) = [a for a in plan.actions if isinstance(a, EditText) and a.path == str(merge)]
    assert edit.reason.startswith("its parent a1 was archived;"), edit.reason
    assert "down_revision = ('r3', 'r1')" in edit.new_text


def archive_readme(plan) -> str:
    (readme,) = [a for a in plan.actions if a.kind == "create" and a.path.endswith("README.md")]
    return readme.content


def test_the_archive_readme_names_files_from_the_project_root_wherever_fix_ran(copy_fixture, monkeypatch):
    """Before: from the parent folder it said `fix_story/migrations/versions/`, from the
    project `migrations/versions/`: a README that read right only from where fix ran."""
    root = copy_fixture("fix_story")
    from_parent = archive_readme(plan_archive(root))
    monkeypatch.chdir(root / "migrations")
    from_inside = archive_readme(plan_archive(root))
    assert from_parent == from_inside
    assert "from `migrations/versions/`" in from_parent and str(root) not in from_parent


def test_the_archive_readme_records_the_evidence_its_reasons_point_at(copy_fixture):
    root = copy_fixture("fix_story")
    plan = plan_archive(root)
    readme = archive_readme(plan).splitlines()
    evidence = [note for note in plan.notes if note.startswith("evidence for ")]
    assert evidence, plan.notes
    pointing = next(n for n, line in enumerate(readme) if "(evidence above)" in line)
    for note in evidence:
        assert readme.index(f"- {note.replace(str(root) + '/', '')}") < pointing
