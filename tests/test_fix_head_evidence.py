"""Issue 12, item 1: which of several heads is the main line, by evidence strongest first
(database, git history, file name, content; then the longest path, ties to the newest).
Kinds that disagree are a refusal naming --head; one kind alone against the longest path
is a disagreement too; two kinds agreeing overrule it. Each kind on a small project here;
the database against a real PostgreSQL in tests/test_fix_seed_database.py."""

from __future__ import annotations

import os
import subprocess

import pytest
from click.testing import CliRunner
from fixhelp import plan_for
from gitutil import GIT_ENV

from migdoc.cli import cli
from migdoc.errors import FixRefused
from migdoc.model import MoveFile

BODY = {
    "0001": 'op.create_table("users", sa.Column("id", sa.Integer()))',
    "0002": 'op.create_table("orders", sa.Column("id", sa.Integer()))',
    "0002b": 'op.create_table("carts", sa.Column("id", sa.Integer()))',
    "0002c": 'op.add_column("carts", sa.Column("total", sa.Integer()))',
    "0003": 'op.create_table("refunds", sa.Column("id", sa.Integer()))',
    "0004": 'op.add_column("refunds", sa.Column("amount", sa.Integer()))',
}


def write(root, chain: dict[str, str | None]) -> None:
    """One file per revision (``<rev>_step.py``), all with the same Create Date: no head is newer."""
    versions = root / "migrations" / "versions"
    versions.mkdir(parents=True)
    (root / "alembic.ini").write_text("[alembic]\nscript_location = %(here)s/migrations\n")
    for rev, parent in chain.items():
        (versions / f"{rev}_step.py").write_text(
            f'"""step {rev}\n\nRevision ID: {rev}\nRevises: {parent or ""}\nCreate Date: 2025-01-01 10:00:00\n\n"""\n'
            "from alembic import op\nimport sqlalchemy as sa\n\n"
            f"revision = {rev!r}\ndown_revision = {parent!r}\n\n\ndef upgrade():\n    {BODY[rev]}\n\n\n"
            "def downgrade():\n    pass\n"
        )


def commit(root, when: str, *revs: str) -> None:
    env = {**os.environ, **GIT_ENV, "GIT_AUTHOR_DATE": when, "GIT_COMMITTER_DATE": when}
    paths = [f"migrations/versions/{rev}_step.py" for rev in revs] or ["."]
    for args in (["add", "--", *paths], ["commit", "-q", "-m", f"add {', '.join(revs) or 'project'}"]):
        subprocess.run(["git", *args], cwd=root, check=True, capture_output=True, env=env)


def in_git(root, first: list[str], later: list[str]) -> None:
    subprocess.run(["git", "init", "-q"], cwd=root, check=True, env={**os.environ, **GIT_ENV})
    commit(root, "2025-01-01T10:00:00", "0001", *first)
    commit(root, "2025-03-01T10:00:00", *later)


def archived(plan) -> set[str]:
    return {a.revision for a in plan.actions if isinstance(a, MoveFile)}


def test_without_evidence_two_equal_heads_are_refused(in_tmp):
    write(in_tmp / "p", {"0001": None, "0002": "0001", "0003": "0001"})
    with pytest.raises(FixRefused, match="equally long") as refused:
        plan_for("p", is_archive=True)
    assert refused.value.candidates == ("0002", "0003")


def test_git_history_the_branch_added_later_is_the_newcomer(in_tmp):
    root = in_tmp / "p"
    write(root, {"0001": None, "0002": "0001", "0003": "0001"})
    in_git(root, first=["0003"], later=["0002"])
    plan = plan_for("p", is_archive=True)
    assert plan.main_head == "0003" and archived(plan) == {"0002"}
    (line,) = [n for n in plan.notes if n.startswith("evidence for the main head")]
    assert line.startswith("evidence for the main head: 0003 by git history: 0002's branch first added in commit ")
    assert "(2025-03-01)" in line and "(2025-01-01)" in line
    assert line.endswith("(the branch added later is the newcomer)")


