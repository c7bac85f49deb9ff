"""Deliberate mutations that once went unnoticed (issue 10), and the tests that now
kill each. Each was made by hand in a copy of the source, the suite run, and the
copy thrown away; keep this table current when a test is renamed or moved.
("before": whether the suite caught it before these tests were written.)

====================================  ======  ==========================================================
mutation                              before  killed by
====================================  ======  ==========================================================
MD009 checks only the first merge     no      test_rules_naming.py::
parent                                        test_md009_merge_checks_every_parent[first-parent]
MD018 without its cycle guard         no      test_rules_structure.py::
                                              test_md018_stays_silent_on_a_graph_with_a_cycle
GitHub annotations no longer escape   no      test_mutations_caught.py::
``,`` in the file/title properties            test_github_properties_escape_comma_and_colon
no-clobber, preflight (a planned      no      test_mutations_caught.py::test_apply_never_overwrites_a_taken_target
target that already exists)
no-clobber, the move itself (a        yes     test_mutations_caught.py::
target that appears after the                 test_apply_never_overwrites_a_target_that_appears_after_the_check;
check; os.replace instead)                    test_apply_interrupted.py::
                                              test_move_no_clobber_never_replaces_a_target_that_appears_after_the_check
                                              (and five more there)
undo over later edits (a conflicting  yes     test_mutations_caught.py::test_undo_leaves_a_file_edited_after_the_fix;
step reverted anyway)                         test_apply_interrupted.py::test_rollback_that_cannot_restore_a_file_says_so
hash re-check during apply, edit      no      test_mutations_caught.py::
                                              test_apply_rechecks_an_edited_file_just_before_its_step
hash re-check during apply, move      yes     test_apply_interrupted.py::test_item9_file_changed_after_the_check_is_not_moved
rollback of a changed created file    no      test_mutations_caught.py::test_undo_keeps_a_created_file_someone_changed;
(removed although changed)                    test_apply_never_overwrites_a_target_that_appears_after_the_check
====================================  ======  ==========================================================

Issue 23 (each killed by the test named, in this file unless said; graph.resolve was also
fixed: Alembic 1.20 matches a prefix of any length against ids longer than three characters):

=====================================================  ====================================  ============================================
mutation                                               where                                 killed by
=====================================================  ====================================  ============================================
a prefix of 1-3 characters handled apart               graph.py: RevisionGraph.resolve       test_prefix_resolution_matches_alembic_...
a label owned by two revisions resolves to the first   graph.py: resolve, resolve_dependency test_a_label_owned_by_two_revisions_...
exactly half the names carrying their id: no pattern   rules/naming.py: filename_mismatch    test_exactly_half_the_names_carrying_...
a template's rev group capturing extra tokens flagged  rules/naming.py: filename_mismatch    test_a_template_rev_group_that_captures_...
content evidence before file name                      planner/evidence.py: LEVELS           test_evidence_file_name_outranks_content
git history before the deployed database               planner/evidence.py: LEVELS           test_evidence_deployed_database_outranks_...
the copy loaded first kept (not Alembic's last)        graph.py: __init__; evidence.py:      test_without_evidence_the_copy_kept_is_...
                                                       choose_original                       (also test_graph, test_fix_story)
exactly half numbered ids: a hex merge id              planner/merge.py: _new_revision_id    test_a_merge_id_follows_the_style_...
renumber accepts an id starting with "."               planner/renumber.py: unsafe_name_...  test_renumber_refuses_an_id_that_starts_...
--archive archives what a survivor depends_on          planner/archive.py: plan_archive      test_archive_never_archives_what_a_...
an --archive-dir under a version folder accepted       planner/archive.py: _refuse_bad_...   test_an_archive_dir_in_or_under_a_...
a renamed edited file journalled with its old hash     apply.py: _journal_for                test_undo_of_a_plan_that_edits_and_...
is_inside("/proj2/x", "/proj") true                    journal.py: is_inside                 test_is_inside_does_not_take_a_sibling_...
an edited file written 0644 / without its BOM          apply.py: _write_atomic, _encode_like test_apply_keeps_an_edited_files_mode_...
the proof ignores current_database()                   dryrun/guard.py: prove                test_guard_refuses_another_database_on_...
a failed connect elsewhere with the run's db name      dryrun/guard.py: _is_ours             test_guard_stops_a_failed_connect_to_...
no pool checkout hook                                  dryrun/guard.py: __enter__            test_guard_proves_a_connection_pooled_...
a remembered password not also URL-decoded             masking.py: remember_secret           test_a_url_decoded_password_is_masked_...
PASSWORD= masked only in lower case                    masking.py: _KEYWORD_PASSWORD         test_a_keyword_password_is_masked_in_...
sslpassword in the query not remembered                masking.py: mask_url                  test_an_sslpassword_in_the_query_is_...
the result cache's key without the current directory   result_cache.py: open_for (key)       test_the_result_cache_answers_an_...
=====================================================  ====================================  ============================================
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from fixhelp import apply_for, plan_for, snapshot

from migdoc.doctor import load_project
from migdoc.fix import apply as applying
from migdoc.model import CheckResult, Diagnostic, Severity, Summary
from migdoc.output.github import render_check


def annotation(file: str, message: str = "m") -> str:
    diagnostic = Diagnostic("MD006", "filename-mismatch", Severity.WARNING, message, file, 3, "0001")
    result = CheckResult((diagnostic,), Summary(1, 1, 1, 0, 1, 0))
    (line,) = render_check(result).splitlines()
    return line


def test_github_properties_escape_comma_and_colon():
    """The workflow-command spec: in properties, ``,`` separates them and ``:`` ends them,
    so both are escaped (``%2C``, ``%3A``); in the message only ``%``, CR and LF are."""
    line = annotation("versions/0001_a,b:c.py", message="a, b: c")
    match = re.fullmatch(r"::warning (?P<props>[^:]*)::(?P<data>.*)", line)
    assert match, line
    properties = dict(part.split("=", 1) for part in match["props"].split(","))
    assert properties == {"file": "versions/0001_a%2Cb%3Ac.py", "line": "3", "title": "MD006 filename-mismatch"}
    assert match["data"] == "a, b: c"


def test_github_escapes_percent_first_so_escapes_are_not_doubled_or_forged():
    line = annotation("versions/100%2C.py", message="50%\nnext")
    assert "file=versions/100%252C.py," in line
    assert line.endswith("::50%25%0Anext")


# -- apply's safety checks -------------------------------------------------------------


def created_path(plan) -> Path:
    (action,) = [a for a in plan.actions if a.kind == "create" and a.path.endswith(".py")]
    return Path(action.path)


def edited_path(plan) -> Path:
    (action,) = [a for a in plan.actions if a.kind == "edit"]
    return Path(action.path)


def no_journal(root: Path) -> bool:
    folder = root / applying.JOURNAL_DIR
    return not folder.exists() or not any(folder.glob("*.json"))


def test_apply_never_overwrites_a_taken_target(copy_fixture):
    """No-clobber, checked before anything is written: a file already at a planned
    target stops the whole apply with nothing changed (not a half-apply rolled back)."""
    root = copy_fixture("fix_merge")
    plan = plan_for("fix_merge", is_merge=True)
    target = created_path(plan)
    target.write_text("# someone else's migration\n")
    before = snapshot(root)
    with pytest.raises(applying.ApplyError, match="already exists; migdoc never overwrites a file; nothing changed"):
        apply_for("fix_merge", plan)
    assert snapshot(root) == before
    assert no_journal(root)


def test_apply_never_overwrites_a_target_that_appears_after_the_check(copy_fixture, monkeypatch):
    """No-clobber at the write itself: a file that appears between the preflight and
    the step survives, whatever the rollback does afterwards."""
    copy_fixture("fix_merge")
    plan = plan_for("fix_merge", is_merge=True)
    target = created_path(plan)
    real_preflight = applying._preflight

    def preflight_then_race(plan, folders):
        real_preflight(plan, folders)
        target.write_text("# written by someone else meanwhile\n")

    monkeypatch.setattr(applying, "_preflight", preflight_then_race)
    with pytest.raises(applying.ApplyError):
        apply_for("fix_merge", plan)
    assert target.read_text() == "# written by someone else meanwhile\n"


def test_apply_rechecks_an_edited_file_just_before_its_step(copy_fixture, monkeypatch):
    """The hash re-check during apply, for an edit: a file changed after the preflight
    is not overwritten with an edit computed from its old text."""
    root = copy_fixture("fix_story")
    plan = plan_for("fix_story", is_archive=True)
    victim = edited_path(plan)
    real_preflight = applying._preflight

    def preflight_then_edit(plan, folders):
        real_preflight(plan, folders)
        victim.write_text(victim.read_text() + "\n# edited while migdoc was applying\n")

    monkeypatch.setattr(applying, "_preflight", preflight_then_edit)
    before = snapshot(root / "migrations")
    with pytest.raises(applying.ApplyError, match="changed on disk during apply"):
        apply_for("fix_story", plan)
    assert victim.read_text().endswith("# edited while migdoc was applying\n")
    after = snapshot(root / "migrations")
    key = f"versions/{victim.name}"
    assert after.pop(key) != before.pop(key)
    assert after == before  # every other step was put back


def test_undo_leaves_a_file_edited_after_the_fix(copy_fixture):
    """Undo never reverts over later work: a file edited since the fix keeps that
    edit, and the undo says which file it left."""
    copy_fixture("fix_story")
    plan = plan_for("fix_story", is_archive=True)
    edited = edited_path(plan)
    assert not apply_for("fix_story", plan).is_rolled_back
    edited.write_text(edited.read_text() + "\n# a later change by hand\n")
    undone = applying.undo_last(load_project("fix_story").layout.root)
    assert edited.read_text().endswith("# a later change by hand\n")
    assert any(edited.name in p and "changed since it was fixed" in p for p in undone.kept), undone


def test_undo_keeps_a_created_file_someone_changed(copy_fixture):
    """Rollback of a created file only removes it while it is what migdoc wrote."""
    copy_fixture("fix_merge")
    plan = plan_for("fix_merge", is_merge=True)
    created = created_path(plan)
    assert not apply_for("fix_merge", plan).is_rolled_back
    created.write_text(created.read_text() + "\n# filled in by hand\n")
    undone = applying.undo_last(load_project("fix_merge").layout.root)
    assert created.exists() and created.read_text().endswith("# filled in by hand\n")
    assert any(created.name in p and "changed since it was created" in p for p in undone.kept), undone


# -- issue 23: the mutations that survived -----------------------------------------------------


def alembic_map(revisions):
    from alembic.script.revision import Revision, RevisionMap

    return RevisionMap(lambda: [Revision(rev, down, branch_labels=labels) for rev, down, labels in revisions])


def alembic_resolves(revision_map, name: str) -> str | None:
    from alembic.script.revision import RevisionError

    try:
        found = revision_map.get_revision(name)
    except RevisionError:
        return None
    return found.revision if found is not None else None


PREFIX_CHAIN = [("abcd1234", None), ("ffff9999", "abcd1234"), ("abc", "ffff9999"), ("abcz", "abc"), ("12", "abcz")]
PREFIX_CHAIN += [("1234", "12")]


@pytest.mark.parametrize("name", ["a", "ab", "abc", "abcd", "f", "ff", "abcz", "1", "12", "123", "abcd1234x", "zz"])
def test_prefix_resolution_matches_alembic_for_every_prefix_length(name):
    """Alembic 1.20 resolves any unique prefix of an id longer than three characters (its
    check is on the id's length, not the prefix's): ``f`` finds ``ffff9999``, ``123`` finds
    ``1234``, ``ab`` finds nothing (two ids start so), ``abc`` is an id itself."""
    from rulekit import revision

    from migdoc.chain.graph import build_graph

    graph = build_graph([revision(rev, down) for rev, down in PREFIX_CHAIN])
    index = graph.resolve(name)
    mine = graph.files[index].revision if index is not None else None
    assert mine == alembic_resolves(alembic_map([(rev, down, None) for rev, down in PREFIX_CHAIN]), name)


def test_a_label_owned_by_two_revisions_resolves_to_neither():
    """Alembic refuses such a map outright; migdoc reports MD008 and resolves the label to
    nothing, as a dependency or as a name, rather than to whichever file came first."""
    from rulekit import revision

    from migdoc.chain.graph import build_graph

    graph = build_graph([revision("a1", None, labels=("shared",)), revision("b1", None, labels=("shared",))])
    assert graph.resolve("shared") is None and graph.resolve_dependency("shared") is None
    single = build_graph([revision("a1", None, labels=("mine",)), revision("b1", None)])
    assert single.files[single.resolve("mine")].revision == "a1"
    assert single.files[single.resolve_dependency("mine")].revision == "a1"


def test_exactly_half_the_names_carrying_their_id_is_a_naming_pattern():
    """MD006 judges names by the pattern "most" files follow: half is enough (``carrying * 2
    < len`` skips the rule only below half)."""
    from rulekit import findings, revision

    files = [revision("0001"), revision("0002", "0001"), revision("0003", "0002", path="versions/add_x.py")]
    files.append(revision("0004", "0003", path="versions/add_y.py"))
    assert sorted(d.revision for d in findings("MD006", files)) == ["0003", "0004"]
    files.append(revision("0005", "0004", path="versions/add_z.py"))  # now fewer than half
    assert findings("MD006", files) == []


def test_a_template_rev_group_that_captures_extra_tokens_is_no_mismatch():
    """With the rev last (``%(slug)s_%(rev)s``), the regex's rev group takes ``x_abc1`` of
    ``add_x_abc1``: the name still carries its id, so nothing is reported."""
    from rulekit import findings, revision

    files = [revision("abc1", path="versions/add_x_abc1.py"), revision("def2", "abc1", path="versions/add_def2.py")]
    assert findings("MD006", files, file_template="%(slug)s_%(rev)s") == []
    wrong = [revision("abc1", path="versions/add_x_abc9.py"), revision("def2", "abc1", path="versions/add_def2.py")]
    assert [d.revision for d in findings("MD006", wrong, file_template="%(slug)s_%(rev)s")] == ["abc1"]


def duplicated_r4(root: Path, *, x_name: str, x_parent: str, x_repeats_r2: bool, y_name: str, y_parent: str):
    """r1 <- r2 <- r3 and two files declaring r4: X and Y. Returns (versions, X path, Y path)."""
    from hostile import write_project, write_revision

    versions = write_project(root)
    x = write_revision(versions, "r4", x_parent, name=x_name)
    if x_repeats_r2:  # X's upgrade() is r2's, written later: content says X is the copy
        body = (versions / "r2_step.py").read_text().split("def upgrade():", 1)[1]
        x.write_text(x.read_text().split("def upgrade():", 1)[0] + "def upgrade():" + body)
    y = write_revision(versions, "r4", y_parent, name=y_name)
    return versions, x, y


def choose(root: Path, options=None, added=None):
    from dataclasses import replace

    from migdoc.doctor import load_project, read_plan_inputs
    from migdoc.fix.planner.evidence import choose_original
    from migdoc.model import FixOptions

    project = load_project(str(root))
    context = read_plan_inputs(project, ())
    if added is not None:
        context = replace(context, added=added)
    copies = context.graph.declarations["r4"]
    kept, lines = choose_original(context, options or FixOptions(), copies, "r4")
    return Path(context.files[kept].path).name, lines


def test_evidence_file_name_outranks_content(in_tmp):
    """The README's order: database, git, file name, content. X carries its id but repeats
    r2's upgrade(); Y's name does not carry it: the name decides, content is overruled."""
    duplicated_r4(in_tmp / "p", x_name="r4_x.py", x_parent="r3", x_repeats_r2=True, y_name="other.py", y_parent="r3")
    kept, lines = choose(in_tmp / "p")
    assert kept == "r4_x.py", lines
    assert any("by file name" in line for line in lines)
    assert any(line.startswith("evidence for r4: content points at other.py") for line in lines), lines


def test_evidence_deployed_database_outranks_git_history(in_tmp):
    """Git says X came first; the database applied Y's parent line (at r2, not r3): the database decides."""
    from migdoc.model import FixOptions

    root = in_tmp / "p"
    _, x, y = duplicated_r4(root, x_name="r4_x.py", x_parent="r3", x_repeats_r2=False, y_name="r4_y.py", y_parent="r2")
    added = {str(x): (100, "commit aaaa (early)"), str(y): (200, "commit bbbb (later)")}
    kept, lines = choose(root, FixOptions(database_current=("r2",)), added)
    assert kept == "r4_y.py", lines
    assert any("by database" in line for line in lines), lines
    assert any("git history points at r4_x.py" in line and "overruled" in line for line in lines), lines
    assert choose(root, FixOptions(), added)[0] == "r4_x.py"  # without the database, git decides


