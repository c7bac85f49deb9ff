"""Issue 18: plain `migdoc fix` recommends the repair engineers made on real chains, and
`migdoc fix --apply` applies it. Each fixture is one real shape, tiny: the exact plan (golden
diff), then the applied result checked by migdoc, loaded by Alembic's own ScriptDirectory
(no warning, one head) and upgraded from base by `alembic upgrade heads` through the
fixture's env.py on a throwaway PostgreSQL."""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner
from fixhelp import NOW, alembic_heads, snapshot
from gitutil import GIT_ENV
from golden import assert_golden

from migdoc import doctor
from migdoc.cli import cli
from migdoc.doctor import check_project, load_project
from migdoc.errors import MigdocError, PlanInvariantError
from migdoc.fix.planner.overview import check_one_edit_per_line
from migdoc.model import EditText, FixOptions, MoveFile, TextEdit


def run(*args: str):
    return CliRunner().invoke(cli, list(args))


def overview(name: str) -> doctor.FixProposal:
    return doctor.plan_fix(load_project(name), FixOptions(now=NOW))


def commit(root, when: str, *paths: str) -> None:
    env = {**os.environ, **GIT_ENV, "GIT_AUTHOR_DATE": when, "GIT_COMMITTER_DATE": when}
    for args in (["add", "--", *paths], ["commit", "-q", "-m", f"add {len(paths)} files"]):
        subprocess.run(["git", *args], cwd=root, check=True, capture_output=True, env=env)


def upgrade_from_base(root, url: str) -> str:
    """`alembic upgrade heads` by Alembic itself, through the fixture's env.py; the heads after."""
    for command in (["upgrade", "heads"], ["current"]):
        done = subprocess.run(
            [sys.executable, "-m", "alembic", *command],
            cwd=root,
            env={**os.environ, "DATABASE_URL": url},
            capture_output=True,
            text=True,
        )
        assert done.returncode == 0, done.stderr
    return done.stdout


def apply_recommended(name: str, root, expected: str) -> None:
    """Plain `fix --apply` applies the recommended plan; the result is clean and Alembic loads it."""
    result = run("fix", "--apply", name)
    assert result.exit_code == 0, result.output
    assert f"migdoc fix {expected}:" in result.output
    after = check_project(load_project(name))
    assert after.summary.errors == 0 and after.summary.heads == 1, after.diagnostics
    assert len(alembic_heads(root)) == 1  # fails on any warning Alembic emits
    assert overview(name).overview == {}  # a second plain fix plans nothing
    again = run("fix", "--apply", name)
    assert again.exit_code == 0 and "nothing to do" in again.output, again.output


SHAPES = [
    # (fixture, recommended flags, the files the plan edits)
    ("fix_rebase_fork", "--rebase", {"c0ffee5a1b2c_create_teams.py"}),
    (
        "fix_reid_then_rebase",
        "--reid --rebase",
        {"0025b_add_sessions_key.py", "0026b_index_sessions_key.py", "0024b_create_sessions.py"},
    ),
    ("fix_reid_from_name", "--reid --rebase", {"9f8e7d6c5b4a_add_refunds.py"}),
    ("fix_relink_after_revert", "--relink", {"0004_add_orders_note.py"}),
]


@pytest.mark.parametrize(("name", "flags", "edited"), SHAPES)
def test_the_recommended_plan_keeps_every_revision_and_applies(copy_fixture, name, flags, edited):
    root = copy_fixture(name)
    proposal = overview(name)
    plan = proposal.overview[proposal.recommended]
    assert " ".join(f"--{s}" for s in plan.strategies) == flags
    assert not any(isinstance(a, MoveFile) for a in plan.actions)  # nothing archived
    assert {a.path.rsplit("/", 1)[1] for a in plan.actions if isinstance(a, EditText)} == edited
    shown = run("fix", "--diff", name)
    assert shown.exit_code == 1, shown.output
    assert_golden(f"fix/recommend_{name}.diff", shown.output)
    text = run("fix", name).output
    assert text.startswith(f"migdoc fix: recommended: {flags} (")
    choose = text.splitlines()[-1]
    assert choose.startswith("Choose with ") and all(f"--{n}" in choose for n in proposal.overview)
    payload = json.loads(run("fix", "--format", "json", name).output)
    assert payload["recommended"] == proposal.recommended and next(iter(payload["proposals"])) == proposal.recommended
    apply_recommended(name, root, flags)


