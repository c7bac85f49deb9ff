"""Rules about the schema across branches, read from the static replay: MD022, MD023.

Both speak only where the replay is certain, as MD012 does: an object named by raw SQL
the replay cannot follow, or by a call with a name chosen at run time, is never the
subject of a finding, and neither is a revision whose line went through a helper call."""

from __future__ import annotations

from collections.abc import Iterator

from migdoc.chain.graph import RevisionGraph, file_node
from migdoc.chain.replay import Creation, Replay, creations_in, replay_chain
from migdoc.rules.registry import CheckContext, Finding, rule


def describe(key: tuple) -> str:
    """The object a replay key stands for, as a person names it."""
    kind, schema = key[0], key[1]
    prefix = f"{schema}." if schema else ""
    if kind == "table":
        return f"table {prefix}{key[2]}"
    if kind == "column":
        return f"column {prefix}{key[2]}.{key[3]}"
    if kind == "index":
        return f"index {prefix}{key[2]}"
    return f"constraint {key[3]} on {prefix}{key[2]}"


def _is_related(graph: RevisionGraph, one: int, other: int) -> bool:
    """Whether one revision is the other's ancestor or descendant (on one line)."""
    return one == other or graph.is_ancestor(one, other) or graph.is_ancestor(other, one)


def _unknown_lines(graph: RevisionGraph) -> set[int]:
    """Revisions below which too little is known to say an object is not made there: a file
    on the line could not be read (MD010: where it hangs is unknown), or the line starts from
    a base that does no work, a chain begun on a schema made outside migrations
    (``create_all``), where an object no ancestor creates may be there. One pass, oldest
    first (the replay, and so these rules, run on acyclic graphs only)."""
    unknown: set[int] = set()
    for index in graph.topological_indexes:
        rf = graph.files[index]
        is_empty_base = not rf.down_revisions and (rf.upgrade is None or not rf.upgrade.does_work)
        if rf.read_error is not None or is_empty_base:
            unknown.add(index)
            continue
        node = file_node(index)
        for parent in graph.graph.predecessors(node):
            parent_index = graph.index_of(parent)
            if parent_index is not None and (parent_index in unknown or graph.files[parent_index].read_error):
                unknown.add(index)
                break
    return unknown


@rule(
    "MD022",
    "off-line-dependency",
    "error",
    summary=(
        "Replaying the `op.*` calls, an operation uses a table, column, index or constraint that no "
        "ancestor creates but a revision on another branch does (an index on a column only a side "
        "branch adds, an `alter_column` on a table only a side branch creates), or, where nothing in "
        "the chain creates it, a revision in the archive folder did. Silent where the "
        "object may come from outside migrations (nothing creates it, or the line starts from a base "
        "that does no work, as with `create_all`), and where raw SQL or a call the replay cannot "
        "follow may create it."
    ),
    why=(
        "`alembic upgrade` runs a revision after its ancestors only: on a database where the other "
        "branch has not run yet (a fresh one, a deploy of this line alone) the operation fails "
        "(`UndefinedTable`, `UndefinedColumn`) and the upgrade stops."
    ),
    example="""
0024: op.create_table("channels", sa.Column("id", sa.Integer()))
0025b (side branch, from 0024): op.add_column("channels", sa.Column("flags", sa.Integer()))
0025 (from 0024): op.create_index("ix_channels_flags", "channels", ["flags"])   <- MD022""",
    fix=(
        "`fix` does not guess the order: make the revision that creates the object an ancestor "
        "(its `down_revision`, or a `depends_on`), create the object on this line, or restore an "
        "archived revision that made it. As an error, it counts in the re-check every applied fix "
        "plan must pass."
    ),
)
def off_line_dependency(context: CheckContext) -> Iterator[Finding]:
    graph = context.graph
    archived = context.archived_files
    replay = replay_chain(graph, is_tracking_needed=bool(archived))
    from_archive = creations_in(archived) if archived else {}
    reported: set[tuple[int, tuple]] = set()
    unknown: set[int] | None = None  # made on the first need that has a source to name
    for need in replay.needs:
        # A call that could touch anything, on this line, already left no need here (the
        # replay's state there is uncertain); one elsewhere does not make this line whole.
        if (need.index, need.key) in reported or replay.is_named_uncertainly(need.key):
            continue
        creators = [c for c in replay.creations.get(need.key, ()) if c.index != need.index]
        if any(graph.is_ancestor(c.index, need.index) for c in creators):
            continue  # made on this line and renamed or dropped since: MD012's ground
        off_line = [graph.files[c.index] for c in creators if not graph.is_ancestor(need.index, c.index)]
        # the archive counts only where nothing in the chain makes the object
        gone = [archived[i] for i in from_archive.get(need.key, ())] if not creators else []
        if not (off_line or gone):
            continue
        if unknown is None:
            unknown = _unknown_lines(graph)
        if need.index in unknown:
            continue
        reported.add((need.index, need.key))
        rf = graph.files[need.index]
        named = [f"{s.revision} ({s.path}), on another branch" for s in off_line]
        named += [f"{s.revision} ({s.path}), in the archive folder that Alembic does not read" for s in gone]
        sources = [*off_line, *gone]
        yield Finding(
            rf,
            need.operation.line,
            f"op.{need.operation.kind}() needs {describe(need.key)}, which no ancestor of {rf.revision} "
            f"creates; only {'; '.join(named)}, does: upgrading this line alone fails. Make "
            f"{'it' if len(sources) == 1 else 'one of them'} an ancestor (down_revision or depends_on)"
            + (", or restore it from the archive" if gone else ""),
            rf.revision,
            tuple(s.path for s in sources),
        )


