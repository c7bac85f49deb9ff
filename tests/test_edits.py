"""Relinking edits change only literals and keep the file's own style."""

from __future__ import annotations

import pytest

from migdoc.errors import EditError
from migdoc.fix.edits import apply_edits, relink_edits, unified_diff
from migdoc.project.reader import read_revision

HEADER = '"""msg\n\nRevision ID: 0009\nRevises: {revises}\nCreate Date: 2025-01-01\n\n"""\n'


def relink(source: str, parents: tuple[str, ...]) -> str:
    rf = read_revision("x.py", source.encode("utf-8"))
    assert rf.read_error is None, rf.read_error
    out = apply_edits(source, relink_edits(source, rf, parents))
    again = read_revision("x.py", out.encode("utf-8"))
    assert again.down_revisions == parents
    if rf.header.revises is not None:
        assert again.header.revises == parents
    return out


@pytest.mark.parametrize(
    ("line", "parents", "expected"),
    [
        ('down_revision = "0008"', ("0007",), 'down_revision = "0007"'),
        ("down_revision = '0008'  # keep me", ("0007",), "down_revision = '0007'  # keep me"),
        (
            "down_revision: Union[str, Sequence[str], None] = '0008'",
            ("0007",),
            "down_revision: Union[str, Sequence[str], None] = '0007'",
        ),
        ("down_revision = ('0008', '0006')", ("0007", "0006"), "down_revision = ('0007', '0006')"),
        ("down_revision = ('0008', '0006')", ("0006",), "down_revision = '0006'"),
        ('down_revision = ["0008", "0006"]', ("0007", "0005", "0006"), 'down_revision = ["0007", "0005", "0006"]'),
        ("down_revision = None", ("0007",), 'down_revision = "0007"'),
        ('down_revision = "0008"', (), "down_revision = None"),
    ],
)
def test_relink_keeps_style(line, parents, expected):
    revises = "0008"
    source = HEADER.format(revises=revises) + 'revision = "0009"\n' + line + "\n"
    out = relink(source, parents)
    assert expected + "\n" in out
    assert f"Revises: {', '.join(parents)}\n" in out
    assert out.replace(expected, line).replace(f"Revises: {', '.join(parents)}", f"Revises: {revises}") == source


def test_multiline_tuple_keeps_layout_and_comments():
    source = 'revision = "m"\ndown_revision = (\n    "a",  # first\n    "b",  # second\n)\n'
    out = relink(source, ("a", "c"))
    assert out == 'revision = "m"\ndown_revision = (\n    "a",  # first\n    "c",  # second\n)\n'


def test_non_ascii_before_the_literal_and_crlf():
    source = '"""é\r\n\r\nRevises: 0008\r\n"""\r\nrevision = "0009"\r\ndown_revision = "0008"  # é\r\n'
    out = relink(source, ("0007",))
    assert out == source.replace('"0008"', '"0007"').replace("Revises: 0008", "Revises: 0007")


def test_apply_edits_refuses_text_that_moved():
    source = 'revision = "b"\ndown_revision = "a"\n'
    rf = read_revision("x.py", source.encode())
    edits = relink_edits(source, rf, ("z",))
    with pytest.raises(EditError):
        apply_edits("# a new first line\n" + source, edits)


def test_unified_diff_new_file_and_missing_newline():
    diff = unified_diff("", "x\ny", "/dev/null", "p.py")
    assert diff.startswith("--- /dev/null\n+++ b/p.py\n@@ -0,0 +1,2 @@\n+x\n+y\n\\ No newline at end of file\n")
