"""Which revisions a scoped dry-run proves, and which it only upgrades to get there. Pure.

``--since REV``: REV and what is not below it are proved; REV's ancestors are upgraded
quickly first. ``--base-ref REF``: the revisions this branch adds over REF (ids declared in
the working tree but not at REF) and those whose file it changed are proved; everything else, REF's chain, is upgraded
quickly first. The quick part is closed under ancestors: a revision below a proved one is
upgraded, never proved, and a revision that needs a proved one is proved too.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from migdoc.errors import UsageError


@dataclass(frozen=True)
class Scope:
    since: str | None
    base_ref: str | None
    revisions: tuple[str, ...]
    """Proved by the stairway, in no particular order (the run orders them)."""
    fast_forward: tuple[str, ...]
    """Upgraded in one ``alembic upgrade`` before the stairway, without checks."""

    def to_dict(self, seconds: float | None = None) -> dict[str, object]:
        data: dict[str, object] = {
            "since": self.since,
            "base_ref": self.base_ref,
            "revisions": list(self.revisions),
            "fast_forwarded": len(self.fast_forward),
        }
        if seconds is not None:
            data["fast_forward_seconds"] = round(seconds, 4)
        return data


def _closed(graph, proved: set[int]) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """``proved`` grown by every revision that needs one of them; the rest is the fast part."""
    grown = set(proved)
    for index in proved:
        grown |= graph.descendants(index)
    kept = graph.kept_indexes
    revisions = tuple(sorted(str(graph.files[i].revision) for i in kept if i in grown))
    fast = tuple(sorted(str(graph.files[i].revision) for i in kept if i not in grown))
    return revisions, fast


def since_scope(graph, revision: str) -> Scope:
    """``--since REV``: REV resolved as Alembic resolves a command's argument; unknown: exit 2."""
    if not revision or not revision.strip():
        raise UsageError("--since needs a revision (an id or a unique prefix of one)", option="--since", value=revision)
    index = graph.resolve(revision.strip())
    if index is None:
        raise UsageError(
            f"--since {revision}: no revision of the chain has this id (or it is an ambiguous prefix)",
            option="--since",
            value=revision,
        )
    below = graph.ancestors(index)
    proved = {i for i in graph.kept_indexes if i not in below}
    revisions, fast = _closed(graph, proved)
    return Scope(str(graph.files[index].revision), None, revisions, fast)


def ref_scope(graph, ref: str, ref_revisions: Iterable[str], changed: Iterable[str] = ()) -> Scope:
    """``--base-ref REF``: the ids declared here and not at REF are proved, and so are the
    ``changed`` ones (a file REF has too, edited on this branch: it runs as edited)."""
    at_ref = set(ref_revisions) - set(changed)
    proved = {i for i in graph.kept_indexes if str(graph.files[i].revision) not in at_ref}
    revisions, fast = _closed(graph, proved)
    return Scope(None, ref, revisions, fast)