def test_without_evidence_the_copy_kept_is_the_one_alembic_loads_last(in_tmp):
    """Alembic's revision map is filled in load order and the last copy wins; migdoc's
    graph and the --archive plan keep the same file Alembic does."""
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    root = in_tmp / "p"
    duplicated_r4(root, x_name="r4_b.py", x_parent="r3", x_repeats_r2=False, y_name="r4_a.py", y_parent="r3")
    with pytest.warns(UserWarning, match="r4"):  # Alembic warns about the duplicate
        alembic_kept = ScriptDirectory.from_config(Config(str(root / "alembic.ini"))).get_revision("r4").path
    kept, lines = choose(root)
    assert kept == Path(alembic_kept).name == "r4_b.py", lines
    assert "Alembic's load order keeps r4_b.py (loaded last)" in lines[0]
    project = load_project(str(root))
    assert Path(project.graph.files[project.graph.kept["r4"]].path).name == "r4_b.py"


@pytest.mark.parametrize(
    ("known", "expected"),
    [
        ({"0001", "0002", "ab12cd34ef56", "fe65dc43ba21"}, "0003"),  # exactly half numbered: numbered
        ({"0001", "ab12cd34ef56", "fe65dc43ba21"}, None),  # fewer than half: 12 hex characters
        ({"0009", "0010"}, "0011"),
    ],
)
def test_a_merge_id_follows_the_style_most_ids_have(known, expected):
    from fixhelp import NOW

    from migdoc.fix.planner.merge import _new_revision_id
    from migdoc.model import FixOptions

    new = _new_revision_id(set(known), sorted(known)[-2:], FixOptions(now=NOW))
    if expected is None:
        assert re.fullmatch(r"[0-9a-f]{12}", new) and not new.isdigit(), new
    else:
        assert new == expected


