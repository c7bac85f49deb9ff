"""Issue 12, item 1: the seed story on its real shape, repaired by evidence (fixtures/fix_seed).

0025 is declared by 0025_add_channel_mtproto_settings.py (parent 0024) and by
0025b_add_mtproto_audit_log.py (parent 0024b, loaded last by Alembic); 0026b_... declares
0026 and repeats 0025's upgrade; 0027 -> 0026; 0026c/0026d form a side branch that only
repeats earlier work. The repair made by hand archived 0024b, 0025b, 0026b, 0026c, 0026d
and pointed 0027 at 0025.
"""

from __future__ import annotations

import json
import os
import subprocess

from click.testing import CliRunner
from fixhelp import alembic_heads, apply_for, plan_for
from gitutil import GIT_ENV

from migdoc.cli import cli
from migdoc.doctor import check_project, load_project
from migdoc.model import EditText, MoveFile

VERSIONS = "fix_seed/migrations/versions"
HAND_REPAIR = {
    "0024b_add_mtproto_sessions.py",
    "0025b_add_mtproto_audit_log.py",
    "0026b_add_channel_mtproto_settings.py",
    "0026c_add_mtproto_sessions.py",
    "0026d_add_channel_title.py",
}


def run(*args: str):
    return CliRunner().invoke(cli, list(args))


def moved(plan) -> set[str]:
    return {a.source.rsplit("/", 1)[1] for a in plan.actions if isinstance(a, MoveFile)}


def chain(root) -> list[str]:
    """The main line from the head down, as Alembic's own ScriptDirectory walks it."""
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    script = ScriptDirectory.from_config(Config(str(root / "alembic.ini")))
    return [s.revision for s in script.walk_revisions()]


def commit(root, when: str, *paths: str) -> None:
    env = {**os.environ, **GIT_ENV, "GIT_AUTHOR_DATE": when, "GIT_COMMITTER_DATE": when}
    for args in (["add", "--", *paths], ["commit", "-q", "-m", f"add {len(paths)} files"]):
        subprocess.run(["git", *args], cwd=root, check=True, capture_output=True, env=env)


def test_check_fix_diff_apply_gives_the_hand_repaired_chain(copy_fixture):
    root = copy_fixture("fix_seed")
    checked = run("check", "fix_seed")
    assert checked.exit_code == 1 and "MD001" in checked.output
    shown = run("fix", "--archive", "--diff", "fix_seed")
    assert shown.exit_code == 1, shown.output
    assert '-down_revision = "0026"\n+down_revision = "0025"' in shown.output
    plan = plan_for("fix_seed", is_archive=True)
    assert moved(plan) == HAND_REPAIR and not plan.unresolved and plan.main_head == "0027"
    (edit,) = [a for a in plan.actions if isinstance(a, EditText)]
    assert edit.path.endswith("0027_add_channel_invite_link.py")
    result = apply_for("fix_seed", plan)
    assert not result.is_rolled_back and result.errors_after == 0
    assert alembic_heads(root) == ["0027"]  # fails on any warning Alembic emits
    assert chain(root) == ["0027", "0025", "0024", "0023", "0013", "0001"]
    assert check_project(load_project("fix_seed")).summary.errors == 0


def test_the_plan_prints_the_evidence_behind_each_decision(copy_fixture):
    copy_fixture("fix_seed")
    text = run("fix", "--archive", "fix_seed").output
    assert (
        "evidence for 0025: keeps 0025_add_channel_mtproto_settings.py by file name: "
        "0025_add_channel_mtproto_settings.py carries the id 0025; 0025b_add_mtproto_audit_log.py does not"
    ) in text
    assert (
        "evidence for the main head: 0027 by file name: 0026d's branch holds only suffixed ids (0026c, 0026d), "
        "variants of the chain's numbers; 0027's does not"
    ) in text
    assert "evidence for the main head: content agrees (0026d's branch only repeats earlier work" in text
    assert (
        "evidence for the main head: the longest path points at 0026d (8 revisions from a base); "
        "overruled by 2 kinds of evidence"
    ) in text
    notes = json.loads(run("fix", "--archive", "--format", "json", "fix_seed").output)["notes"]
    assert any(n.startswith("evidence for 0025: keeps 0025_add_channel_mtproto_settings.py") for n in notes)