def test_a_side_branch_newer_by_git_history_is_rebased_onto_mains_head(copy_fixture):
    # the Create Dates say the side branch (0005) is older; the commits say it came later
    root = copy_fixture("fix_rebase_side_branch")
    subprocess.run(["git", "init", "-q"], cwd=root, check=True, env={**os.environ, **GIT_ENV})
    side = "migrations/versions/0005_add_orders_coupon.py"
    main = [str(p.relative_to(root)) for p in root.rglob("*") if p.is_file() and not str(p).endswith(side)]
    commit(root, "2025-10-07T10:00:00", *main)
    commit(root, "2025-10-09T10:00:00", side)
    proposal = overview("fix_rebase_side_branch")
    assert proposal.recommended == "rebase"
    plan = proposal.overview["rebase"]
    (edit,) = plan.actions
    assert edit.path.endswith("0005_add_orders_coupon.py") and edit.new_text.count('"0004"') == 1
    assert any("0004 stays" in n and "by git history" in n for n in plan.notes), plan.notes
    shown = run("fix", "--diff", "fix_rebase_side_branch")
    assert_golden("fix/recommend_fix_rebase_side_branch.diff", shown.output)
    apply_recommended("fix_rebase_side_branch", root, "--rebase")


def test_the_copied_branch_is_kept_whole_never_archived(copy_fixture):
    """The real shape: the recommendation re-ids 0025b and rebases its branch; 0027 and every
    side revision stay, and 0026b (which indexes 0025b's column) still follows 0025b."""
    copy_fixture("fix_reid_then_rebase")
    proposal = overview("fix_reid_then_rebase")
    assert proposal.recommended == "reid"
    plan = proposal.overview["reid"]
    new_texts = {a.path.rsplit("/", 1)[1]: a.new_text for a in plan.actions}
    assert 'revision = "0025b"' in new_texts["0025b_add_sessions_key.py"]
    assert 'down_revision = "0025b"' in new_texts["0026b_index_sessions_key.py"]
    assert 'down_revision = "0027"' in new_texts["0024b_create_sessions.py"]
    assert "Revises: 0027\n" in new_texts["0024b_create_sessions.py"]


def test_archive_is_not_recommended_where_a_kept_revision_uses_what_it_archives(tmp_path, monkeypatch):
    """Two files declare 0002; keeping the wrong one would archive the table 0003 indexes."""
    from migdoc.fix.planner.overview import archive_unsafe_reason

    (tmp_path / "alembic.ini").write_text("[alembic]\nscript_location = %(here)s/migrations\n")
    versions = tmp_path / "migrations" / "versions"
    versions.mkdir(parents=True)
    monkeypatch.chdir(tmp_path)
    for name, rev, down, body in (
        ("0001_create_channels", "0001", None, 'op.create_table("channels")'),
        ("0002_create_sessions", "0002", "0001", 'op.create_table("sessions")'),
        ("0002b_add_topic", "0002", "0001", 'op.add_column("channels", sa.Column("topic", sa.Text()))'),
        ("0003_index_sessions", "0003", "0002", 'op.create_index("ix_sessions_id", "sessions", ["id"])'),
    ):
        (versions / f"{name}.py").write_text(
            f"from alembic import op\nimport sqlalchemy as sa\n\nrevision = {rev!r}\ndown_revision = {down!r}\n\n\n"
            f"def upgrade():\n    {body}\n"
        )
    project = load_project(".")
    context = doctor.read_plan_inputs(project, check_project(project).diagnostics, now=NOW)
    wrong = doctor.plan_fix(project, FixOptions(now=NOW, is_archive=True, keep=("0002b_add_topic.py",))).plan
    assert {a.revision for a in wrong.actions if isinstance(a, MoveFile)} == {"0002"}
    assert archive_unsafe_reason(context, FixOptions(now=NOW), wrong) == (
        "it archives 0002, which creates sessions that a kept revision uses"
    )
    right = doctor.plan_fix(project, FixOptions(now=NOW, is_archive=True, keep=("0002_create_sessions.py",))).plan
    # keeping the right copy archives 0002b's new column: still new work, still not recommended
    assert archive_unsafe_reason(context, FixOptions(now=NOW), right) == (
        "it archives 0002, whose upgrade() is work no kept revision repeats"
    )
    database = FixOptions(now=NOW, applied_revisions=frozenset({"0002"}))
    assert archive_unsafe_reason(context, database, right) == "it archives 0002, which the database applied"