def test_git_history_alone_against_the_longest_path_is_refused_and_head_overrules_it(in_tmp):
    root = in_tmp / "p"
    write(root, {"0001": None, "0002": "0001", "0003": "0001", "0004": "0003"})
    in_git(root, first=["0002"], later=["0003", "0004"])
    result = CliRunner().invoke(cli, ["fix", "--archive", "p"])
    assert result.exit_code == 2 and result.output.count("\n") == 1
    assert "the evidence disagrees: git history points at 0002 (" in result.output
    assert "the longest path points at 0004 (3 revisions from a base); choose with --head 0002 or --head 0004" in (
        result.output
    )
    with pytest.raises(FixRefused) as refused:
        plan_for("p", is_archive=True)
    assert (refused.value.flag, refused.value.candidates) == ("--head", ("0002", "0004"))
    chosen = plan_for("p", is_archive=True, head="0004")
    assert archived(chosen) == {"0002"}
    assert any(n.startswith("evidence for the main head: git history points at 0002 (") for n in chosen.notes)
    assert any(n.endswith("overruled by --head 0004") for n in chosen.notes)


def test_file_name_a_branch_of_suffixed_ids_is_the_side_branch(in_tmp):
    write(in_tmp / "p", {"0001": None, "0002": "0001", "0002b": "0001"})
    plan = plan_for("p", is_archive=True)
    assert plan.main_head == "0002" and archived(plan) == {"0002b"}
    assert (
        "evidence for the main head: 0002 by file name: 0002b's branch holds only suffixed ids (0002b), "
        "variants of the chain's numbers; 0002's does not"
    ) in plan.notes


def test_two_kinds_agreeing_overrule_the_longest_path(in_tmp):
    root = in_tmp / "p"
    write(root, {"0001": None, "0002": "0001", "0002b": "0001", "0002c": "0002b"})
    in_git(root, first=["0002"], later=["0002b", "0002c"])
    plan = plan_for("p", is_archive=True)
    assert plan.main_head == "0002" and archived(plan) == {"0002b", "0002c"}
    notes = "\n".join(plan.notes)
    assert "evidence for the main head: 0002 by git history: " in notes
    assert (
        "evidence for the main head: file name agrees (0002c's branch holds only suffixed ids (0002b, 0002c)" in notes
    )
    assert (
        "evidence for the main head: the longest path points at 0002c (3 revisions from a base); "
        "overruled by 2 kinds of evidence"
    ) in notes


def test_git_and_the_file_name_disagreeing_is_refused(in_tmp):
    root = in_tmp / "p"
    write(root, {"0001": None, "0002": "0001", "0002b": "0001"})
    in_git(root, first=["0002b"], later=["0002"])  # the suffixed branch came first
    with pytest.raises(FixRefused) as refused:
        plan_for("p", is_archive=True)
    message = str(refused.value)
    assert "git history points at 0002b" in message and "file name points at 0002 (" in message
    assert refused.value.candidates == ("0002", "0002b")


def test_the_database_on_one_branch_chooses_it_and_before_the_branches_says_nothing(in_tmp):
    write(in_tmp / "p", {"0001": None, "0002": "0001", "0003": "0001"})
    plan = plan_for("p", is_archive=True, database_current=("0003",), applied_revisions=frozenset({"0001", "0003"}))
    assert plan.main_head == "0003" and archived(plan) == {"0002"}
    assert (
        "evidence for the main head: 0003 by database: the deployed database (at 0003) applied 0003 of 0003's "
        "branch and nothing of the other heads' own branches"
    ) in plan.notes
    with pytest.raises(FixRefused, match="equally long"):
        plan_for("p", is_archive=True, database_current=("0001",), applied_revisions=frozenset({"0001"}))
