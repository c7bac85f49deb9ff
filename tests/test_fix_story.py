"""The story of issue 3: a bad merge, repaired by `migdoc fix --archive` as an engineer would."""

from __future__ import annotations

import json
import re

from click.testing import CliRunner
from fixhelp import alembic_heads, apply_for, plan_for, snapshot
from golden import assert_golden

from migdoc.cli import cli
from migdoc.doctor import check_project, load_project
from migdoc.fix.apply import undo_last
from migdoc.model import CreateFile, EditText, MoveFile
from migdoc.output.fix import render_diff, render_plan, render_plan_json

ARCHIVED = {
    "0024b_add_invoice_discount.py",
    "0025_add_customer_score 2.py",
    "0026b_add_customer_score.py",
    "0026c_create_coupons.py",
    "0026d_add_customer_phone.py",
}


def run(*args: str):
    return CliRunner().invoke(cli, list(args))


def test_story_plan_archives_the_five_bad_files_and_relinks_0027(copy_fixture):
    copy_fixture("fix_story")
    plan = plan_for("fix_story", is_archive=True)
    moved = {a.source.rsplit("/", 1)[1] for a in plan.actions if isinstance(a, MoveFile)}
    assert moved == ARCHIVED
    (edit,) = [a for a in plan.actions if isinstance(a, EditText)]
    assert edit.path.endswith("0027_add_order_shipped_at.py")
    assert [(e.old, e.new) for e in edit.edits] == [("0026b", "0025"), ("'0026b'", "'0025'")]
    assert plan.main_head == "0027" and not plan.unresolved
    assert any(isinstance(a, CreateFile) and a.path.endswith("archive/2025-12-20/README.md") for a in plan.actions)
    assert_golden("fix/story_plan.txt", render_plan(plan))
    assert_golden("fix/story.diff", render_diff(plan))
    assert json.loads(render_plan_json(plan))["actions"][0]["action"] == "move"


def test_story_apply_recheck_and_apply_again_is_nothing(copy_fixture):
    root = copy_fixture("fix_story")
    result = apply_for("fix_story", plan_for("fix_story", is_archive=True))
    assert (
        not result.is_rolled_back and result.errors_before == 4 and result.errors_after == 0
    )  # MD003 once for its 3 heads, MD001, MD012 twice
    versions = root / "migrations" / "versions"
    archive = root / "migrations" / "archive" / "2025-12-20"
    assert {p.name for p in archive.glob("*.py")} == ARCHIVED
    assert not any((versions / name).exists() for name in ARCHIVED)
    assert (
        "down_revision: Union[str, Sequence[str], None] = '0025'  # rebased by hand"
        in (versions / "0027_add_order_shipped_at.py").read_text()
    )
    assert check_project(load_project("fix_story")).summary.errors == 0
    assert alembic_heads(root) == ["0027"]
    again = plan_for("fix_story", is_archive=True)
    assert again.is_empty and not again.unresolved
    assert run("fix", "--archive", "--apply", "fix_story").exit_code == 0


def test_story_undo_restores_every_byte(copy_fixture):
    root = copy_fixture("fix_story")
    before = snapshot(root)
    apply_for("fix_story", plan_for("fix_story", is_archive=True))
    undone = undo_last(root)
    assert (undone.kept, undone.failed) == ((), ())
    after = {k: v for k, v in snapshot(root).items() if not k.startswith(".migdoc")}
    assert after == before


def test_cli_without_apply_touches_nothing(copy_fixture):
    root = copy_fixture("fix_story")
    before = snapshot(root)
    for args in (["--archive"], ["--archive", "--diff"], ["--archive", "--format", "json"], [], ["--merge"]):
        result = run("fix", *args, "fix_story")
        assert result.exit_code == 1, result.output
    assert snapshot(root) == before
    assert not (root / ".migdoc").exists()


def test_cli_overview_names_each_strategy(copy_fixture):
    copy_fixture("fix_story")
    result = run("fix", "fix_story")
    assert result.exit_code == 1
    assert "--archive would do 7 actions" in result.output
    assert "--merge would do 1 action" in result.output


def test_cli_apply_then_undo(copy_fixture):
    root = copy_fixture("fix_story")
    before = snapshot(root)
    result = run("fix", "--archive", "--apply", "fix_story")
    assert result.exit_code == 0, result.output
    assert re.search(r"errors 4 -> 0", result.output)
    assert run("check", "fix_story").exit_code == 0
    undo = run("fix", "--undo", "fix_story")
    assert undo.exit_code == 0, undo.output
    assert {k: v for k, v in snapshot(root).items() if not k.startswith(".migdoc")} == before
    assert run("fix", "--undo", "fix_story").exit_code == 2  # nothing left to undo


def test_apply_without_strategy_needs_one_when_nothing_is_recommended(copy_fixture):
    # issue 18: plain `fix --apply` applies what plain `fix` recommends; here nothing is (every
    # plan keeping both lines runs 0025's upgrade twice; --archive drops new work: 0026c's coupons)
    root = copy_fixture("fix_story")
    before = snapshot(root)
    shown = run("fix", "fix_story")
    assert shown.output.startswith("migdoc fix: no plan can be recommended"), shown.output
    result = run("fix", "--apply", "fix_story")
    assert result.exit_code == 2 and "choose a strategy: --reid --rebase, --rebase, --merge, --archive" in result.output
    assert snapshot(root) == before


def test_head_chooses_another_main_line(copy_fixture):
    copy_fixture("fix_story")
    plan = plan_for("fix_story", is_archive=True, head="0026d")
    moved = {a.revision for a in plan.actions if isinstance(a, MoveFile)}
    assert plan.main_head == "0026d"
    # 0026d only repeats 0003's column, so even as the chosen head it is archived.
    assert moved == {"0024b", "0025", "0026b", "0026d", "0027"}
