"""Rules about the graph's shape: MD003 (more than one head), MD004 (more than one base),
MD005 (a loop), MD018 (a merge parent already under another parent)."""

from __future__ import annotations

from collections.abc import Iterator

from migdoc.chain.walks import has_separate_bases, proper_ancestors_among, sole_heads
from migdoc.model import Severity
from migdoc.rules.registry import CheckContext, Finding, rule


def _own_labels(context: CheckContext) -> dict[str, tuple[tuple[str, ...], bool]]:
    """Head -> (the branch labels on its own line, whether a label there is computed at
    import time). A head's own line is its ``down_revision`` ancestry that no other head
    shares: in expand/contract, everything above the shared base."""
    graph = context.graph
    heads = graph.kept_heads
    owner = sole_heads(graph)
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
    allowed = 1 if has_separate_bases(graph) else 0
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
        below = proper_ancestors_among(graph, [graph.kept[p] for p in parents])
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
