"""Issue 23: module-level assignments are read in order, as Python runs them; what only
running the module decides is said (MD010 for revision/down_revision, MD019 for the others)."""

from __future__ import annotations

import pytest

from migdoc.fix.edits import apply_edits, down_revision_problem, relink_edits
from migdoc.project.reader import read_revision


def read(text: str):
    return read_revision("versions/x.py", text.encode())


def test_tuple_assignment_reads_both_names():
    rf = read("revision, down_revision = 'b2', 'a1'\n")
    assert (rf.revision, rf.down_revisions, rf.read_error) == ("b2", ("a1",), None)


def test_tuple_assignment_is_relinked_in_its_own_element():
    text = "revision, down_revision = 'b2', 'a1'\n"
    rf = read(text)
    assert apply_edits(text, relink_edits(text, rf, ("zz",))) == "revision, down_revision = 'b2', 'zz'\n"


def test_list_unpacking_and_starred_targets():
    rf = read("[revision, down_revision] = ['b2', ('a1', 'a2')]\n")
    assert rf.down_revisions == ("a1", "a2")
    rf = read("revision, *down_revision = 'b2', 'a1', 'a0'\n")
    assert rf.revision == "b2" and rf.down_revisions == ("a1", "a0")


def test_unpacking_a_name_is_read_but_not_rewritten():
    rf = read("IDS = ('b2', 'a1')\nrevision, down_revision = IDS\n")
    assert rf.revision == "b2" and rf.down_revisions == ("a1",)
    assert down_revision_problem(rf) is not None  # rewriting IDS would change revision too


def test_a_name_takes_its_value_at_the_line_that_reads_it():
    rf = read("PARENT = 'a1'\nrevision = 'b2'\ndown_revision = PARENT\nPARENT = 'zz'\n")
    assert rf.down_revisions == ("a1",)
    rf = read("PARENT = 'zz'\nrevision = 'b2'\ndown_revision = PARENT\nPARENT = 'a1'\n")
    assert rf.down_revisions == ("zz",)  # the real KeyError stays visible (MD002)


def test_reassignment_keeps_the_last_value():
    rf = read("revision = 'b1'\ndown_revision = None\nrevision = 'b2'\n")
    assert rf.revision == "b2" and rf.revision_at.line == 3


def test_augmented_assignment_on_a_known_string():
    rf = read("revision = 'b'\nrevision += '2'\ndown_revision = None\n")
    assert rf.revision == "b2" and rf.read_error is None
    rf = read("revision = 'b2'\ndown_revision = ['a1']\ndown_revision += ['a0']\n")
    assert rf.down_revisions == ("a1", "a0") and down_revision_problem(rf) is not None


def test_in_place_list_growth_is_seen_by_its_aliases():
    rf = read("P = ['a1']\nrevision = 'b2'\ndown_revision = P\nP += ['a0']\n")
    assert rf.down_revisions == ("a1", "a0")


def test_string_concatenation_and_f_strings_of_constants():
    rf = read("BASE = 'b'\nrevision = BASE + '2'\ndown_revision = f'{BASE}1'\n")
    assert (rf.revision, rf.down_revisions) == ("b2", ("b1",))


def test_annotated_assignment_without_value_binds_nothing():
    rf = read("revision: str\ndown_revision = None\n")
    assert rf.read_error == "`revision` is not assigned"


def test_deleted_name_is_not_assigned():
    rf = read("revision = 'b2'\ndown_revision = None\ndel revision\n")
    assert rf.read_error == "`revision` is not assigned"


def test_set_down_revision_reads_as_sorted_ids():
    rf = read("revision = 'm'\ndown_revision = {'b1', 'a1'}\ndepends_on = {'z'}\n")
    assert rf.read_error is None and rf.down_revisions == ("a1", "b1") and rf.depends_on == ("z",)


@pytest.mark.parametrize(
    ("block", "keyword"),
    [
        ("if X:\n    revision = 'b2'\nelse:\n    revision = 'b3'\n", "if"),
        ("for r in ('b2', 'b3'):\n    revision = r\n", "for"),
        ("while True:\n    revision = 'b2'\n    break\n", "while"),
        ("try:\n    revision = 'b2'\nexcept Exception:\n    pass\n", "try"),
        ("with X:\n    revision = 'b2'\n", "with"),
        ("match X:\n    case 1:\n        revision = 'b2'\n", "match"),
    ],
)
def test_revision_decided_by_control_flow_is_md010_with_the_reason(block, keyword):
    rf = read("X = 1\n" + block + "down_revision = None\n")
    assert rf.read_error is not None and rf.revision is None
    assert f"assigned under `{keyword}` (line 2)" in rf.read_error
    assert rf.read_error_line >= 2
    assert not rf.is_stray  # never a false MD014


def test_a_plain_assignment_after_a_branch_decides_again():
    rf = read("if X:\n    revision = 'b3'\nrevision = 'b2'\ndown_revision = None\n")
    assert rf.revision == "b2" and rf.read_error is None


