"""Graphviz dot."""

from __future__ import annotations

from migdoc.graph import RevisionGraph


def _quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def render_graph(graph: RevisionGraph, problems: dict[str, list[str]] | None = None) -> str:
    problems = problems or {}
    heads, bases = set(graph.heads), set(graph.bases)
    lines = ["digraph migrations {", "  rankdir=BT;", "  node [shape=box, fontname=monospace];"]
    for node, data in sorted(graph.graph.nodes(data=True)):
        index = data["index"]
        revision = data["revision"]
        if index is None:
            lines.append(f"  {_quote(node)} [label={_quote(revision + ' (missing)')}, style=dashed, color=red];")
            continue
        rf = graph.files[index]
        label = revision + (f"\\n{rf.message}" if rf.message else "")
        attributes = [f"label={_quote(label)}", f"tooltip={_quote(rf.path)}"]
        if graph.is_shadowed(index):
            attributes.append("style=dotted")
        if revision in heads and not graph.is_shadowed(index):
            attributes.append("peripheries=2")
        if revision in bases:
            attributes.append("shape=house")
        if rf.path in problems:
            attributes.append("color=red")
            attributes[0] = f"label={_quote(label + chr(10) + ' '.join(sorted(set(problems[rf.path]))))}"
        lines.append(f"  {_quote(node)} [{', '.join(attributes)}];")
    for parent, child, data in sorted(graph.graph.edges(data=True)):
        style = ' [style=dashed, label="depends_on"]' if data["kind"] == "depends" else ""
        lines.append(f"  {_quote(child)} -> {_quote(parent)}{style};")
    lines.append("}")
    return "\n".join(lines) + "\n"