def test_no_recommendation_where_every_plan_leaves_alembic_stopped(copy_fixture):
    # a merge over a missing parent would leave Alembic's KeyError: never recommended
    root = copy_fixture("md002_missing_revision")
    before = snapshot(root)
    proposal = overview("md002_missing_revision")
    assert proposal.recommended is None and "merge" in proposal.overview
    result = run("fix", "--apply", "md002_missing_revision")
    assert result.exit_code == 2 and "no plan can be recommended here" in result.output, result.output
    assert snapshot(root) == before
    assert json.loads(run("fix", "--format", "json", "md002_missing_revision").output)["recommended"] is None


def test_fix_seed_recommends_nothing_and_says_why_each_plan_is_not_it(copy_fixture):
    """The seed story's side branch repeats main's DDL (0024b is 0024 again) and adds new work
    (0025b's audit log): keeping both lines runs a CREATE TABLE twice, and archiving drops new
    work. Nothing is recommended; --archive (the engineer's repair) stays an explicit choice."""
    from test_fix_seed import HAND_REPAIR

    copy_fixture("fix_seed")
    proposal = overview("fix_seed")
    assert proposal.recommended is None
    assert proposal.not_recommended == {
        "reid": "it keeps 0024 and 0024b, whose upgrade() is the same: the DDL would run twice",
        "rebase": "it leaves something unresolved",
        "merge": "it leaves MD001, which stops Alembic",
        "archive": "it archives 0025, whose upgrade() is work no kept revision repeats",
    }
    moved = {a.source.rsplit("/", 1)[1] for a in proposal.overview["archive"].actions if isinstance(a, MoveFile)}
    assert moved == HAND_REPAIR
    text = run("fix", "fix_seed").output
    assert "--archive would do 7 actions (not recommended: it archives 0025, whose upgrade() is work" in text


def test_a_plan_never_holds_two_edits_of_one_line():
    edit = TextEdit(4, 10, 4, 14, "0002", "0003")
    action = EditText(path="v/0004.py", old_sha256="x", edits=(edit,), old_text="", new_text="", reason="r")
    check_one_edit_per_line([action])  # one edit: fine
    with pytest.raises(PlanInvariantError, match="edits v/0004.py twice"):
        check_one_edit_per_line([action, action])
    doubled = EditText(path="v/0004.py", old_sha256="x", edits=(edit, edit), old_text="", new_text="", reason="r")
    with pytest.raises(PlanInvariantError):
        check_one_edit_per_line([doubled])


def test_a_chain_with_no_error_plans_nothing(copy_fixture):
    root = copy_fixture("fix_rebase_fork")
    assert run("fix", "--apply", "fix_rebase_fork").exit_code == 0
    before = snapshot(root)
    result = run("fix", "--apply", "fix_rebase_fork")
    assert result.exit_code == 0 and result.output.startswith("migdoc fix: nothing to do"), result.output
    assert snapshot(root) == before


