"""Rules about the shape of the revision graph: MD001-MD005, MD008, MD010,
MD014, MD018, MD019.

Over ~400 lines for a reason: ten rules, each one function registered with its
documentation (summary, why, example, fix) beside it, in the order ``migdoc explain``
lists them; splitting the family would reorder that listing."""

from __future__ import annotations

import bisect
import re
from collections import Counter
from collections.abc import Iterator

from migdoc.graph import file_node
from migdoc.model import RevisionFile, Severity
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


def _descendant_counts(context: CheckContext, indexes: set[int]) -> dict[int, int]:
    """How many revisions lie above each of ``indexes`` (as ``len(graph.descendants(i))``).

    One pass from the newest revision down, carrying each revision's descendants
    as the bits of an int and dropping it once every parent has taken it: a word
    operation per 64 revisions instead of a graph walk per missing parent."""
    graph = context.graph
    if not indexes:
        return {}
    if not graph.is_acyclic:
        return {i: len(graph.descendants(i)) for i in indexes}
    import networkx as nx  # imported with the graph, not with the rules (`migdoc explain` needs none)

    g = graph.graph
    order = list(nx.topological_sort(g))
    bit = {node: position for position, node in enumerate(order)}
    waiting = {node: g.in_degree(node) for node in order}
    below: dict = {}
    counts: dict[int, int] = {}
    for node in reversed(order):
        bits = 0
        for child in g.successors(node):
            child_bits = below[child]
            if graph.index_of(child) is not None:
                child_bits |= 1 << bit[child]
            bits |= child_bits
            waiting[child] -= 1
            if waiting[child] == 0:
                del below[child]
        index = graph.index_of(node)
        if index in indexes:
            counts[index] = bits.bit_count()
        if waiting[node]:
            below[node] = bits
    return counts


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
    above = _descendant_counts(context, broken)
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


def _down_ancestry(context: CheckContext, revision: str) -> set[str]:
    """Revision ids reachable from ``revision`` through ``down_revision`` only."""
    graph = context.graph
    seen: set[str] = set()
    stack = [revision]
    while stack:
        current = stack.pop()
        if current in seen:
            continue
        seen.add(current)
        if current in graph.kept:
            stack.extend(graph.files[graph.kept[current]].down_revisions)
    return seen


def _own_labels(context: CheckContext) -> dict[str, tuple[tuple[str, ...], bool]]:
    """Head -> (the branch labels on its own line, whether a label there is computed at
    import time). A head's own line is its ``down_revision`` ancestry that no other head
    shares: in expand/contract, everything above the shared base."""
    graph = context.graph
    heads = graph.kept_heads
    owner = _sole_heads(context)
    own: dict[str, list[str]] = {head: [] for head in heads}
    for revision, head in owner.items():
        if head is not None:
            own[head].append(revision)
    owned: dict[str, tuple[tuple[str, ...], bool]] = {}
    for head in heads:
        labels: list[str] = []
        is_unresolved = False
        for revision in sorted(own[head]):
            rf = graph.files[graph.kept[revision]]
            labels.extend(rf.branch_labels)
            is_unresolved = is_unresolved or rf.is_branch_labels_unresolved
        owned[head] = (tuple(labels), is_unresolved)
    return owned


def _sole_heads(context: CheckContext) -> dict[str, str | None]:
    """Kept revision -> the one head whose ``down_revision`` ancestry holds it, or None
    when two or more heads' do (revisions under no head are left out).

    One pass from the newest revision down carries "one head" or "many" (not each
    head's whole ancestry: 500 open heads over 5,000 revisions would be 2.5 million
    entries). Cyclic graphs fall back to a walk per head."""
    graph = context.graph
    heads = graph.kept_heads
    if not graph.is_acyclic:
        counted = Counter()
        sole: dict[str, str | None] = {}
        for head in heads:
            for revision in _down_ancestry(context, head):
                if revision in graph.kept:
                    counted[revision] += 1
                    sole[revision] = head if counted[revision] == 1 else None
        return sole
    reached: dict[str, str | None] = {head: head for head in heads}
    for index in reversed(graph.topological_indexes):
        rf = graph.files[index]
        revision = rf.revision
        assert revision is not None
        if revision not in reached:
            continue
        mark = reached[revision]
        for parent in set(rf.down_revisions):
            if parent not in graph.kept:
                continue
            if parent not in reached:
                reached[parent] = mark
            elif reached[parent] != mark:
                reached[parent] = None
    return reached


def _separate_bases(context: CheckContext) -> bool:
    """True when no two heads share a base (each head's line starts from a base of its own)."""
    graph = context.graph
    seen: set[str] = set()
    for head in graph.kept_heads:
        ancestry = _down_ancestry(context, head)
        bases = {r for r in ancestry if r in graph.kept and not graph.files[graph.kept[r]].down_revisions}
        if not bases or bases & seen:
            return False
        seen |= bases
    return True


