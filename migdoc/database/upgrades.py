"""Where a deployed database stands against the chain. Pure: graph + revisions in.

``alembic upgrade heads`` order is computed by Alembic's own ``RevisionMap``,
fed with the statically read revisions (nothing is imported), so the order
shown is the order Alembic would run. Where the chain is too broken for
Alembic to walk (a duplicate, a missing parent, a loop, a revision the
database holds but no file declares), ``pending`` is ``None`` and
``blocked_by`` says why.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from migdoc.chain.graph import RevisionGraph


@dataclass(frozen=True)
class PendingRevision:
    revision: str
    file: str
    message: str


@dataclass(frozen=True)
class DeploymentStatus:
    current: tuple[str, ...]
    """The database's revisions (``alembic_version`` rows); empty: at base."""
    unknown: tuple[str, ...]
    """Of ``current``, those no version file declares (MD016)."""
    heads: tuple[str, ...]
    pending: tuple[PendingRevision, ...] | None
    """What ``alembic upgrade heads`` would run, in order; ``None`` when it cannot tell."""
    blocked_by: str | None = None

    @property
    def is_up_to_date(self) -> bool:
        return self.pending == ()


def compute_status(graph: RevisionGraph, current: Iterable[str]) -> DeploymentStatus:
    """The database at ``current`` against ``graph``; never raises for a broken chain."""
    current = tuple(sorted(set(current)))
    unknown = tuple(rev for rev in current if graph.resolve(rev) is None)
    heads = graph.heads
    blocked_by = None
    if unknown:
        blocked_by = (
            f"the database is at {_names(unknown)}, which no version file declares; "
            'Alembic would stop with "Can\'t locate revision identified by ..."'
        )
    elif any(len(indexes) > 1 for indexes in graph.declarations.values()):
        blocked_by = "a revision id is declared twice (MD001); run `migdoc check`"
    elif graph.missing:
        blocked_by = f"the chain names revisions no file declares ({_names(graph.missing)}, MD002)"
    elif not graph.is_acyclic:
        blocked_by = "the chain has a loop (MD005)"
    if blocked_by is not None:
        return DeploymentStatus(current, unknown, heads, None, blocked_by)
    try:
        order = _alembic_upgrade_order(graph, current)
    except Exception as exc:  # noqa: BLE001 - Alembic's own refusal, reported as data
        return DeploymentStatus(current, unknown, heads, None, f"Alembic cannot walk the chain: {exc}")
    pending = []
    for revision in order:
        rf = graph.files[graph.kept[revision]]
        pending.append(PendingRevision(revision, rf.path, rf.message))
    return DeploymentStatus(current, unknown, heads, tuple(pending))


def _alembic_upgrade_order(graph: RevisionGraph, current: tuple[str, ...]) -> list[str]:
    # Imported here: alembic pulls in SQLAlchemy, which the pure core avoids at import time.
    from alembic.script.revision import Revision, RevisionMap

    def revisions() -> list[Revision]:
        found = []
        for index in graph.kept_indexes:
            rf = graph.files[index]
            assert rf.revision is not None
            found.append(
                Revision(
                    rf.revision,
                    rf.down_revisions or None,
                    rf.depends_on or None,
                    rf.branch_labels or None,
                )
            )
        return found

    revision_map = RevisionMap(revisions)
    lower = current if current else None
    steps = revision_map.iterate_revisions("heads", lower, implicit_base=True)
    return [script.revision for script in reversed(list(steps))]


def _names(revisions: Iterable[str]) -> str:
    return ", ".join(repr(r) for r in revisions)


def applied_revisions(graph: RevisionGraph, current: Iterable[str]) -> frozenset[str]:
    """Every revision a database at ``current`` has applied: those revisions and
    all their ancestors (through ``down_revision`` and ``depends_on``).

    A revision no version file declares counts as applied, without ancestors.
    A duplicated id (MD001) proves only what every copy's ancestry holds: the database
    records the id, not which file ran, so an ancestor of one copy alone is not proven.
    """
    applied = set()
    for revision in current:
        applied.add(revision)
        index = graph.resolve(revision)
        if index is None:
            continue
        rev = str(graph.files[index].revision)
        applied.add(rev)
        lines = [{str(graph.files[i].revision) for i in graph.ancestors(copy)} for copy in graph.declarations[rev]]
        applied |= set.intersection(*lines)
    return frozenset(applied)