@pytest.mark.parametrize("word", [".hidden", ".env", "..x", "."])
def test_renumber_refuses_an_id_that_starts_with_a_dot(word):
    """A file named ``.hidden_step.py`` is hidden, and Alembic skips names starting with a dot."""
    from migdoc.fix.planner.renumber import unsafe_name_reason

    assert unsafe_name_reason(word) == "it starts with a dot"
    assert unsafe_name_reason("x.hidden") is None


def chain_with_a_repeat(root: Path, third_name: str = "r3_step.py") -> Path:
    """r1 <- r2 <- a1 <- r3 <- r4, where a1's upgrade() only repeats r2's (MD012, an error):
    --archive archives a1 and relinks r3 onto r2."""
    from hostile import write_project, write_revision

    versions = write_project(root, 2)
    text = (versions / "r2_step.py").read_text()
    for old, new in (
        ("'r2'", "'a1'"),
        ("'r1'", "'r2'"),
        ("Revision ID: r2", "Revision ID: a1"),
        ("Revises: r1", "Revises: r2"),
    ):
        text = text.replace(old, new)
    (versions / "a1_step.py").write_text(text)
    write_revision(versions, "r3", "a1", name=third_name)
    write_revision(versions, "r4", "r3")
    return versions


def test_archive_never_archives_what_a_survivor_depends_on(in_tmp):
    from fixhelp import plan_for
    from hostile import write_revision

    versions = chain_with_a_repeat(in_tmp / "p")
    assert [a.source for a in plan_for("p", is_archive=True).actions if a.kind == "move"] == [
        str(versions / "a1_step.py")
    ]
    r4 = versions / "r4_step.py"
    r4.write_text(r4.read_text().replace("depends_on = None", "depends_on = 'a1'"))
    write_revision(versions, "x1", "r1", message="dead end")  # something else to archive
    plan = plan_for("p", is_archive=True)
    assert [a.source for a in plan.actions if a.kind == "move"] == [str(versions / "x1_step.py")]
    assert "a1 only repeats an ancestor but another revision depends_on it; left in place" in plan.notes