def test_rebase_without_evidence_refuses_and_head_decides(copy_fixture):
    copy_fixture("fix_refuse_ambiguous_head")
    refused = run("fix", "--rebase", "fix_refuse_ambiguous_head")
    assert refused.exit_code == 2 and "--head 0002 or --head 0003" in refused.output
    chosen = run("fix", "--rebase", "--head", "0002", "--apply", "fix_refuse_ambiguous_head")
    assert chosen.exit_code == 0, chosen.output
    assert check_project(load_project("fix_refuse_ambiguous_head")).summary.errors == 0


@pytest.mark.postgres
@pytest.mark.parametrize("name", [s[0] for s in SHAPES] + ["fix_rebase_side_branch"])
def test_alembic_upgrades_the_repaired_chain_from_base(copy_fixture, pg_database, name):
    root = copy_fixture(name)
    assert run("fix", "--apply", name).exit_code == 0
    current = upgrade_from_base(root, pg_database)
    assert current.strip().endswith("(head)"), current


def write_revision(versions, rev: str, down: str | None) -> str:
    path = versions / f"{rev}_step.py"
    path.write_text(
        f'"""step {rev}\n\nRevision ID: {rev}\nRevises: {down or ""}\n"""\n'
        f'revision = "{rev}"\ndown_revision = {down!r}\n\n\ndef upgrade():\n    pass\n'
    )
    return str(path)


def test_relink_with_base_ref_on_a_reverted_state_plans_one_edit_and_no_loop(tmp_path, monkeypatch):
    """The state of issue 18, item 8: this branch reverted 0003's parent (0099 is gone) and
    REF already holds 0004 on top of 0003. --relink re-points 0003 at the branch head; the
    base-ref step used to re-point it once more, onto 0004 (a loop), in a second edit of the
    same line, and took REF's own head for new ("main has 0 heads ()")."""
    from migdoc.fix.planner import plan_repairs

    (tmp_path / "alembic.ini").write_text("[alembic]\nscript_location = %(here)s/migrations\n")
    versions = tmp_path / "migrations" / "versions"
    versions.mkdir(parents=True)
    monkeypatch.chdir(tmp_path)
    write_revision(versions, "0001", None)
    write_revision(versions, "0002", "0001")
    changed_here = write_revision(versions, "0003", "0099")
    write_revision(versions, "0004", "0003")
    project = load_project(".")
    context = doctor.read_plan_inputs(project, check_project(project).diagnostics, now=NOW)
    options = FixOptions(
        now=NOW,
        is_relink=True,
        base_ref="main",
        base_ref_heads=("0004",),
        ours_paths=frozenset({changed_here}),
        base_ref_revisions=frozenset({"0001", "0002", "0003", "0004"}),
    )
    plan = plan_repairs(context, options)
    (edit,) = plan.actions
    assert edit.path == changed_here and "down_revision = '0002'" in edit.new_text
    assert not any("0 heads" in item for item in plan.unresolved), plan.unresolved
    # even when REF's ids are not known, re-pointing onto a head above is refused, not planned
    unknown = plan_repairs(context, dataclasses.replace(options, base_ref_revisions=frozenset()))
    (edit,) = unknown.actions
    assert "down_revision = '0002'" in edit.new_text
    assert any("already descends from 0003" in item for item in unknown.unresolved), unknown.unresolved


def test_relink_head_on_a_fork_moves_the_other_branch_onto_that_head(copy_fixture):
    # the opposite of the recommendation: the team keeps the newer branch, the older one moves
    root = copy_fixture("fix_rebase_fork")
    result = run("fix", "--relink", "--head", "0badc0de1234", "--apply", "fix_rebase_fork")
    assert result.exit_code == 0, result.output
    moved = (root / "migrations/versions/e4d3c2b1a098_add_users_email.py").read_text()
    assert 'down_revision = "0badc0de1234"' in moved and "Revises: 0badc0de1234\n" in moved
    assert alembic_heads(root) == ["e4d3c2b1a098"]
    assert check_project(load_project("fix_rebase_fork")).summary.errors == 0


