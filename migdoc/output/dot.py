"""Graphviz dot."""

from __future__ import annotations

from migdoc.chain.graph import RevisionGraph
from migdoc.output.text import printable
from migdoc.util.filesystem import display_path


def _escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace('"', '\\"')


def _quote(text: str) -> str:
    return '"' + _escape(text) + '"'


def _label(*lines: str) -> str:
    """A multi-line label: each line escaped on its own, then joined with DOT's own line
    break (``\\n`` in the file), which escaping the joined text would turn into a literal."""
    return '"' + "\\n".join(_escape(line) for line in lines if line) + '"'


def render_graph(graph: RevisionGraph, problems: dict[str, list[str]] | None = None) -> str:
    problems = problems or {}
    lines = ["digraph migrations {", "  rankdir=BT;", "  node [shape=box, fontname=monospace];"]
    for node, data in sorted(graph.graph.nodes(data=True)):
        index = data["index"]
        revision = printable(data["revision"])  # control characters from files, shown as escapes
        if index is None:
            lines.append(
                f"  {_quote(printable(node))} [label={_quote(revision + ' (missing)')}, style=dashed, color=red];"
            )
            continue
        rf = graph.files[index]
        label_lines = [revision, printable(rf.message) if rf.message else ""]
        attributes = [f"label={_label(*label_lines)}", f"tooltip={_quote(printable(display_path(rf.path)))}"]
        if graph.is_shadowed(index):
            attributes.append("style=dotted")
        if graph.is_head_file(index):  # a shadowed copy too: Alembic counts it among its heads
            attributes.append("peripheries=2")
        if graph.is_base_file(index):
            attributes.append("shape=house")
        if rf.path in problems:
            attributes.append("color=red")
            attributes[0] = f"label={_label(*label_lines, ' '.join(sorted(set(problems[rf.path]))))}"
        lines.append(f"  {_quote(printable(node))} [{', '.join(attributes)}];")
    for parent, child, data in sorted(graph.graph.edges(data=True)):
        for kind in data["kinds"]:  # a depends_on on the down_revision is drawn as both
            style = ' [style=dashed, label="depends_on"]' if kind == "depends" else ""
            lines.append(f"  {_quote(printable(child))} -> {_quote(printable(parent))}{style};")
    lines.append("}")
    return "\n".join(lines) + "\n"