def test_labels_decided_by_control_flow_are_md019_with_the_reason():
    rf = read("revision = 'b2'\ndown_revision = None\nif X:\n    branch_labels = ('billing',)\n")
    assert rf.is_branch_labels_unresolved and rf.branch_labels == ()
    assert rf.branch_labels_unresolved_reason == "assigned under `if` (line 3)"
    plain = read("revision = 'b2'\ndown_revision = None\ndepends_on = f()\n")
    assert plain.is_depends_on_unresolved and plain.depends_on_unresolved_reason is None


def test_a_function_assigning_through_global_makes_the_value_undecided():
    text = "revision = 'b2'\ndown_revision = 'a1'\ndef bump():\n    global down_revision\n    down_revision = 'zz'\n"
    rf = read(text)
    assert rf.read_error is not None and "through `global`" in rf.read_error
    local = read("revision = 'b2'\ndown_revision = 'a1'\ndef f():\n    down_revision = 'zz'\n")
    assert local.down_revisions == ("a1",)  # a local of the function: the module's value stands


def test_a_method_call_that_may_change_a_list_makes_it_undecided():
    rf = read("P = ['a1']\nrevision = 'b2'\ndown_revision = P\nP.append('a0')\n")
    assert rf.read_error is not None and "`.append()`" in rf.read_error


def test_walrus_at_module_level_is_undecided():
    rf = read("revision = 'b2'\ndown_revision = None\nprint(depends_on := 'a1')\n")
    assert rf.is_depends_on_unresolved and "`:=`" in rf.depends_on_unresolved_reason


def test_names_bound_inside_functions_and_classes_stay_there():
    rf = read(
        "class Branches:\n    BILLING = 'billing'\n    if X:\n        OTHER = 'o'\n"
        "revision = 'b2'\ndown_revision = None\nbranch_labels = (Branches.BILLING,)\n"
        "def upgrade():\n    if X:\n        revision = 'zz'\n"
    )
    assert rf.revision == "b2" and rf.branch_labels == ("billing",)


def test_type_checking_imports_do_not_disturb_the_revision():
    rf = read(
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from x import Y\n"
        "revision = 'b2'\ndown_revision = 'a1'\n"
    )
    assert rf.revision == "b2" and rf.down_revisions == ("a1",)


def _project(tmp_path, monkeypatch, files: dict[str, str]):
    versions = tmp_path / "migrations" / "versions"
    versions.mkdir(parents=True)
    (tmp_path / "alembic.ini").write_text("[alembic]\nscript_location = %(here)s/migrations\n")
    (tmp_path / "migrations" / "env.py").write_text("")
    body = "\n\ndef upgrade():\n    pass\n\n\ndef downgrade():\n    pass\n"
    for name, head in files.items():
        (versions / name).write_text(head + body)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_check_reads_a_tuple_assigned_chain_as_healthy(tmp_path, monkeypatch):
    from click.testing import CliRunner

    from migdoc.cli import cli

    _project(
        tmp_path,
        monkeypatch,
        {
            "a1_first.py": "revision = 'a1'\ndown_revision = None\n",
            "b2_second.py": "revision, down_revision = 'b2', 'a1'\n",
        },
    )
    result = CliRunner().invoke(cli, ["check", "--format", "json", "."])
    assert result.exit_code == 0, result.output


def test_relink_leaves_a_down_revision_no_literal_spells(tmp_path, monkeypatch):
    from click.testing import CliRunner

    from migdoc.cli import cli

    root = _project(
        tmp_path,
        monkeypatch,
        {
            "a1_first.py": "revision = 'a1'\ndown_revision = None\n",
            "b2_second.py": "revision = 'b2'\ndown_revision = 'a1'\n",
            "c3_third.py": "revision = 'c3'\ndown_revision = 'zz'\ndown_revision += '9'\n",
        },
    )
    before = (root / "migrations" / "versions" / "c3_third.py").read_text()
    result = CliRunner().invoke(cli, ["fix", "--relink", "--apply", "."])
    assert result.exit_code == 1 and "Traceback" not in result.output, result.output
    assert "down_revision is not spelled by one literal" in result.output
    assert (root / "migrations" / "versions" / "c3_third.py").read_text() == before


def test_md019_names_the_branch_that_decides_the_labels():
    from rulekit import findings, from_source

    rf = from_source(
        "versions/b2.py", "revision = 'b2'\ndown_revision = None\nif X:\n    branch_labels = ('billing',)\n"
    )
    [finding] = findings("MD019", [rf])
    assert finding.line == 4
    assert "branch_labels is decided only when the module runs (assigned under `if` (line 3))" in finding.message


def test_a_class_defined_again_has_only_its_new_attributes():
    rf = read(
        "class B:\n    LABEL = 'old'\nclass B:\n    OTHER = 'x'\n"
        "revision = 'b2'\ndown_revision = None\nbranch_labels = (B.LABEL,)\n"
    )
    assert rf.is_branch_labels_unresolved and rf.branch_labels == ()  # Python: AttributeError