@pytest.mark.parametrize("inside", ["versions", "versions/old", "versions/old/deeper"])
def test_an_archive_dir_in_or_under_a_version_location_is_refused(in_tmp, inside):
    """Alembic would still load files archived there (with recursive_version_locations, or
    at once when it is the folder itself)."""
    from fixhelp import NOW

    from migdoc import doctor
    from migdoc.errors import FixRefused

    versions = chain_with_a_repeat(in_tmp / "p")
    archive_dir = str(versions.parent / inside)
    options = doctor.FixOptions(now=NOW, is_archive=True, archive_dir=archive_dir)
    with pytest.raises(FixRefused, match="is inside the version location"):
        doctor.plan_fix(doctor.load_project("p"), options)


def test_undo_of_a_plan_that_edits_and_renames_one_file_restores_it(in_tmp):
    """The rename of a file edited first is journalled with the edited file's hash; with the
    unedited hash the undo saw a conflict and left the file renamed and edited."""
    from fixhelp import apply_for, plan_for, snapshot

    root = in_tmp / "p"
    versions = chain_with_a_repeat(root, third_name="third_step.py")
    (root / "pyproject.toml").write_text('[tool.migdoc]\nseverity = { MD006 = "error" }\n')
    before = snapshot(versions)
    plan = plan_for("p", is_archive=True, is_renumber=True)
    third = str(versions / "third_step.py")
    assert [
        a.kind for a in plan.actions if getattr(a, "path", None) == third or getattr(a, "source", None) == third
    ] == [
        "edit",
        "rename",
    ]
    assert not apply_for("p", plan).is_rolled_back
    assert not (versions / "third_step.py").exists() and (versions / "r3_third_step.py").exists()
    result = applying.undo_last(root)
    assert (result.kept, result.failed) == ((), ())
    assert snapshot(versions) == before


