"""Text for people: check results grouped by file, and the graph as a tree."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping

import networkx as nx

from migdoc.chain.graph import RevisionGraph, node_sort_key
from migdoc.model import CheckResult, Diagnostic
from migdoc.util.filesystem import display_path, display_text

Styler = Callable[[str, str], str]
"""(text, role) -> text; roles: error, warning, info, path, dim, head."""


def plain(text: str, role: str) -> str:
    return text


# C0 and C1 controls (newlines, ESC, DEL...), Unicode line/paragraph separators and
# bidirectional overrides: none belongs in a revision id, a message or a file name
_UNPRINTABLE = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")
_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def printable(text: object) -> str:
    """``text`` with every control character shown as an escape (``\\n``, ``\\x1b``).

    Text read from version files (ids, messages, labels, file names) goes through
    this before it reaches a person's terminal or a CI log: a crafted id must not
    start a line of its own (a GitHub ``::error`` workflow command) or move the cursor."""
    return _UNPRINTABLE.sub(
        lambda m: _NAMED.get(
            m.group(), f"\\x{ord(m.group()):02x}" if ord(m.group()) < 256 else f"\\u{ord(m.group()):04x}"
        ),
        str(text),
    )


def printable_path(path: str) -> str:
    """A path as the first word of a line: printable, and never a workflow command."""
    shown = printable(path)
    return f"./{shown}" if shown.startswith("::") else shown


def plural(count: int, word: str) -> str:
    return f"{count} {word}{'' if count == 1 else 's'}"


def render_check(
    result: CheckResult,
    style: Styler = plain,
    is_summary: bool = True,
    snippets: Mapping[tuple[str, int], str] | None = None,
) -> str:
    """Findings grouped by file; ``snippets``: (file, line) -> the source line, shown under
    its finding as ruff shows it (the edge reads the files; none given: no snippets)."""
    lines: list[str] = []
    by_file: dict[str, list[Diagnostic]] = {}
    for d in result.diagnostics:
        by_file.setdefault(display_path(d.file) if d.file else "(project)", []).append(d)
    for path, diagnostics in by_file.items():
        lines.append(style(printable_path(path), "path"))
        for d in diagnostics:
            level = style(f"{d.severity.value:<7}", d.severity.value)
            revision = f" [{printable(d.revision)}]" if d.revision else ""
            lines.append(f"  {d.line:>4}  {level} {d.code} {d.name}{revision}: {printable(display_text(d.message))}")
            source = snippets.get((d.file, d.line)) if snippets and d.file else None
            if source is not None:
                lines.append(style(f"              | {printable(source.rstrip())}", "dim"))
            if d.related:
                lines.append(
                    style(f"              related: {printable(', '.join(display_path(p) for p in d.related))}", "dim")
                )
        lines.append("")
    if not is_summary:  # -q: the findings alone
        return "\n".join(lines) + "\n" if lines else ""
    s = result.summary
    verdict = (
        "no problems"
        if not result.diagnostics
        else (f"{plural(s.errors, 'error')}, {plural(s.warnings, 'warning')}, {s.info} info")
    )
    lines.append(
        f"{verdict} in {plural(s.files, 'file')} ({plural(s.revisions, 'revision')}, {plural(s.heads, 'head')})"
    )
    return "\n".join(lines) + "\n"


def _node_order(graph: RevisionGraph) -> list[str]:
    """Newest first; loops are kept together so a broken graph still draws."""
    g = graph.graph
    condensed = nx.condensation(g)
    members = condensed.graph["mapping"]
    groups: dict[int, list[str]] = {}
    for node, component in members.items():
        groups.setdefault(component, []).append(node)

    def key(component: int) -> tuple:
        return min(node_sort_key(n) for n in groups[component])

    order = []
    for component in nx.lexicographical_topological_sort(condensed, key=key):
        order.extend(sorted(groups[component], key=node_sort_key))
    return list(reversed(order))


def render_graph(
    graph: RevisionGraph,
    problems: dict[str, list[str]] | None = None,
    style: Styler = plain,
    shown_paths: dict[str, str] | None = None,
    width: int | None = None,
) -> str:
    """A git-log-like tree, newest at the top. ``problems`` maps file -> codes;
    ``shown_paths`` file -> how to show it (default: as it is); ``width``: cut each line
    to this many visible characters (a terminal's width)."""
    problems = problems or {}
    shown_paths = shown_paths or {}
    g = graph.graph
    lanes: list[str] = []
    lines: list[str] = []
    order = _node_order(graph)
    for node in order:
        if node not in lanes:
            lanes.append(node)
        column = lanes.index(node)
        duplicates = [i for i, lane in enumerate(lanes) if lane == node and i != column]
        if duplicates:
            # Several children met at this branch point: fold their lanes in.
            lines.append(_lane_row(len(lanes), {column: "|"} | {i: "/" for i in duplicates}))
            lanes = [lane for i, lane in enumerate(lanes) if i not in duplicates]
            column = lanes.index(node)
        marks = {column: "*" if graph.index_of(node) is not None else "?"}
        label = _label(graph, node, problems, style, shown_paths)
        lines.append(_lane_row(len(lanes), marks) + "  " + label)
        parents = sorted((p for p in g.predecessors(node)), key=node_sort_key, reverse=True)
        if not parents and len(lines) and node != order[-1]:
            # The chain ends here (a base or a missing revision): a gap keeps
            # the next, unrelated revision in this lane from reading as its parent.
            lines.append(_lane_row(len(lanes), {column: " "}).rstrip())
        lanes[column : column + 1] = parents
        if len(parents) > 1:
            lines.append(_lane_row(len(lanes), {column: "|", **{column + i: "\\" for i in range(1, len(parents))}}))
    if width is not None:
        lines = [fit(line, width) for line in lines]
    return "\n".join(lines) + "\n"


_ESCAPE_SEQUENCE = re.compile(r"\x1b\[[0-9;]*m")


def fit(line: str, width: int) -> str:
    """``line`` cut to ``width`` visible characters, ending in an ellipsis where cut; colour
    codes (which take no room) are kept whole and closed."""
    visible = _ESCAPE_SEQUENCE.sub("", line)
    if len(visible) <= width:
        return line
    out, count, position = [], 0, 0
    while position < len(line) and count < width - 1:
        match = _ESCAPE_SEQUENCE.match(line, position)
        if match:
            out.append(match.group())
            position = match.end()
            continue
        out.append(line[position])
        count += 1
        position += 1
    is_styled = "\x1b[" in line
    return "".join(out) + ("\x1b[0m" if is_styled else "") + "…"


def _lane_row(width: int, marks: dict[int, str]) -> str:
    return " ".join(marks.get(i, "|") for i in range(width))


def _label(graph, node, problems, style: Styler, shown_paths: dict[str, str]) -> str:
    index = graph.index_of(node)
    revision = printable(graph.revision_of(node))
    if index is None:
        return style(f"{revision} (missing: no file declares it)", "error")
    rf = graph.files[index]
    # Marked per file, as Alembic counts: a shadowed copy of a duplicated id is still one of
    # its heads (never named by a down_revision), the kept copy is one only when nothing is above it.
    is_head = graph.is_head_file(index)
    tags = []
    if is_head:
        tags.append("head")
    if graph.is_base_file(index):
        tags.append("base")
    if graph.is_merge_file(index):
        tags.append("merge")
    if graph.is_shadowed(index):
        tags.append("duplicate: Alembic maps the other copy")
    tags.extend(f"label: {printable(label)}" for label in rf.branch_labels)
    depends = [d for d in graph.dependencies if d.child == index]
    tags.extend(f"depends on {printable(d.name)}" for d in depends)
    text = style(revision, "head" if is_head else "path")
    if tags:
        text += f" ({', '.join(tags)})"
    if rf.message:
        text += f" {printable(rf.message)}"
    text += style(f"  {printable(shown_paths.get(rf.path) or display_path(rf.path))}", "dim")
    codes = problems.get(rf.path)
    if codes:
        text += " " + style(f"!! {' '.join(sorted(set(codes)))}", "error")
    return text


def lane_columns(graph: RevisionGraph) -> list[tuple[str, int]]:
    """(node, lane) newest first: the lanes of :func:`render_graph`'s tree (a revision takes
    the lane of its newest child; its parents take its lane and the ones to its right), for
    drawings that place revisions themselves (the html graph)."""
    g = graph.graph
    lanes: list[str] = []
    placed = []
    for node in _node_order(graph):
        if node not in lanes:
            lanes.append(node)
        column = lanes.index(node)
        lanes = [lane for i, lane in enumerate(lanes) if lane != node or i == column]
        placed.append((node, column))
        lanes[column : column + 1] = sorted(g.predecessors(node), key=node_sort_key, reverse=True)
    return placed
