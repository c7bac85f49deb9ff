"""Mermaid flowchart."""

from __future__ import annotations

import re

from migdoc.chain.graph import RevisionGraph
from migdoc.output.text import printable

DEFAULT_MAX_EDGES = 500
"""Mermaid refuses a chart with more edges than its ``maxEdges`` setting, 500 by default."""


def _node_id(node: str) -> str:
    return "n_" + re.sub(r"[^A-Za-z0-9_]", "_", node)


def _text(text: str) -> str:
    # a newline or an escape sequence in an id would break the chart, or a CI log
    return printable(text).replace('"', "#quot;")


def render_graph(graph: RevisionGraph, problems: dict[str, list[str]] | None = None) -> str:
    problems = problems or {}
    lines = ["flowchart BT"]
    for node, data in sorted(graph.graph.nodes(data=True)):
        index, revision = data["index"], data["revision"]
        if index is None:
            lines.append(f'  {_node_id(node)}["{_text(revision)} (missing)"]:::missing')
            continue
        rf = graph.files[index]
        label = revision + (f"<br/>{_text(rf.message)}" if rf.message else "")
        classes = []
        if graph.is_head_file(index):  # a shadowed copy too: Alembic counts it among its heads
            classes.append("head")
        if rf.path in problems:
            classes.append("problem")
            label += "<br/>" + " ".join(sorted(set(problems[rf.path])))
        suffix = f":::{classes[-1]}" if classes else ""
        lines.append(f'  {_node_id(node)}["{_text(label)}"]{suffix}')
    for parent, child, data in sorted(graph.graph.edges(data=True)):
        for kind in data["kinds"]:  # a depends_on on the down_revision is drawn as both
            arrow = "-.->|depends_on|" if kind == "depends" else "-->"
            lines.append(f"  {_node_id(child)} {arrow} {_node_id(parent)}")
    lines.append("  classDef head stroke-width:3px")
    lines.append("  classDef problem stroke:#d00,color:#d00")
    lines.append("  classDef missing stroke-dasharray:5 5,stroke:#d00")
    return "\n".join(lines) + "\n"