def test_the_pull_request_merged_later_moves_even_when_its_commit_is_older(copy_fixture):
    """notifications-api, April 2022: a pull request written first but merged second brought
    the second head; the engineers re-pointed its revision. The merge order says so; the
    commit times alone say the opposite."""
    root = copy_fixture("fix_rebase_side_branch")
    versions = "migrations/versions"
    side, main_work = (
        f"{versions}/0005_add_orders_coupon.py",
        [
            f"{versions}/0003_create_invoices.py",
            f"{versions}/0004_add_invoices_due.py",
        ],
    )
    env = {**os.environ, **GIT_ENV}
    subprocess.run(["git", "init", "-q", "-b", "main"], cwd=root, check=True, env=env)
    base = [str(p.relative_to(root)) for p in root.rglob("*") if p.is_file()]
    base = [p for p in base if p not in (side, *main_work)]
    commit(root, "2025-10-01T10:00:00", *base)

    def branch_from_main(name: str, when: str, *paths: str) -> None:
        subprocess.run(["git", "checkout", "-q", "-b", name, "main"], cwd=root, check=True, env=env)
        commit(root, when, *paths)

    branch_from_main("coupons", "2025-10-02T10:00:00", side)  # written first
    branch_from_main("invoices", "2025-10-03T10:00:00", *main_work)
    subprocess.run(["git", "checkout", "-q", "main"], cwd=root, check=True, env=env)
    for name, when in (("invoices", "2025-10-04T10:00:00"), ("coupons", "2025-10-05T10:00:00")):  # merged second
        merged = {**env, "GIT_AUTHOR_DATE": when, "GIT_COMMITTER_DATE": when}
        subprocess.run(["git", "merge", "-q", "--no-ff", "-m", f"merge {name}", name], cwd=root, check=True, env=merged)
    proposal = overview("fix_rebase_side_branch")
    plan = proposal.overview["rebase"]
    (edit,) = plan.actions
    assert edit.path.endswith("0005_add_orders_coupon.py") and 'down_revision = "0004"' in edit.new_text
    assert any("by merge order" in note for note in plan.notes), plan.notes


def test_the_recommendation_is_the_highest_ranked_plan_that_is_proved(copy_fixture):
    """One function picks the recommendation; the proof of a plan (verify) plugs in there."""
    from migdoc.fix.planner import plan_overview, recommend

    copy_fixture("fix_rebase_fork")
    project = load_project("fix_rebase_fork")
    context = doctor.read_plan_inputs(project, check_project(project).diagnostics, now=NOW)
    options = FixOptions(now=NOW)
    plans = plan_overview(context, options)
    assert list(plans) == ["rebase", "merge", "archive"]
    assert recommend(context, options, plans) == "rebase"
    unproved = {id(plans["rebase"])}
    assert recommend(context, options, plans, is_proved=lambda plan: id(plan) not in unproved) == "merge"
    assert recommend(context, options, plans, is_proved=lambda plan: False) is None


def test_a_branch_the_database_applied_stays_and_the_other_moves(copy_fixture):
    from migdoc.fix.planner import plan_repairs

    copy_fixture("fix_rebase_fork")
    project = load_project("fix_rebase_fork")
    context = doctor.read_plan_inputs(project, check_project(project).diagnostics, now=NOW)
    applied = frozenset({"5d1c0e2f3a4b", "c0ffee5a1b2c", "0badc0de1234"})
    plan = plan_repairs(
        context,
        FixOptions(now=NOW, is_rebase=True, database_current=("0badc0de1234",), applied_revisions=applied),
    )
    (edit,) = plan.actions
    assert edit.path.endswith("e4d3c2b1a098_add_users_email.py") and 'down_revision = "0badc0de1234"' in edit.new_text
    assert any("by database" in note for note in plan.notes), plan.notes
    # a database that applied both branches' own revisions: rebasing either would skip the other
    both = plan_repairs(
        context,
        FixOptions(
            now=NOW,
            is_rebase=True,
            head="e4d3c2b1a098",
            database_current=("0badc0de1234", "e4d3c2b1a098"),
            applied_revisions=applied | {"e4d3c2b1a098"},
        ),
    )
    assert not both.actions and any("write a merge revision instead" in u for u in both.unresolved)