def _branch_layout(context: CheckContext) -> str | None:
    """``"labelled"`` when the heads are a deliberate layout: every head's own line carries
    a branch label (expand/contract, with or without bases of their own), or, with a base
    of its own for every head, all but one line (the main line of Alembic's "multiple
    bases" recipe). ``"unresolved"`` when that would hold if the labels computed at import
    time (MD019) are there. ``None`` otherwise: an extra head nobody meant."""
    graph = context.graph
    if len(graph.kept_heads) < 2:
        return None  # one head with two bases is a joined copy, not a multi-branch layout
    owned = _own_labels(context)
    unlabelled = [h for h, (labels, _) in owned.items() if not labels]
    allowed = 1 if _separate_bases(context) else 0
    if len(unlabelled) <= allowed:
        return "labelled"
    if len([h for h in unlabelled if not owned[h][1]]) <= allowed:
        return "unresolved"
    return None


@rule(
    "MD003",
    "multiple-heads",
    "error",
    summary=(
        "More than one head. Info instead where each head's own line carries a branch label (a "
        "deliberate layout such as expand/contract, with or without bases of their own); a warning "
        "where those labels are computed at import time (MD019)."
    ),
    why=(
        '`alembic upgrade head` stops with "Multiple head revisions are present": usually two pull '
        "requests each added a child of the same revision and were merged in git but not in Alembic."
    ),
    example="""
0008 <- 0009_add_billing      (head)
0008 <- 0009_add_settings     (head)   <- MD003""",
    fix=(
        "`fix --merge` writes a merge revision whose down_revision names every head, as `alembic merge` "
        "would; `fix --archive` instead keeps the main head's line and archives the other branch."
    ),
)
def multiple_heads(context: CheckContext) -> Iterator[Finding]:
    graph = context.graph
    # The chain branches when two kept revisions are heads; a shadowed copy of a duplicated
    # id alone is MD001's finding. Once it branches, the count and the listing are the
    # summary's (graph.head_revisions): one head count everywhere.
    if len(graph.kept_heads) < 2:
        return
    heads = graph.head_revisions
    layout = _branch_layout(context)
    owned = _own_labels(context) if layout else {}
    paths = {head: _head_path(graph, head) for head in heads}
    listing = ", ".join(f"{head} ({paths[head]})" for head in heads)
    # One finding for all the heads, on the first head's file (the others are its related
    # files): one per head, each listing every head, grows as heads squared.
    first = graph.kept_heads[0]
    rf = graph.files[graph.kept[first]]
    severity = None
    if layout == "labelled":
        labels = [owned[h][0][0] for h in heads if h in owned and owned[h][0]]
        commands = " or ".join(f"`alembic upgrade {label}@head`" for label in labels[:3])
        shape = (
            f"each on a branch with its own label ({', '.join(labels)})"
            if len(labels) == len(heads)
            else f"an unlabelled main line and branches labelled {', '.join(labels)}, each with its own base"
        )
        message = (
            f"{len(heads)} heads, {shape}: {listing}; a deliberate layout: `alembic upgrade heads` "
            "upgrades them all" + (f", {commands} one branch" if commands else "")
        )
        severity = Severity.INFO
    elif layout == "unresolved":
        message = (
            f"{len(heads)} heads: {listing}; branch_labels on their lines are computed at import time "
            "(MD019), so migdoc cannot tell whether each branch carries a label of its own; if it does, "
            "this is a deliberate layout and `alembic upgrade heads` is the command"
        )
        severity = Severity.WARNING
    else:
        message = (
            f"{len(heads)} heads: {listing}; `alembic upgrade head` will refuse to run. "
            "Merge them (`migdoc fix --merge`) or archive the dead branch (`migdoc fix --archive`)"
        )
    yield Finding(
        rf,
        rf.line,
        message,
        first,
        tuple(p for h, p in paths.items() if h != first),
        severity=severity,
    )


def _head_path(graph, head: str) -> str:
    """The file that makes ``head`` a head: the kept copy when nothing names it, else the
    shadowed copy Alembic still counts (MD001)."""
    kept = graph.kept[head]
    if head in graph.kept_heads:
        return graph.files[kept].path
    return graph.files[graph.declarations[head][0]].path