def test_git_history_saying_the_opposite_outweighs_the_file_name(copy_fixture):
    root = copy_fixture("fix_seed")
    subprocess.run(["git", "init", "-q"], cwd=root, check=True, env={**os.environ, **GIT_ENV})
    later = "migrations/versions/0025_add_channel_mtproto_settings.py"
    everything = [str(p.relative_to(root)) for p in root.rglob("*") if p.is_file() and p.name != later.rsplit("/")[-1]]
    commit(root, "2025-11-01T10:00:00", *everything)
    commit(root, "2025-11-15T10:00:00", later)
    plan = plan_for("fix_seed", is_archive=True)
    notes = "\n".join(plan.notes)
    assert "evidence for 0025: keeps 0025b_add_mtproto_audit_log.py by git history" in notes
    assert "the file added later is the copy" in notes
    assert (
        "evidence for 0025: file name points at 0025_add_channel_mtproto_settings.py "
        "(0025_add_channel_mtproto_settings.py carries the id 0025; 0025b_add_mtproto_audit_log.py does not); "
        "overruled by the stronger git history"
    ) in notes
    # 0025b's line is kept: 0024 and the later copy go, the repeats of the side branch go.
    assert moved(plan) == {
        "0024_add_mtproto_sessions.py",
        "0025_add_channel_mtproto_settings.py",
        "0026c_add_mtproto_sessions.py",
        "0026d_add_channel_title.py",
    }
    assert not plan.unresolved
    result = apply_for("fix_seed", plan)
    assert not result.is_rolled_back
    assert alembic_heads(root) == ["0027"]
    assert chain(root) == ["0027", "0026", "0025", "0024b", "0023", "0013", "0001"]


def test_no_evidence_refuses_and_names_keep_which_then_decides(copy_fixture):
    root = copy_fixture("fix_seed")
    versions = root / "migrations" / "versions"
    # both names now carry the id; no git, no database, neither repeats anything
    (versions / "0025b_add_mtproto_audit_log.py").rename(versions / "0025_add_mtproto_audit_log.py")
    refused = run("fix", "--archive", "fix_seed")
    assert refused.exit_code == 2
    assert "cannot tell which file of revision 0025 is the original" in refused.output
    assert f"--keep {VERSIONS}/0025_add_channel_mtproto_settings.py" in refused.output
    kept = run("fix", "--archive", "--keep", "0025_add_channel_mtproto_settings.py", "fix_seed")
    assert kept.exit_code == 1, kept.output
    assert "keeps 0025_add_channel_mtproto_settings.py by --keep" in kept.output
    plan = plan_for("fix_seed", is_archive=True, keep=("0025_add_channel_mtproto_settings.py",))
    assert "0025_add_mtproto_audit_log.py" in moved(plan) and "0024_add_mtproto_sessions.py" not in moved(plan)


def test_the_deployed_database_outweighs_the_name_and_a_database_past_the_id_says_nothing(copy_fixture):
    # what plan_fix derives from --database-url (tests/test_fix_database.py reads a real one)
    from fixhelp import NOW

    from migdoc.doctor import read_plan_inputs
    from migdoc.fix.planner import plan_repairs
    from migdoc.model import FixOptions

    copy_fixture("fix_seed")
    project = load_project("fix_seed")
    context = read_plan_inputs(project, check_project(project).diagnostics, now=NOW)

    def plan_at(current: str):
        return plan_repairs(context, FixOptions(now=NOW, is_archive=True, database_current=(current,)))

    # a database that stopped on 0024b's line ran that line: 0025b is the original for it
    plan = plan_at("0024b")
    notes = "\n".join(plan.notes)
    assert "evidence for 0025: keeps 0025b_add_mtproto_audit_log.py by database" in notes
    assert "applied 0024b (parent of 0025b_add_mtproto_audit_log.py), not 0024" in notes
    assert "overruled by the stronger database" in notes
    assert "0024_add_mtproto_sessions.py" in moved(plan) and "0024b_add_mtproto_sessions.py" not in moved(plan)
    # alembic_version at 0027 does not say which 0025 ran: the file name decides, as without a database
    past = plan_at("0027")
    assert "evidence for 0025: keeps 0025_add_channel_mtproto_settings.py by file name" in "\n".join(past.notes)
    assert not [n for n in past.notes if n.startswith("evidence for 0025") and "database" in n]
    assert moved(past) == HAND_REPAIR
    # but for the heads it speaks: it applied 0027, on the line the name and content choose
    assert "evidence for the main head: 0027 by database: the deployed database (at 0027) applied 0027" in (
        "\n".join(past.notes)
    )


def test_keep_naming_no_copy_is_one_clear_line(copy_fixture):
    copy_fixture("fix_seed")
    result = run("fix", "--archive", "--keep", "0099_nothing.py", "fix_seed")
    assert result.exit_code == 2
    assert "--keep 0099_nothing.py: no file of a duplicated revision id has that name" in result.output
    assert "Traceback" not in result.output
