"""Minimal text edits that keep a file's own style, and unified diffs. Pure.

Relinking a revision changes only the literal(s) of ``down_revision`` and the
value of the docstring's ``Revises:`` line. Positions come from the AST
(``RevisionFile.down_revision_at``); quotes, annotations, comments and layout
around them are left exactly as they were.
"""

from __future__ import annotations

import ast
import difflib
import re
from collections.abc import Sequence

from migdoc.errors import EditError
from migdoc.model import Assignment, RevisionFile, TextEdit

_LINE_BREAK = re.compile(r"\r\n|\r|\n")
_REVISES_LINE = re.compile(r"^(\s*Revises\s*:[ \t]*)(.*?)(\s*)$")
_STRING_PREFIX = re.compile(r"^[rRuUbBfF]*(['\"])")


def split_lines(text: str) -> list[str]:
    """Lines with their endings, split only where Python's tokenizer splits."""
    lines: list[str] = []
    start = 0
    for match in _LINE_BREAK.finditer(text):
        lines.append(text[start : match.end()])
        start = match.end()
    if start < len(text) or not lines:
        lines.append(text[start:])
    return lines


def _char_col(line: str, byte_col: int) -> int:
    """``ast`` columns are UTF-8 byte offsets; edits use character offsets."""
    return len(line.encode("utf-8")[:byte_col].decode("utf-8", errors="ignore"))


def _offset(lines: Sequence[str], line: int, col: int) -> int:
    return sum(len(text) for text in lines[: line - 1]) + col


def apply_edits(text: str, edits: Sequence[TextEdit]) -> str:
    """Apply non-overlapping edits; raises EditError when an ``old`` is not where expected."""
    lines = split_lines(text)
    spans = []
    for edit in edits:
        start = _offset(lines, edit.line, edit.col)
        end = _offset(lines, edit.end_line, edit.end_col)
        if text[start:end] != edit.old:
            raise EditError(f"line {edit.line}: expected {edit.old!r}, found {text[start:end]!r}")
        spans.append((start, end, edit.new))
    spans.sort()
    for (_, end, _), (start, _, _) in zip(spans, spans[1:], strict=False):
        if start < end:
            raise EditError("overlapping edits")
    out = []
    position = 0
    for start, end, new in spans:
        out.append(text[position:start])
        out.append(new)
        position = end
    out.append(text[position:])
    return "".join(out)


def _span(lines: Sequence[str], at: Assignment) -> tuple[int, int, int, int]:
    """(line, char col, end line, end char col) of an AST position."""
    return (
        at.line,
        _char_col(lines[at.line - 1], at.col),
        at.end_line,
        _char_col(lines[at.end_line - 1], at.end_col),
    )


def _segment(lines: Sequence[str], line: int, col: int, end_line: int, end_col: int) -> str:
    if line == end_line:
        return lines[line - 1][col:end_col]
    parts = [lines[line - 1][col:], *lines[line : end_line - 1], lines[end_line - 1][:end_col]]
    return "".join(parts)


def quote_style(text: str, rf: RevisionFile) -> str:
    """The quote character the file uses for revision ids (``"`` when it shows none)."""
    lines = split_lines(text)
    for at in (rf.down_revision_at, rf.revision_at):
        if at is None:
            continue
        match = _STRING_PREFIX.search(_segment(lines, *_span(lines, at)).lstrip("([ \t\r\n"))
        if match:
            return match.group(1)
    return '"'


def _quoted(revision: str, quote: str) -> str:
    if quote in revision or "\\" in revision or "\n" in revision:
        return repr(revision)
    return f"{quote}{revision}{quote}"


def render_down_revision(parents: Sequence[str], quote: str, container: str = "(") -> str:
    """The literal for a ``down_revision``: None, a string, or a tuple/list for merges."""
    if not parents:
        return "None"
    if len(parents) == 1:
        return _quoted(parents[0], quote)
    body = ", ".join(_quoted(p, quote) for p in parents)
    return f"[{body}]" if container == "[" else f"({body})"


def down_revision_problem(rf: RevisionFile) -> str | None:
    """Why ``rf``'s ``down_revision`` cannot be rewritten in place, or None when it can.
    Planners ask first and list the answer as not fixed (never a traceback)."""
    if rf.down_revision_at is None:
        return f"{rf.path}: no down_revision assignment to edit"
    if not rf.down_revision_at.is_literal:
        # `down_revision += "x"`, `revision, down_revision = IDS`: no one literal spells the
        # value, and rewriting what is there would change another variable or keep a stale part
        return f"{rf.path}: down_revision is not spelled by one literal; re-point it by hand"
    return None


