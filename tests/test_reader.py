"""The reader's forms: what Alembic's templates and real chains write."""

from __future__ import annotations

from migdoc.project.reader import read_revision

HEADER = '"""add things\n\nRevision ID: 0002\nRevises: 0001\nCreate Date: 2025-03-02 09:00:00.000000\n\n"""\n'


def read(text: str):
    return read_revision("versions/x.py", text.encode())


def test_plain_assignments():
    rf = read(HEADER + "revision = '0002'\ndown_revision = '0001'\nbranch_labels = None\ndepends_on = None\n")
    assert (rf.revision, rf.down_revisions, rf.branch_labels, rf.depends_on) == ("0002", ("0001",), (), ())
    assert rf.read_error is None and rf.revision_at.line == 8


def test_annotated_assignments_of_the_typed_template():
    rf = read(
        "from typing import Sequence, Union\n"
        "revision: str = 'ab12'\n"
        "down_revision: Union[str, Sequence[str], None] = ('a', 'b')\n"
        "branch_labels: Union[str, Sequence[str], None] = ['billing']\n"
        "depends_on: Union[str, Sequence[str], None] = 'c'\n"
    )
    assert rf.revision == "ab12" and rf.down_revisions == ("a", "b")
    assert rf.branch_labels == ("billing",) and rf.depends_on == ("c",)


def test_down_revision_forms():
    assert read("revision = 'r'\ndown_revision = None\n").down_revisions == ()
    assert read("revision = 'r'\ndown_revision = ['a', 'b']\n").down_revisions == ("a", "b")
    assert read("revision = 'r'\ndown_revision = ()\n").down_revisions == ()
    assert read("revision = 'r'\ndown_revision = 'a'\n").down_revisions == ("a",)


def test_empty_labels_and_empty_string_depends_on():
    rf = read("revision = 'r'\ndown_revision = None\nbranch_labels = ()\ndepends_on = ''\n")
    assert rf.branch_labels == () and rf.is_depends_on_empty_string
    assert not read("revision = 'r'\ndown_revision = None\ndepends_on = []\n").is_depends_on_empty_string


def test_labels_as_attribute_references_and_names():
    rf = read(
        "class Branches:\n    BILLING = 'billing'\n\nCORE = 'core'\n"
        "revision = 'r'\ndown_revision = None\nbranch_labels = (Branches.BILLING, CORE)\n"
    )
    assert rf.branch_labels == ("billing", "core") and not rf.is_branch_labels_unresolved


def test_computed_values():
    rf = read("revision = 'r'\ndown_revision = None\nbranch_labels = tuple(X)\ndepends_on = f()\n")
    assert rf.is_branch_labels_unresolved and rf.is_depends_on_unresolved and rf.read_error is None
    assert "not a string literal" in read("revision = make()\ndown_revision = None\n").read_error
    assert "not a literal" in read("revision = 'r'\ndown_revision = f()\n").read_error
    missing = read("revision = 'r'\n")
    assert missing.read_error == "`down_revision` is not assigned" and missing.revision == "r"


def test_stray_file_and_bad_bytes():
    assert read("def helper():\n    pass\n").is_stray
    assert "NUL" in read_revision("x.py", b"revision = 'r'\x00").read_error
    assert "undecodable" in read_revision("x.py", "revision = 'caf\u00e9'\n".encode("latin-1")).read_error
    latin = b"# -*- coding: latin-1 -*-\nrevision = 'caf\xe9'\ndown_revision = None\n"
    assert read_revision("x.py", latin).revision == "caf\u00e9"
    syntax = read("revision = 'r'\ndown_revision = None\ndef upgrade(:\n")
    assert syntax.read_error.startswith("syntax error") and syntax.read_error_line == 3


def test_header():
    rf = read(HEADER + "revision = '0002'\ndown_revision = '0001'\n")
    assert rf.header.revision_id == "0002" and rf.header.revision_id_line == 3
    assert rf.header.revises == ("0001",) and rf.header.revises_line == 4
    assert rf.header.create_date.startswith("2025-03-02") and rf.message == "add things"
    merge = read('"""merge\n\nRevision ID: m\nRevises: a, b\n"""\nrevision = "m"\ndown_revision = ("a", "b")\n')
    assert merge.header.revises == ("a", "b")
    base = read('"""first\n\nRevision ID: a\nRevises: \n"""\nrevision = "a"\ndown_revision = None\n')
    assert base.header.revises == ()


def test_ignore_comments():
    rf = read("# migdoc: ignore[MD011]\nrevision = 'r'\ndown_revision = None  # migdoc: ignore[md013, MD015]\n")
    assert rf.ignored_codes == frozenset({"MD011", "MD013", "MD015"})