def _rivals(graph: RevisionGraph, replay: Replay, key: tuple, creations: list[Creation]) -> Iterator[tuple]:
    """Pairs of first creations of ``key`` on two parallel lines, with no drop of it that
    could run between them (one off the line both share above)."""
    firsts = [c for c in creations if c.is_first and graph.files[c.index].read_error is None]
    if key[0] == "column":  # a column of a table both create is the table's finding
        firsts = [c for c in firsts if c.operation.kind != "create_table"]
    if len(firsts) < 2 or replay.is_named_uncertainly(key):
        return
    position = graph.topological_position
    firsts.sort(key=lambda c: position[file_node(c.index)])
    for later_at, later in enumerate(firsts):
        for earlier in firsts[:later_at]:
            if _is_related(graph, earlier.index, later.index):
                continue
            # A drop, or a call that could do anything, that may run between them leaves which
            # order works uncertain. (On a third branch, a call never told of the object is not
            # taken to drop it; below them, such a call left them not first.)
            between = [*replay.drops.get(key, ()), *replay.touching_anything]
            if any(_may_run_between(graph, d, earlier.index, later.index) for d in between):
                continue
            yield earlier, later
            break


def _may_run_between(graph: RevisionGraph, index: int, one: int, other: int) -> bool:
    """Whether ``index`` may run after one of the two creations and before the other: it is
    one of them (after its own create) or lies above exactly one of them."""
    if index in (one, other):
        return True
    return graph.is_ancestor(one, index) != graph.is_ancestor(other, index)


@rule(
    "MD023",
    "parallel-create",
    "error",
    summary=(
        "Two revisions on parallel branches (neither is the other's ancestor) both create the same "
        "table, column, index or constraint, each on a line that never had it. Only where the replay "
        "is certain: no raw SQL or call it cannot follow names the object, no `if_not_exists`, and "
        "no drop of it, or call that could do anything, may run between the two."
    ),
    why=(
        "`alembic upgrade heads` runs both branches: whichever runs second fails (`DuplicateTable`, "
        "`DuplicateColumn`...). Usually one change was cherry-picked onto two branches under two ids."
    ),
    example="""
0024 (main, from 0023):         op.create_table("audit_log", ...)
0025b (side branch, from 0023): op.create_table("audit_log", ...)   <- MD023""",
    fix=(
        "`fix` does not choose between them: keep the change on one branch (archive the other copy "
        "with `fix --archive` when it is a dead branch), or make one create the object only if it is "
        "missing (`if_not_exists=True`)."
    ),
)
def parallel_create(context: CheckContext) -> Iterator[Finding]:
    graph = context.graph
    replay = replay_chain(graph)
    for key, creations in replay.creations.items():
        for earlier, later in _rivals(graph, replay, key, creations):
            rf, other = graph.files[later.index], graph.files[earlier.index]
            yield Finding(
                rf,
                later.operation.line,
                f"creates {describe(key)}, as revision {other.revision} ({other.path}) does on a parallel "
                "branch: `alembic upgrade heads` runs both and the second fails",
                rf.revision,
                (other.path,),
            )
