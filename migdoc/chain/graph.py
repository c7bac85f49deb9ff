"""Revision files -> revision graph (networkx). Pure: no disk, no database.

One node per file, so two files declaring one revision id stay two nodes; a
``down_revision`` naming a revision no file declares becomes a *missing* node,
so a broken chain is still a graph that can be drawn and diagnosed.

Edges run from the older revision to the newer one (``down_revision`` ->
``revision``). An edge carries ``kinds``, the relations it stands for (``"down"``,
``"depends"``, or both when a ``depends_on`` names the ``down_revision`` too: neither
erases the other), and ``kind``, the one it is drawn as (``"down"`` when it is one).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import cached_property

from migdoc.model import RevisionFile

NodeKey = str
"""``f:<index>`` for a file, ``m:<revision>`` for a revision no file declares."""


def file_node(index: int) -> NodeKey:
    return f"f:{index}"


def missing_node(revision: str) -> NodeKey:
    return f"m:{revision}"


@dataclass(frozen=True)
class Dependency:
    """A ``depends_on`` entry and what it resolved to (``None``: nothing)."""

    child: int
    name: str
    target: int | None


class RevisionGraph:
    """The revision graph of one project, built from statically read files.

    Invariants: every file with a revision id is a node; every ``down_revision``
    is an edge, to a missing node when no file declares it; where several files
    declare one id, Alembic keeps the last one it loads and so does the graph
    for edges (``kept``), the others stay visible as ``shadowed`` nodes.
    """

    def __init__(self, files: Sequence[RevisionFile]) -> None:
        self.files: tuple[RevisionFile, ...] = tuple(files)
        self.declarations: dict[str, list[int]] = {}
        for index, rf in enumerate(self.files):
            if rf.revision is not None:
                self.declarations.setdefault(rf.revision, []).append(index)
        # Alembic's revision map is a dict filled in load order: the last wins.
        self.kept: dict[str, int] = {rev: idx[-1] for rev, idx in self.declarations.items()}
        self.labels: dict[str, list[int]] = {}
        for index in self.kept.values():
            for label in self.files[index].branch_labels:
                self.labels.setdefault(label, []).append(index)
        self.dependencies: list[Dependency] = []
        import networkx as nx  # here, not at the top: only a run that builds a graph pays for it

        self.graph = nx.DiGraph()
        self._build()

    # -- construction -------------------------------------------------------

    def _build(self) -> None:
        g = self.graph
        # One key string per file, made once: networkx keeps the key it is given in each of
        # its dicts, and a key made anew per edge was three strings per node at 50,000.
        keys = self._keys = [file_node(index) for index in range(len(self.files))]
        for index, rf in enumerate(self.files):
            if rf.revision is None:
                continue
            g.add_node(keys[index], index=index, revision=rf.revision)
        for _rev, index in self.kept.items():
            rf = self.files[index]
            child = keys[index]
            for parent in rf.down_revisions:
                self._link(self._node_for(parent), child, "down")
            for name in rf.depends_on:
                target = self.resolve_dependency(name)
                self.dependencies.append(Dependency(index, name, target))
                if target is not None:
                    self._link(keys[target], child, "depends")
        # Shadowed copies keep their own down_revision edges so they can be drawn.
        for _rev, indexes in self.declarations.items():
            for index in indexes[:-1]:
                for parent in self.files[index].down_revisions:
                    self._link(self._node_for(parent), keys[index], "down")
        del self._keys

    def _link(self, parent: NodeKey, child: NodeKey, kind: str) -> None:
        """Add ``kind`` to the edge's relations (a second ``add_edge`` would replace the first's)."""
        data = self.graph.get_edge_data(parent, child)
        if data is None:
            self.graph.add_edge(parent, child, kind=kind, kinds=(kind,))
        elif kind not in data["kinds"]:
            data["kinds"] = tuple(sorted((*data["kinds"], kind), reverse=True))  # "down" first
            data["kind"] = data["kinds"][0]

    def _node_for(self, revision: str) -> NodeKey:
        if revision in self.kept:
            return self._keys[self.kept[revision]]
        node = missing_node(revision)
        if node not in self.graph:
            self.graph.add_node(node, index=None, revision=revision)
        return node

    def resolve_dependency(self, name: str) -> int | None:
        """Resolve a ``depends_on`` entry: a full id or a branch label.

        Alembic 1.20 looks dependencies up in its revision map (``map_[dep]``),
        which holds ids and labels but no prefixes: a partial id there is a
        ``KeyError`` at load time, so migdoc does not resolve it either.
        """
        if name in self.kept:
            return self.kept[name]
        if name in self.labels and len(self.labels[name]) == 1:
            return self.labels[name][0]
        return None

    def resolve(self, name: str) -> int | None:
        """Resolve an id, a branch label or a unique id prefix, as Alembic's ``get_revision``
        does for command arguments and database revisions. Alembic (1.20) matches a prefix
        of any length against the ids longer than three characters: its check is on the
        id's length, although its error message asks for four characters of prefix."""
        if name in self.kept:
            return self.kept[name]
        if name in self.labels and len(self.labels[name]) == 1:
            return self.labels[name][0]
        if name:
            matches = [rev for rev in self.kept if len(rev) > 3 and rev.startswith(name)]
            if len(matches) == 1:
                return self.kept[matches[0]]
        return None

    # -- queries ------------------------------------------------------------

    def index_of(self, node: NodeKey) -> int | None:
        return self.graph.nodes[node]["index"]

    def revision_of(self, node: NodeKey) -> str:
        return self.graph.nodes[node]["revision"]

    def is_shadowed(self, index: int) -> bool:
        rf = self.files[index]
        return rf.revision is not None and self.kept.get(rf.revision) != index

    @cached_property
    def kept_indexes(self) -> tuple[int, ...]:
        return tuple(sorted(self.kept.values()))

    @cached_property
    def missing(self) -> tuple[str, ...]:
        return tuple(sorted(data["revision"] for node, data in self.graph.nodes(data=True) if data["index"] is None))

    def children(self, index: int, kinds: Iterable[str] = ("down",)) -> list[int]:
        wanted = set(kinds)
        out = []
        for _, child, data in self.graph.out_edges(file_node(index), data=True):
            child_index = self.index_of(child)
            if wanted.intersection(data["kinds"]) and child_index is not None and not self.is_shadowed(child_index):
                out.append(child_index)
        return sorted(out)

    @cached_property
    def kept_heads(self) -> tuple[str, ...]:
        """Kept revisions no kept ``down_revision`` names: the heads of the chain, each id once.

        A ``depends_on`` never takes a head away (Alembic discards a head only for a
        ``down_revision``), and a shadowed copy's ``down_revision`` is never read by Alembic
        (its map holds the kept copy). A file whose ``down_revision`` could not be read
        (MD010) is neither a head nor a base: where it hangs is unknown, and counting it
        would add a false second head or base next to the MD010 finding."""
        heads = open_heads((rev, self.files[index].down_revisions) for rev, index in self.kept.items())
        return tuple(rev for rev in heads if self.files[self.kept[rev]].read_error is None)

    @cached_property
    def heads(self) -> tuple[str, ...]:
        """As Alembic's ``RevisionMap.heads``: :attr:`kept_heads`, plus the id of every
        shadowed copy of a duplicated id (MD001), once per copy.

        Alembic adds every loaded file to its heads and removes one only when a
        ``down_revision`` names it, and a name finds the copy kept in the map:
        so a shadowed copy is always a head, and ``upgrade head`` fails."""
        shadowed = [
            rf.revision
            for indexes in self.declarations.values()
            for rf in (self.files[i] for i in indexes[:-1])
            if rf.read_error is None
        ]
        return tuple(sorted([*self.kept_heads, *shadowed]))  # type: ignore[list-item]

    @cached_property
    def head_revisions(self) -> tuple[str, ...]:
        """:attr:`heads` with each id once: what every head count migdoc prints counts
        (a duplicated id that is a head twice is one head, named by MD001)."""
        return tuple(sorted(set(self.heads)))

    def is_head_file(self, index: int) -> bool:
        """Whether this file is one of Alembic's heads: the kept copy when no
        ``down_revision`` names its id, a shadowed copy always (see :attr:`heads`)."""
        rf = self.files[index]
        if rf.revision is None or rf.read_error is not None:
            return False
        return self.is_shadowed(index) or rf.revision in self._kept_head_set

    def is_base_file(self, index: int) -> bool:
        """Whether this file is one of Alembic's bases (``down_revision`` None; every copy)."""
        rf = self.files[index]
        return rf.revision is not None and rf.read_error is None and not rf.down_revisions

    def is_merge_file(self, index: int) -> bool:
        return len(self.files[index].down_revisions) > 1

    @cached_property
    def _kept_head_set(self) -> frozenset[str]:
        return frozenset(self.kept_heads)

    @cached_property
    def bases(self) -> tuple[str, ...]:
        """As Alembic's ``RevisionMap.bases``: revisions whose ``down_revision`` is None,
        a shadowed copy (MD001) included, once per copy, as Alembic counts it."""
        return tuple(
            sorted(
                rf.revision
                for indexes in self.declarations.values()
                for rf in (self.files[i] for i in indexes)
                if not rf.down_revisions and rf.read_error is None
            )
        )

    @cached_property
    def merges(self) -> tuple[str, ...]:
        return tuple(sorted(rev for rev, index in self.kept.items() if len(self.files[index].down_revisions) > 1))

    @cached_property
    def cycles(self) -> tuple[tuple[str, ...], ...]:
        """Every loop as the sorted revision ids in one strongly connected part."""
        import networkx as nx

        loops = []
        for component in nx.strongly_connected_components(self.graph):
            if len(component) > 1 or any(self.graph.has_edge(n, n) for n in component):
                loops.append(tuple(sorted(self.revision_of(n) for n in component)))
        return tuple(sorted(loops))

    def ancestors(self, index: int) -> set[int]:
        """File indexes reachable through ``down_revision`` and ``depends_on``."""
        import networkx as nx

        found = set()
        for node in nx.ancestors(self.graph, file_node(index)):
            ancestor = self.index_of(node)
            if ancestor is not None:
                found.add(ancestor)
        return found

    @cached_property
    def _topological_order(self) -> tuple[NodeKey, ...]:
        """Every node, oldest first, ties broken by file order (missing revisions last). Acyclic only."""
        import networkx as nx

        return tuple(nx.lexicographical_topological_sort(self.graph, key=node_sort_key))

    @cached_property
    def _topological_position(self) -> dict[str, int]:
        return {node: position for position, node in enumerate(self._topological_order)}

    @property
    def topological_position(self) -> dict[NodeKey, int]:
        """Each node's place in the topological order, oldest first. Acyclic only."""
        return self._topological_position

    def is_ancestor(self, ancestor: int, index: int) -> bool:
        """True when ``ancestor`` is reachable from ``index`` going down. Acyclic only.

        The walk never goes below ``ancestor``'s topological position, so two
        nearby revisions are compared in time proportional to what lies between.
        """
        position = self._topological_position
        target, floor = file_node(ancestor), position[file_node(ancestor)]
        stack, seen = [file_node(index)], set()
        while stack:
            node = stack.pop()
            for parent in self.graph.predecessors(node):
                if parent == target:
                    return True
                if parent not in seen and position[parent] > floor:
                    seen.add(parent)
                    stack.append(parent)
        return False

    def descendants(self, index: int) -> set[int]:
        import networkx as nx

        found = set()
        for node in nx.descendants(self.graph, file_node(index)):
            descendant = self.index_of(node)
            if descendant is not None:
                found.add(descendant)
        return found

    @cached_property
    def is_acyclic(self) -> bool:
        return not self.cycles

    @cached_property
    def topological_indexes(self) -> tuple[int, ...]:
        """Kept file indexes, oldest first, ties broken by file order. Acyclic only."""
        return tuple(
            index
            for node in self._topological_order
            if (index := self.index_of(node)) is not None and not self.is_shadowed(index)
        )


def open_heads(revisions: Iterable[tuple[str, Sequence[str]]]) -> tuple[str, ...]:
    """The heads as Alembic defines them, each id once, sorted: every revision that no
    ``down_revision`` names. ``depends_on`` is not a ``down_revision``: a revision
    named only by another's ``depends_on`` stays a head (Alembic's ``RevisionMap``
    discards a head only for a versioned down revision). The one definition the
    graph, the rules and the planner (on the chain as a plan leaves it) all use."""
    ids: list[str] = []
    named: set[str] = set()
    for revision, down_revisions in revisions:
        ids.append(revision)
        named.update(down_revisions)
    return tuple(sorted({rev for rev in ids if rev not in named}))


def node_sort_key(node: NodeKey) -> tuple[int, int, str]:
    """Files in the order they were read, then missing revisions by id."""
    kind, _, rest = node.partition(":")
    if kind == "f":
        return (0, int(rest), "")
    return (1, 0, rest)


def build_graph(files: Sequence[RevisionFile]) -> RevisionGraph:
    return RevisionGraph(files)