def test_is_inside_does_not_take_a_sibling_with_a_longer_name_for_the_folder(tmp_path):
    from migdoc.fix.journal import is_inside

    project = tmp_path / "proj"
    (tmp_path / "proj2").mkdir()
    project.mkdir()
    assert is_inside(str(project / "a.py"), (project,))
    assert is_inside(str(project), (project,))
    assert not is_inside(str(tmp_path / "proj2" / "a.py"), (project,))
    assert not is_inside(str(tmp_path / "proj2"), (project,))


@pytest.mark.parametrize("mode", [0o600, 0o755])
def test_apply_keeps_an_edited_files_mode_and_byte_order_mark(copy_fixture, mode):
    copy_fixture("fix_story")
    plan = plan_for("fix_story", is_archive=True)
    edited = edited_path(plan)
    edited.write_bytes(b"\xef\xbb\xbf" + edited.read_bytes())
    edited.chmod(mode)
    plan = plan_for("fix_story", is_archive=True)  # planned on the file as it is now
    assert not apply_for("fix_story", plan).is_rolled_back
    assert edited.stat().st_mode & 0o777 == mode
    data = edited.read_bytes()
    assert data.startswith(b"\xef\xbb\xbf") and not data.startswith(b"\xef\xbb\xbf" * 2)
    assert "down_revision" in data.decode("utf-8-sig")


