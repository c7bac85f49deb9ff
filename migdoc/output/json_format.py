"""The stable JSON shapes of `migdoc graph --format json` and `migdoc check --format json` (README, Output formats)."""

from __future__ import annotations

import json

from migdoc.chain.graph import RevisionGraph, file_node
from migdoc.model import CheckResult, Diagnostic
from migdoc.util.filesystem import display_path, display_text


def graph_to_dict(graph: RevisionGraph) -> dict:
    revisions = []
    for index, rf in enumerate(graph.files):
        if rf.revision is None or file_node(index) not in graph.graph:  # outside a --last/--since window
            continue
        revisions.append(
            {
                "revision": rf.revision,
                "down_revisions": list(rf.down_revisions),
                "depends_on": list(rf.depends_on),
                "branch_labels": list(rf.branch_labels),
                "file": display_path(rf.path),
                "message": rf.message,
                "create_date": rf.header.create_date,
                "is_head": graph.is_head_file(index),
                "is_base": graph.is_base_file(index),
                "is_merge": graph.is_merge_file(index),
            }
        )
    shown = {r["revision"] for r in revisions}
    return {
        "revisions": revisions,
        "heads": [h for h in graph.heads if h in shown],
        "bases": [b for b in graph.bases if b in shown],
    }


def render_graph(graph: RevisionGraph) -> str:
    return json.dumps(graph_to_dict(graph), indent=2) + "\n"


def diagnostic_to_dict(d: Diagnostic) -> dict:
    return {
        "code": d.code,
        "name": d.name,
        "severity": d.severity.value,
        "message": display_text(d.message),
        "file": display_path(d.file) if d.file else None,
        "line": d.line,
        "revision": d.revision,
        "related": [display_path(p) for p in d.related],
    }


def check_to_dict(result: CheckResult) -> dict:
    s = result.summary
    data = {
        "diagnostics": [diagnostic_to_dict(d) for d in result.diagnostics],
        "summary": {
            "files": s.files,
            "revisions": s.revisions,
            "heads": s.heads,
            "head_revisions": list(s.head_revisions),
            "errors": s.errors,
            "warnings": s.warnings,
            "info": s.info,
        },
    }
    if result.dryrun is not None:
        data["dryrun"] = result.dryrun.to_dict()  # type: ignore[attr-defined]
    return data


def render_check(result: CheckResult) -> str:
    return json.dumps(check_to_dict(result), indent=2) + "\n"


def render_checks(paths: tuple[str, ...], results: list[CheckResult]) -> str:
    """Several environments in one run: a list, one ``check`` object per PATH (with its
    ``path``); one PATH keeps the single object of the stable shape."""
    return json.dumps([{"path": p} | check_to_dict(r) for p, r in zip(paths, results, strict=True)], indent=2) + "\n"