def test_ids_that_are_whole_file_names_get_the_copys_whole_name_back(tmp_path, monkeypatch):
    """notifications-api's style: the id is the file's stem (0176_alter_billing_columns); a file
    named 0177_add_virus_scan_statuses.py that kept 0176's id gets 0177_add_virus_scan_statuses."""
    from migdoc.fix.planner import plan_repairs

    (tmp_path / "alembic.ini").write_text("[alembic]\nscript_location = %(here)s/migrations\n")
    versions = tmp_path / "migrations" / "versions"
    versions.mkdir(parents=True)
    monkeypatch.chdir(tmp_path)

    def stem_revision(name: str, rev: str, down: str | None) -> None:
        (versions / f"{name}.py").write_text(f'revision = "{rev}"\ndown_revision = {down!r}\n')

    stem_revision("0001_create_jobs", "0001_create_jobs", None)
    stem_revision("0002_add_status", "0002_add_status", "0001_create_jobs")
    stem_revision("0003_add_owner", "0002_add_status", "0001_create_jobs")  # the copy
    project = load_project(".")
    context = doctor.read_plan_inputs(project, check_project(project).diagnostics, now=NOW)
    plan = plan_repairs(context, FixOptions(now=NOW, is_reid=True, keep=("0002_add_status.py",)))
    (edit,) = plan.actions
    assert edit.path.endswith("0003_add_owner.py") and 'revision = "0003_add_owner"' in edit.new_text
    # the name taken as an id already: the chain's next number, with the copy's own slug
    stem_revision("0009_add_owner", "0003_add_owner", "0002_add_status")
    stem_revision("0004_add_index", "0004_add_index", "0003_add_owner")
    stem_revision("0005_add_flag", "0005_add_flag", "0004_add_index")
    project = load_project(".")
    context = doctor.read_plan_inputs(project, check_project(project).diagnostics, now=NOW)
    plan = plan_repairs(context, FixOptions(now=NOW, is_reid=True, keep=("0002_add_status.py",)))
    (edit,) = plan.actions
    assert 'revision = "0006_add_owner"' in edit.new_text, edit.new_text


def test_a_numbered_chain_renumbers_the_revision_it_moves(tmp_path, monkeypatch):
    """notifications-api's convention (ids are numbered file names): the pull request that
    landed second is re-pointed and renumbered, 0002_add_flag -> 0003_add_flag, file renamed."""
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    (tmp_path / "alembic.ini").write_text("[alembic]\nscript_location = %(here)s/migrations\n")
    versions = tmp_path / "migrations" / "versions"
    versions.mkdir(parents=True)
    (tmp_path / "migrations" / "script.py.mako").write_text("")
    monkeypatch.chdir(tmp_path)
    for name, down, date in (
        ("0001_create_jobs", None, "2025-10-01 09:00:00"),
        ("0002_add_status", "0001_create_jobs", "2025-10-02 09:00:00"),
        ("0002_add_flag", "0001_create_jobs", "2025-10-03 09:00:00"),
        ("0003_add_index", "0002_add_flag", "2025-10-04 09:00:00"),
    ):
        (versions / f"{name}.py").write_text(
            f'"""{name}\n\nRevision ID: {name}\nRevises: {down or ""}\nCreate Date: {date}\n\n"""\n'
            f"revision = {name!r}\ndown_revision = {down!r}\n\n\ndef upgrade():\n    pass\n\n\n"
            "def downgrade():\n    pass\n"
        )
    # 0003_add_index follows 0002_add_flag and already holds the number 0003: the moved one
    # cannot take it, so it keeps its id (a clash is never planned)
    proposal = overview(".")
    assert proposal.recommended == "rebase"
    (edit,) = proposal.overview["rebase"].actions
    assert "down_revision = '0002_add_status'" in edit.new_text and "revision = '0002_add_flag'" in edit.new_text
    (versions / "0003_add_index.py").unlink()
    proposal = overview(".")
    edit, rename = proposal.overview["rebase"].actions
    assert "revision = '0003_add_flag'" in edit.new_text and "down_revision = '0002_add_status'" in edit.new_text
    assert rename.kind == "rename" and rename.target.endswith("versions/0003_add_flag.py")
    result = run("fix", "--apply", ".")
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in versions.iterdir()) == [
        "0001_create_jobs.py",
        "0002_add_status.py",
        "0003_add_flag.py",
    ]
    assert ScriptDirectory.from_config(Config("alembic.ini")).get_heads() == ["0003_add_flag"]
    assert check_project(load_project(".")).summary.errors == 0