# -- the dry-run's connection guard, in process (its end-to-end tests need PostgreSQL) -----------


class FakeCursor:
    def __init__(self, row):
        self.row = row

    def execute(self, sql):
        assert "current_database()" in sql

    def fetchone(self):
        return self.row

    def close(self):
        pass


class FakeConnection:
    """A DBAPI connection whose proof query answers ``row``."""

    def __init__(self, row):
        self.row = row
        self.is_closed = False

    def cursor(self):
        return FakeCursor(self.row)

    def rollback(self):
        pass

    def close(self):
        self.is_closed = True


def guard_for(tmp_path):
    from migdoc.dryrun.guard import ConnectionGuard, RunIdentity

    return ConnectionGuard(RunIdentity("migdoc_dryrun_run", "tok-123", host="/run/sock"), tmp_path)


def test_guard_refuses_another_database_on_the_runs_own_server(tmp_path):
    """A private server carries the run's token as a server setting: every database on it
    shows the token, so only ``current_database()`` tells the run's database from another."""
    from migdoc.dryrun.guard import ForeignConnection

    guard = guard_for(tmp_path)
    guard.prove(FakeConnection(("tok-123", "migdoc_dryrun_run", None)), "the run's")  # the run's own: passes
    other = FakeConnection(("tok-123", "postgres", None))
    with pytest.raises(ForeignConnection, match="not to the dry-run's throwaway database"):
        guard.prove(other, "postgresql://postgres@/postgres")
    assert other.is_closed