@rule(
    "MD004",
    "multiple-bases",
    "warning",
    summary="More than one base (a revision whose down_revision is None) outside a labelled multi-branch layout.",
    why=(
        "A second base usually means a file was copied from another project or a `down_revision` was "
        "set to None by mistake: its chain starts from an empty database next to the real one."
    ),
    example="""
versions/0001_initial.py     down_revision = None
versions/0014_add_audit.py   down_revision = None   <- MD004""",
    fix="`fix --archive` archives a base that is not an ancestor of the main head.",
)
def multiple_bases(context: CheckContext) -> Iterator[Finding]:
    graph = context.graph
    bases = tuple(sorted(set(graph.bases)))  # a duplicated base id is MD001's finding
    if len(bases) < 2 or _branch_layout(context) is not None:
        return
    paths = {base: graph.files[graph.kept[base]].path for base in bases}
    for base in bases:
        rf = graph.files[graph.kept[base]]
        at = rf.line_of("down_revision")
        others = ", ".join(f"{b} ({p})" for b, p in paths.items() if b != base)
        yield Finding(
            rf,
            at,
            f"{base!r} is a base (down_revision is None) and so is {others}",
            base,
            tuple(p for b, p in paths.items() if b != base),
        )


def _describe_loop(context: CheckContext, loop: tuple[str, ...]) -> str:
    """The loop in upgrade order, closed (``a -> b -> c -> a``), starting at its
    smallest id; a tangle of several loops is listed instead."""
    import networkx as nx

    g = context.graph.graph
    nodes = [n for n in g.nodes if context.graph.revision_of(n) in loop]
    try:
        edges = nx.find_cycle(g.subgraph(nodes))
    except nx.NetworkXNoCycle:  # pragma: no cover - loops come from strongly connected parts
        edges = []
    walk = [context.graph.revision_of(u) for u, _ in edges]
    if sorted(walk) != sorted(loop):
        return "between " + ", ".join(loop)
    start = walk.index(min(walk))
    walk = walk[start:] + walk[:start]
    return " -> ".join([*walk, walk[0]])


