"""Deliberate multi-head layouts (MD003/MD004) and stray files (MD014), from literal records."""

from __future__ import annotations

from click.testing import CliRunner
from test_graph import rev

from migdoc.chain.graph import build_graph
from migdoc.cli import cli
from migdoc.model import Assignment, Severity
from migdoc.rules import CheckContext, run_checks


def findings(files, code: str):
    result = run_checks(CheckContext(graph=build_graph(files)), codes=(code,))
    return [(d.revision, d.severity, d.message) for d in result.diagnostics]


def severities(files, code: str) -> set[Severity]:
    return {severity for _, severity, _ in findings(files, code)}


COMPUTED = {"is_branch_labels_unresolved": True, "branch_labels_at": Assignment(5, 5, 0, 30, is_literal=False)}


def test_expand_contract_sharing_one_base_is_info_naming_the_commands():
    files = [
        rev("base"),
        rev("e1", "base", labels=("expand",)),
        rev("e2", "e1"),
        rev("c1", "base", labels=("contract",)),
    ]
    found = findings(files, "MD003")
    assert {severity for _, severity, _ in found} == {Severity.INFO}
    message = found[0][2]
    assert "`alembic upgrade heads`" in message and "`alembic upgrade expand@head`" in message
    assert "fix --merge" not in message
    assert findings(files, "MD004") == []


def test_labelled_branches_with_their_own_bases_are_info():
    files = [rev("a1", labels=("core",)), rev("a2", "a1"), rev("b1", labels=("billing",))]
    assert severities(files, "MD003") == {Severity.INFO}
    assert findings(files, "MD004") == []


def test_an_unlabelled_extra_head_stays_an_error():
    # expand/contract, and a third head from an unmerged pull request on the expand branch
    files = [
        rev("base"),
        rev("e1", "base", labels=("expand",)),
        rev("e2", "e1"),
        rev("e3", "e1"),
        rev("c1", "base", labels=("contract",)),
    ]
    found = findings(files, "MD003")
    assert {severity for _, severity, _ in found} == {Severity.ERROR}
    assert "fix --merge" in found[0][2]


def test_two_unlabelled_heads_on_one_base_are_an_error():
    files = [rev("a"), rev("b", "a"), rev("c", "a")]
    assert severities(files, "MD003") == {Severity.ERROR}


def test_labels_computed_at_import_time_give_a_warning_that_says_why():
    files = [
        rev("base"),
        rev("e1", "base", labels=(), **COMPUTED),
        rev("c1", "base", labels=(), **COMPUTED),
    ]
    found = findings(files, "MD003")
    assert {severity for _, severity, _ in found} == {Severity.WARNING}
    assert "computed at import time" in found[0][2] and "fix --merge" not in found[0][2]


def test_one_computed_label_does_not_excuse_an_unlabelled_head_on_a_shared_base():
    files = [rev("base"), rev("e1", "base", labels=(), **COMPUTED), rev("c1", "base")]
    assert severities(files, "MD003") == {Severity.ERROR}


def test_a_duplicate_id_is_md001_not_md003():
    # Alembic counts the shadowed copy among its heads; MD001 says so, MD003 stays quiet
    files = [rev("a"), rev("b", "a", path="v/b1.py"), rev("b", "a", path="v/b2.py")]
    assert findings(files, "MD003") == []
    (finding,) = findings(files, "MD001")
    assert "present more than once" in finding[2] and "still counts this copy among its heads" in finding[2]


def test_stray_file_is_an_error_but_a_legacy_hex_name_is_info():
    from migdoc.model import RevisionFile

    stray = RevisionFile(path="versions/helpers.py")
    legacy = RevisionFile(path="versions/1975ea83b712.py")
    found = {path: severity for path, severity in _md014([rev("a"), stray, legacy])}
    assert found == {"versions/helpers.py": Severity.ERROR, "versions/1975ea83b712.py": Severity.INFO}


def _md014(files):
    result = run_checks(CheckContext(graph=build_graph(files)), codes=("MD014",))
    return [(d.file, d.severity) for d in result.diagnostics]


def test_fix_merge_leaves_a_computed_label_layout_alone(copy_fixture):
    copy_fixture("md003_computed_labels")
    result = CliRunner().invoke(cli, ["fix", "md003_computed_labels", "--merge"])
    assert result.exit_code == 0, result.output
    assert "nothing merged" in result.output