def test_reid_and_archive_together_is_a_usage_error(copy_fixture):
    root = copy_fixture("fix_reid_from_name")
    before = snapshot(root)
    result = run("fix", "--reid", "--archive", "--apply", "fix_reid_from_name")
    assert result.exit_code == 2 and "choose one" in result.output and "Traceback" not in result.output
    assert snapshot(root) == before


def test_base_ref_after_merging_main_in_moves_this_branchs_revision(tmp_path, monkeypatch):
    """A working branch merged main in (git) and now has two heads: with --base-ref main the
    recommendation moves this branch's revision onto main's head, never main's onto ours,
    although the merge brought main's file later."""
    from test_base_ref import revision, two_children_of_one_head, versions_of

    from tests.gitutil import git

    root = tmp_path / "shop"
    versions_of(root).mkdir(parents=True)
    (root / "alembic.ini").write_text("[alembic]\nscript_location = %(here)s/migrations\n")
    revision(versions_of(root), "0001", None, "customers")
    revision(versions_of(root), "0002", "0001", "orders")
    git(root, "init", "-q", "-b", "main")
    git(root, "add", ".")
    git(root, "commit", "-q", "-m", "base chain")
    monkeypatch.chdir(root)
    two_children_of_one_head(root)
    git(root, "merge", "-q", "--no-edit", "main")
    proposal = doctor.plan_fix(load_project("."), FixOptions(now=NOW), base_ref="main")
    assert proposal.recommended == "relink"  # --relink --base-ref: the MD017 rebase, named first
    plan = proposal.overview[proposal.recommended]
    (edit,) = plan.actions
    assert edit.path.endswith("0003c_coupons.py") and "down_revision = '0003r'" in edit.new_text, plan
    result = run("fix", "--base-ref", "main", "--apply")
    assert result.exit_code == 0, result.output
    assert check_project(load_project(".")).summary.errors == 0


FIXTURES = sorted(
    p.name
    for p in (Path(__file__).resolve().parent.parent / "fixtures").iterdir()
    if p.is_dir() and p.name not in ("layout_dialect_subfolders", "healthy_named_sections")  # need options
)


@pytest.mark.parametrize("name", FIXTURES)
def test_every_recommendation_applies_and_leaves_nothing_that_stops_alembic(copy_fixture, name):
    """Over every fixture: plain fix plans without a bug; what it recommends applies (no
    rollback) and leaves no duplicated id, missing parent, second head or head conflict."""
    copy_fixture(name)
    try:
        proposal = overview(name)
    except MigdocError:
        return  # a project migdoc refuses to read (exit 2): nothing to recommend
    if proposal.recommended is None:
        assert proposal.overview == {} or set(proposal.not_recommended) == set(proposal.overview)
        return
    project = load_project(name)
    plan = proposal.overview[proposal.recommended]
    result = doctor.apply_fix(project, doctor.FixProposal(proposal.before, proposal.options, plan=plan))
    assert not result.is_rolled_back and result.errors_after < result.errors_before
    stopping = {"MD001", "MD002", "MD003", "MD017"}
    after = check_project(load_project(name))
    assert not [d for d in after.diagnostics if d.code in stopping and d.severity.value == "error"]
