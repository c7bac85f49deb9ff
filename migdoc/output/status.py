"""``migdoc status``: a deployed database against the chain, as text or JSON."""

from __future__ import annotations

import json
from collections.abc import Mapping

from migdoc.chain.graph import RevisionGraph
from migdoc.database.upgrades import DeploymentStatus
from migdoc.output.text import printable
from migdoc.util.filesystem import display_path, display_text


def _copies(graph: RevisionGraph, revision: str) -> list[str]:
    """Every file declaring the revision ``revision`` resolves to (one, or each copy of a duplicated id)."""
    index = graph.resolve(revision)
    if index is None:
        return []
    return [graph.files[i].path for i in graph.declarations[str(graph.files[index].revision)]]


_AMBIGUOUS = {
    # alembic_version holds an id, not a file: which copy ran cannot be told
    "current": "ambiguous: {n} files declare it (MD001); alembic_version records the id, not which file ran",
    "heads": "{n} files declare it (MD001); Alembic counts the copy it does not map as a head",
    "pending": "{n} files declare it (MD001)",
}


def _describe(graph: RevisionGraph, revision: str, role: str = "current") -> tuple[str, str]:
    index = graph.resolve(revision)
    if index is None:
        return "", ""
    copies = _copies(graph, revision)
    if len(copies) > 1:
        shown = copies
        if role == "heads":  # the copies that are heads: the kept one only when nothing is above it
            shown = [graph.files[i].path for i in graph.declarations[revision] if graph.is_head_file(i)] or copies
        return _AMBIGUOUS[role].format(n=len(copies)), ", ".join(display_path(p) for p in shown)
    rf = graph.files[index]
    return rf.message, display_path(rf.path)


def _rows(graph: RevisionGraph, revisions, indent: str, role: str = "current") -> list[str]:
    revisions = list(dict.fromkeys(revisions))  # Alembic lists a duplicated head once per copy
    described = [tuple(printable(part) for part in (rev, *_describe(graph, rev, role))) for rev in revisions]
    width_rev = max((len(r) for r, _, _ in described), default=0)
    width_msg = max((len(m) for _, m, _ in described), default=0)
    return [f"{indent}{r:<{width_rev}}  {m:<{width_msg}}  {p}".rstrip() for r, m, p in described]


def render_status(
    database: str, graph: RevisionGraph, status: DeploymentStatus, whereabouts: Mapping[str, str] | None = None
) -> str:
    whereabouts = whereabouts or {}
    lines = [f"database: {printable(database)}"]
    if not status.current:
        lines.append("current:  (none: alembic_version is empty, the database is at base)")
    else:
        lines.append("current:")
        for revision in status.current:
            if revision in status.unknown:
                where = whereabouts.get(revision, "neither the archive folder nor git history knows it")
                lines.append(
                    f"  {printable(revision)}  MD016: no version file declares it; {printable(display_text(where))}"
                )
            else:
                lines.extend(_rows(graph, [revision], "  "))
    lines.append("heads:")
    lines.extend(_rows(graph, status.heads, "  ", "heads") or ["  (none)"])
    if status.pending is None:
        lines.append(f"upgrade heads: cannot tell, {printable(status.blocked_by)}")
    elif not status.pending:
        lines.append("upgrade heads: nothing to run, the database is up to date")
    else:
        count = len(status.pending)
        lines.append(f"upgrade heads would run {count} revision{'' if count == 1 else 's'}, in order:")
        lines.extend(_rows(graph, [p.revision for p in status.pending], "  ", "pending"))
    return "\n".join(lines) + "\n"


def _files_json(graph: RevisionGraph, revision: str) -> dict:
    """``file``: the one file declaring it (``None`` when none or several do: a duplicated id
    does not say which copy ran); ``files``: every file declaring it."""
    copies = [display_path(p) for p in _copies(graph, revision)]
    return {"file": copies[0] if len(copies) == 1 else None, "files": copies}


def render_status_json(
    database: str, graph: RevisionGraph, status: DeploymentStatus, whereabouts: Mapping[str, str] | None = None
) -> str:
    whereabouts = whereabouts or {}
    payload = {
        "database": database,
        "current": [
            {
                "revision": rev,
                **_files_json(graph, rev),
                "is_known": rev not in status.unknown,
                "whereabouts": display_text(whereabouts[rev]) if rev in status.unknown and rev in whereabouts else None,
            }
            for rev in status.current
        ],
        "heads": list(status.heads),
        "pending": None
        if status.pending is None
        else [
            {"revision": p.revision, "file": display_path(p.file) if p.file else p.file, "message": p.message}
            for p in status.pending
        ],
        "blocked_by": status.blocked_by,
        "is_up_to_date": status.is_up_to_date,
    }
    return json.dumps(payload, indent=2) + "\n"