def test_guard_stops_a_failed_connect_to_another_host_with_the_runs_database_name(tmp_path):
    """A connection that fails is re-raised as is only when it was meant for the run's own
    database: same name *and* same host. Elsewhere it is a foreign connection."""
    from migdoc.dryrun.guard import ForeignConnection

    class Dialect:
        name, driver = "postgresql", "psycopg"

        def connect(self, *cargs, **cparams):
            raise OSError("connection refused")

    guard = guard_for(tmp_path)
    with pytest.raises(ForeignConnection, match="tried to connect to"):
        guard._do_connect(Dialect(), None, (), {"dbname": "migdoc_dryrun_run", "host": "db.example.com"})
    with pytest.raises(OSError, match="connection refused"):
        guard._do_connect(Dialect(), None, (), {"dbname": "migdoc_dryrun_run", "host": "/run/sock"})


def test_guard_proves_a_connection_pooled_before_it_started(tmp_path):
    """The pool's checkout hook: a connection made before the guard (an engine built at
    import time, used once) is proved when the project's code checks it out again."""
    from sqlalchemy import create_engine, text
    from sqlalchemy.pool import QueuePool

    from migdoc.dryrun.guard import ForeignConnection

    engine = create_engine(f"sqlite:///{tmp_path / 'developer.db'}", poolclass=QueuePool)
    try:
        with engine.connect() as connection:
            connection.execute(text("SELECT 1"))  # now pooled, never proved
        with guard_for(tmp_path), pytest.raises(ForeignConnection):
            with engine.connect() as connection:
                connection.execute(text("SELECT 1"))
    finally:
        engine.dispose()


# -- masking --------------------------------------------------------------------------------


def test_a_url_decoded_password_is_masked_where_a_driver_repeats_it():
    """A URL SQLAlchemy cannot parse (a bad port) is masked textually; its password, still
    percent-encoded there, is remembered decoded too: a driver's error shows it decoded."""
    from migdoc.util.masking import mask_secrets, mask_url

    assert "p%40ss-w0rd-decode" not in mask_url("postgresql://app:p%40ss-w0rd-decode@db:notaport/shop")
    assert mask_secrets('FATAL: password "p@ss-w0rd-decode" rejected') == 'FATAL: password "***" rejected'


@pytest.mark.parametrize("spelling", ["password", "PASSWORD", "Password", "PassWord"])
def test_a_keyword_password_is_masked_in_any_case(spelling):
    from migdoc.util.masking import mask_secrets

    shown = mask_secrets(f"host=db {spelling}=kw-secret-{spelling} dbname=shop")
    assert shown == f"host=db {spelling}=*** dbname=shop"


def test_an_sslpassword_in_the_query_is_masked_and_remembered():
    from migdoc.util.masking import mask_secrets, mask_url

    shown = mask_url("postgresql+psycopg://app@db/shop?sslmode=verify-full&sslpassword=key-pass-9981")
    assert "key-pass-9981" not in shown and "sslmode=verify-full" in shown
    assert "key-pass-9981" not in mask_secrets("could not decrypt key with key-pass-9981")


# -- the result cache -------------------------------------------------------------------------


def test_the_result_cache_answers_an_absolute_path_anew_from_another_folder(tmp_path, monkeypatch):
    """Paths are shown relative to the current directory: the same absolute PATH checked
    from two folders is two answers, not the first one's paths replayed."""
    import shutil

    from migdoc.options import CheckRequest
    from migdoc.output.text import plain
    from migdoc.reports.check import check_paths
    from tests.conftest import FIXTURES

    monkeypatch.setenv("MIGDOC_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.delenv("MIGDOC_NO_CACHE", raising=False)
    project = tmp_path / "project"
    shutil.copytree(FIXTURES / "md003_multiple_heads", project)

    def check():
        return check_paths(CheckRequest(paths=(str(project),)), lambda: plain)

    monkeypatch.chdir(tmp_path)
    assert "project/migrations/versions/" in check().report
    assert check().is_cached  # the cache is on
    monkeypatch.chdir(project)
    moved = check()
    assert not moved.is_cached
    assert "project/migrations/versions/" not in moved.report and "migrations/versions/" in moved.report