def relink_edits(text: str, rf: RevisionFile, parents: Sequence[str]) -> tuple[TextEdit, ...]:
    """Edits that make ``down_revision`` (and the ``Revises:`` line) name ``parents``.

    Only literals change: a string stays a string in its own quotes; a tuple
    of the same length keeps its layout and only the changed elements are
    rewritten; otherwise the value is rewritten in the file's quote style.
    """
    problem = down_revision_problem(rf)
    if problem is not None:
        raise EditError(problem)
    lines = split_lines(text)
    line, col, end_line, end_col = _span(lines, rf.down_revision_at)
    old_value = _segment(lines, line, col, end_line, end_col)
    quote = quote_style(text, rf)
    edits = list(_value_edits(old_value, (line, col, end_line, end_col), tuple(parents), quote))
    header = _revises_edit(lines, rf, parents)
    if header is not None:
        edits.append(header)
    return tuple(sorted(edits, key=lambda e: (e.line, e.col)))


def _value_edits(
    old_value: str, span: tuple[int, int, int, int], parents: tuple[str, ...], quote: str
) -> list[TextEdit]:
    line, col, end_line, end_col = span
    try:
        node = ast.parse(old_value, mode="eval").body
    except SyntaxError:
        node = None
    whole = TextEdit(line, col, end_line, end_col, old_value, render_down_revision(parents, quote))
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        own_quote = _STRING_PREFIX.match(old_value)
        return [
            TextEdit(
                line,
                col,
                end_line,
                end_col,
                old_value,
                render_down_revision(parents, own_quote.group(1) if own_quote else quote),
            )
        ]
    if isinstance(node, (ast.Tuple, ast.List)) and len(node.elts) == len(parents) and len(parents) > 1:
        if not all(isinstance(e, ast.Constant) and isinstance(e.value, str) for e in node.elts):
            return [whole]
        inner = split_lines(old_value)
        edits = []
        for element, parent in zip(node.elts, parents, strict=True):
            if element.value == parent:  # type: ignore[attr-defined]
                continue
            e_line = element.lineno
            e_end_line = element.end_lineno or e_line
            e_col = _char_col(inner[e_line - 1], element.col_offset)
            e_end_col = _char_col(inner[e_end_line - 1], element.end_col_offset or element.col_offset)
            old = _segment(inner, e_line, e_col, e_end_line, e_end_col)
            own_quote = _STRING_PREFIX.match(old)
            # Element positions are relative to the value; shift them to the file.
            edits.append(
                TextEdit(
                    line + e_line - 1,
                    e_col + (col if e_line == 1 else 0),
                    line + e_end_line - 1,
                    e_end_col + (col if e_end_line == 1 else 0),
                    old,
                    _quoted(parent, own_quote.group(1) if own_quote else quote),
                )
            )
        return edits
    if isinstance(node, ast.List):
        whole = TextEdit(line, col, end_line, end_col, old_value, render_down_revision(parents, quote, "["))
    return [whole]


def _revises_edit(lines: Sequence[str], rf: RevisionFile, parents: Sequence[str]) -> TextEdit | None:
    header = rf.header
    if header.revises is None or not header.revises_line or header.revises_line > len(lines):
        return None
    raw = lines[header.revises_line - 1]
    content = raw.rstrip("\r\n")
    match = _REVISES_LINE.match(content)
    if match is None:
        return None
    new = ", ".join(parents)
    if match.group(2) == new:
        return None
    return TextEdit(header.revises_line, match.start(2), header.revises_line, match.end(2), match.group(2), new)


def unified_diff(old: str, new: str, old_path: str, new_path: str) -> str:
    """``diff -u`` of two texts, with ``a/`` and ``b/`` prefixes and ``/dev/null`` for new files."""
    old_lines = old.splitlines(keepends=True)
    new_lines = new.splitlines(keepends=True)
    out = []
    for line in difflib.unified_diff(
        old_lines,
        new_lines,
        fromfile="/dev/null" if old_path == "/dev/null" else f"a/{old_path}",
        tofile=f"b/{new_path}",
        lineterm="\n",
    ):
        out.append(line)
        if not line.endswith(("\n", "\r")):
            out.append("\n\\ No newline at end of file\n")
    return "".join(out)


_REVISION_ID_LINE = re.compile(r"^(\s*Revision ID\s*:[ \t]*)(.*?)(\s*)$")


def revision_edits(text: str, rf: RevisionFile, new_id: str) -> tuple[TextEdit, ...]:
    """Edits that make ``revision`` (and the docstring's ``Revision ID:`` line) say ``new_id``:
    the literal keeps its own quotes; nothing else in the file moves."""
    if rf.revision_at is None:
        raise EditError(f"{rf.path}: no revision assignment to edit")
    lines = split_lines(text)
    line, col, end_line, end_col = _span(lines, rf.revision_at)
    old_value = _segment(lines, line, col, end_line, end_col)
    own_quote = _STRING_PREFIX.match(old_value)
    edits = [
        TextEdit(line, col, end_line, end_col, old_value, _quoted(new_id, own_quote.group(1) if own_quote else '"'))
    ]
    header_line = rf.header.revision_id_line
    if rf.header.revision_id is not None and 0 < header_line <= len(lines):
        match = _REVISION_ID_LINE.match(lines[header_line - 1].rstrip("\r\n"))
        if match is not None and match.group(2) != new_id:
            edits.append(TextEdit(header_line, match.start(2), header_line, match.end(2), match.group(2), new_id))
    return tuple(sorted(edits, key=lambda e: (e.line, e.col)))
