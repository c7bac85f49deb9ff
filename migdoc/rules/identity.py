"""Rules about the names revisions answer to: MD001 (an id declared twice), MD002 (a parent
or dependency no file declares), MD008 (a branch label used twice)."""

from __future__ import annotations

import bisect
from collections.abc import Iterator

from migdoc.chain.walks import count_descendants
from migdoc.model import RevisionFile
from migdoc.rules.registry import CheckContext, Finding, rule


def _files(context: CheckContext, indexes) -> list[RevisionFile]:
    return [context.graph.files[i] for i in sorted(indexes)]


@rule(
    "MD001",
    "duplicate-revision",
    "error",
    summary="Two or more files declare the same revision id.",
    why=(
        'Alembic loads every file into one dictionary keyed by revision id: it warns "Revision X is '
        'present more than once", keeps the file it loads last, and still counts the other copy among '
        'its heads, so `alembic upgrade head` stops with "multiple heads" and one migration never runs.'
    ),
    example="""
versions/0025_add_orders.py        revision = "0025"
versions/0025_add_orders_copy.py   revision = "0025"   <- MD001""",
    fix=(
        "`fix --archive` keeps the copy on the main line (the ancestry of the main head) and moves the "
        "other copy to the archive folder, relinking anything that pointed at it."
    ),
)
def duplicate_revision(context: CheckContext) -> Iterator[Finding]:
    graph = context.graph
    for revision, indexes in sorted((rev, idx) for rev, idx in graph.declarations.items() if len(idx) > 1):
        kept = graph.files[graph.kept[revision]]
        paths = [graph.files[i].path for i in indexes]
        for index in indexes:
            rf = graph.files[index]
            if index == graph.kept[revision]:
                continue
            yield Finding(
                rf,
                rf.line,
                f"revision {revision!r} is declared by {len(indexes)} files ({', '.join(paths)}); "
                f'Alembic warns "Revision {revision} is present more than once", keeps {kept.path} '
                "(loaded last) in its map, and still counts this copy among its heads, so "
                "`alembic upgrade head` stops with multiple heads",
                revision,
                tuple(p for p in paths if p != rf.path),
            )


class _Suggestions:
    """What `_did_you_mean` looks a missing id up in, built once per check: the first
    kept file (in file order) whose stem or slug is that id, and the sorted revision
    ids for the prefix test, so each missing id costs a lookup and a bisection
    instead of a pass (and a compiled pattern) over every file."""

    def __init__(self, context: CheckContext) -> None:
        graph = context.graph
        self.by_name: dict[str, int] = {}
        self.ids: list[tuple[str, int]] = []
        for position, index in enumerate(graph.kept_indexes):
            rf = graph.files[index]
            assert rf.revision is not None
            stem = rf.stem
            slug = stem
            if stem.startswith(rf.revision):  # as re.sub("^" + id + "[_-.]?", "", stem)
                slug = stem[len(rf.revision) :]
                if slug[:1] in ("_", "-", "."):
                    slug = slug[1:]
            for name in (stem, slug):
                self.by_name.setdefault(name, position)
            self.ids.append((rf.revision, position))
        self.ids.sort()
        self.order = graph.kept_indexes

    def first(self, missing: str) -> int | None:
        """The file index the old per-file loop would have stopped at, or None."""
        found = self.by_name.get(missing)
        if len(missing) >= 2:
            at = bisect.bisect_left(self.ids, (missing, -1))
            while at < len(self.ids) and self.ids[at][0].startswith(missing):
                position = self.ids[at][1]
                found = position if found is None else min(found, position)
                at += 1
        return None if found is None else self.order[found]


def _did_you_mean(context: CheckContext, missing: str, suggestions: dict[str, _Suggestions]) -> str:
    if not suggestions:  # built on the first missing id only: most checks have none
        suggestions["index"] = _Suggestions(context)
    index = suggestions["index"].first(missing)
    if index is not None:
        rf = context.graph.files[index]
        return f"; did you mean {rf.revision!r} ({rf.path})?"
    if missing in context.archived:
        return f"; it is in the archive: {context.archived[missing]}"
    return ""


@rule(
    "MD002",
    "missing-revision",
    "error",
    summary="A `down_revision` or `depends_on` names a revision that no file declares.",
    why=(
        'Alembic stops with "Can\'t locate revision identified by ..." (or a KeyError): every '
        "revision above the gap is cut off from the base and cannot be applied."
    ),
    example="""
versions/0007_add_index.py   revision = "0007"
                             down_revision = "0006"   <- no file declares 0006""",
    fix=(
        "`fix` cannot invent the missing migration. Restore the file (git, the archive folder), or point "
        "`down_revision` at the revision that really comes before; `fix --archive` archives a dead "
        "branch that hangs from it only when another head is the main line."
    ),
)
def missing_revision(context: CheckContext) -> Iterator[Finding]:
    graph = context.graph
    suggestions: dict[str, _Suggestions] = {}
    broken = {i for i in graph.kept_indexes if any(p not in graph.kept for p in graph.files[i].down_revisions)}
    above = count_descendants(context.graph, broken)
    for index in graph.kept_indexes:
        rf = graph.files[index]
        for parent in rf.down_revisions:
            if parent in graph.kept:
                continue
            cut_off = above[index] + 1
            at = rf.line_of("down_revision")
            yield Finding(
                rf,
                at,
                f"down_revision names {parent!r}, which no file declares; {cut_off} revision"
                f"{'s are' if cut_off != 1 else ' is'} cut off from the base{_did_you_mean(context, parent, suggestions)}",
                rf.revision,
            )
    for dependency in graph.dependencies:
        if dependency.target is not None or dependency.name == "":
            continue
        rf = graph.files[dependency.child]
        at = rf.line_of("depends_on")
        yield Finding(
            rf,
            at,
            f"depends_on names {dependency.name!r}, which is no revision id or branch label "
            f"(Alembic resolves no partial ids there){_did_you_mean(context, dependency.name, suggestions)}",
            rf.revision,
        )


@rule(
    "MD008",
    "branch-label-conflict",
    "error",
    summary="A branch label is used by two revisions, or equals a revision id.",
    why="Alembic cannot tell which revision `label@head` means and refuses to build the revision map.",
    example="""
0003: branch_labels = ("billing",)
0010: branch_labels = ("billing",)   <- MD008""",
    fix="`fix` does not rename labels: pick a unique label by hand.",
)
def branch_label_conflict(context: CheckContext) -> Iterator[Finding]:
    graph = context.graph
    for label, indexes in sorted(graph.labels.items()):
        files = _files(context, indexes)
        if len(files) > 1:
            for rf in files[1:]:
                at = rf.line_of("branch_labels")
                yield Finding(
                    rf,
                    at,
                    f"branch label {label!r} is also used by {files[0].path} (revision {files[0].revision})",
                    rf.revision,
                    (files[0].path,),
                )
        if label in graph.kept:
            owner = graph.files[graph.kept[label]]
            for rf in files:
                at = rf.line_of("branch_labels")
                yield Finding(
                    rf,
                    at,
                    f"branch label {label!r} equals the revision id declared in {owner.path}",
                    rf.revision,
                    (owner.path,),
                )