@rule(
    "MD005",
    "cycle",
    "error",
    summary=(
        'A loop through down_revision/depends_on, naming every revision in it; also `depends_on = ""` on '
        "a base revision, which Alembic (1.20) reports as a dependency cycle."
    ),
    why='Alembic cannot order a loop: every command stops with "Dependency cycle is detected".',
    example="""
0003: down_revision = "0005"
0004: down_revision = "0003"
0005: down_revision = "0004"   <- MD005: 0003 -> 0004 -> 0005 -> 0003""",
    fix="`fix` does not guess which edge is wrong: point one down_revision at the real predecessor.",
)
def cycle(context: CheckContext) -> Iterator[Finding]:
    graph = context.graph
    for loop in graph.cycles:
        members = [graph.files[graph.kept[r]] for r in loop if r in graph.kept]
        if not members:
            continue
        first = members[0]
        at = first.line_of("down_revision")
        yield Finding(
            first,
            at,
            f"dependency cycle through {len(loop)} revision{'s' if len(loop) != 1 else ''}: "
            f"{_describe_loop(context, loop)}; Alembic cannot order them",
            first.revision,
            tuple(m.path for m in members[1:]),
        )
    for index in graph.kept_indexes:
        rf = graph.files[index]
        # Measured with Alembic 1.20.1's RevisionMap: "" is no dependency on a revision that has a
        # down_revision, but on a base it becomes a loop ("Dependency cycle is detected"), with or
        # without descendants.
        if rf.is_depends_on_empty_string and not rf.down_revisions:
            at = rf.line_of("depends_on")
            yield Finding(
                rf,
                at,
                'depends_on = "" on a base revision is not "no dependency": Alembic reports a dependency '
                "cycle for it and every command stops; write `depends_on = None`",
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


@rule(
    "MD010",
    "unreadable-revision",
    "error",
    summary=(
        "A version file cannot be read statically: syntax error, undecodable bytes, NUL bytes, "
        "`revision` or `down_revision` missing or not a literal, not a regular file or too large, "
        "or it declares a revision but no `upgrade()` (a file cut off mid-way)."
    ),
    why=(
        "Alembic imports every version file before any command: one such file makes every command fail "
        "with a traceback, and its revision is missing from the graph. A file without `upgrade()` loads, "
        "reads as healthy, and fails only when `alembic upgrade` reaches it, half-way through a deploy."
    ),
    example="""
versions/0004_add_users.py
    revision = make_id()     <- MD010: not a literal""",
    fix="`fix` never edits an unreadable file; repair it by hand, then run `migdoc check` again.",
)
def unreadable_revision(context: CheckContext) -> Iterator[Finding]:
    for rf in context.graph.files:
        if rf.read_error is not None:
            yield Finding(rf, rf.read_error_line, f"cannot be read statically: {rf.read_error}", rf.revision)
        elif rf.revision is not None and rf.upgrade is None:
            # the reader saw no binding of the name at all (see reader._bound_elsewhere)
            yield Finding(
                rf,
                rf.line,
                f"revision {rf.revision} has no upgrade() (is the file cut off?); "
                "Alembic fails with \"has no attribute 'upgrade'\" when it reaches it",
                rf.revision,
            )


_LEGACY_REVISION_FILE = re.compile(r"([a-f0-9]+)\.py$")
"""Alembic 0.1's file names: Alembic still takes the revision id from such a name."""


@rule(
    "MD014",
    "stray-file",
    "error",
    summary=(
        "A `.py` file in a versions folder that declares no revision (info only for Alembic's legacy "
        "hex file names, which it accepts)."
    ),
    why=(
        'Alembic imports every `.py` file of a versions folder and stops every command with "Could not '
        'determine revision id from filename" when one declares no `revision`: a helper module belongs '
        "outside the versions folder (`__init__.py` is skipped)."
    ),
    example="""
versions/helpers.py   (no `revision = ...`)   <- MD014""",
    fix="`fix` leaves it where it is; move a helper module out of the versions folder.",
)
def stray_file(context: CheckContext) -> Iterator[Finding]:
    for rf in context.graph.files:
        if not rf.is_stray:
            continue
        name = rf.path.rsplit("/", 1)[-1]
        if _LEGACY_REVISION_FILE.match(name):
            yield Finding(
                rf,
                1,
                "declares no revision; Alembic takes the id from this legacy file name (Alembic 0.1 style)",
                severity=Severity.INFO,
            )
        else:
            yield Finding(
                rf,
                1,
                'declares no revision; Alembic stops every command with "Could not determine revision id '
                f'from filename {name}": move it out of the versions folder',
            )


@rule(
    "MD018",
    "redundant-merge-parent",
    "warning",
    summary="A merge revision lists a parent that is already an ancestor of another of its parents.",
    why=(
        "Alembic accepts it silently, but the extra edge muddles `downgrade` and `history`: the merge "
        "is not a merge of two branches."
    ),
    example="""
0005: down_revision = ("0004", "0002")   # 0002 is already an ancestor of 0004  <- MD018""",
    fix="`fix` does not drop merge parents; remove the redundant one from down_revision by hand.",
)
def redundant_merge_parent(context: CheckContext) -> Iterator[Finding]:
    graph = context.graph
    if not graph.is_acyclic:
        return
    for index in graph.kept_indexes:
        rf = graph.files[index]
        parents = [p for p in rf.down_revisions if p in graph.kept]
        if len(parents) < 2:
            continue
        below = _below_any(context, [graph.kept[p] for p in parents])
        for parent in parents:
            if graph.kept[parent] not in below:
                continue
            # Rare (a redundant parent): name the first parent it lies under, as before.
            other = next(o for o in parents if o != parent and graph.is_ancestor(graph.kept[parent], graph.kept[o]))
            yield Finding(
                rf,
                rf.line_of("down_revision"),
                f"merge parent {parent!r} is already an ancestor of parent {other!r}; "
                "it can be dropped from down_revision",
                rf.revision,
                (graph.files[graph.kept[parent]].path,),
            )


def _below_any(context: CheckContext, indexes: list[int]) -> set[int]:
    """File indexes that are a proper ancestor of at least one of ``indexes``: one walk
    from all of them at once (not one per pair: a merge of 1,250 heads has 1.5 million
    pairs), never below the oldest of them, since nothing there can be one of them."""
    graph = context.graph
    position = graph.topological_position
    nodes = [file_node(i) for i in indexes]
    floor = min(position[n] for n in nodes)
    seen: set = set()
    stack = list(nodes)
    while stack:
        node = stack.pop()
        for parent in graph.graph.predecessors(node):
            if parent not in seen and position[parent] >= floor:
                seen.add(parent)
                stack.append(parent)
    return {i for i in (graph.index_of(n) for n in seen) if i is not None}


@rule(
    "MD019",
    "unresolved-value",
    "warning",
    summary="`branch_labels` or `depends_on` is computed when the module is imported, so it cannot be read statically.",
    why="migdoc's graph may miss that label or dependency, so its other findings may be incomplete.",
    example="""
branch_labels = tuple(LABELS)   <- MD019""",
    fix="`fix` leaves it; write the value as a literal so every tool can read it.",
)
def unresolved_value(context: CheckContext) -> Iterator[Finding]:
    for rf in context.graph.files:
        if rf.is_branch_labels_unresolved and rf.branch_labels_at:
            yield Finding(
                rf,
                rf.branch_labels_at.line,
                f"branch_labels {_why_unresolved(rf.branch_labels_unresolved_reason)}; migdoc cannot see these labels",
                rf.revision,
            )
        if rf.is_depends_on_unresolved and rf.depends_on_at:
            yield Finding(
                rf,
                rf.depends_on_at.line,
                f"depends_on {_why_unresolved(rf.depends_on_unresolved_reason)}; migdoc cannot see these dependencies",
                rf.revision,
            )


def _why_unresolved(reason: str | None) -> str:
    return f"is decided only when the module runs ({reason})" if reason else "is not a literal"
