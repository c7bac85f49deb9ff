"""A window on a large chain: the part of the revision graph around a revision, since a
revision, or the newest N, for every graph format (``graph --around/--since/--last``).

Pure: graph in, smaller graph out. Heads, bases and merges stay those of the whole chain
(they are read from the files, not from the edges), so a revision whose parent lies outside
the window is not drawn as a base."""

from __future__ import annotations

import copy
from dataclasses import dataclass

import networkx as nx

from migdoc.chain.graph import NodeKey, RevisionGraph, file_node, node_sort_key
from migdoc.errors import UsageError

DEFAULT_DEPTH = 3


@dataclass(frozen=True)
class Window:
    around: str | None = None
    depth: int | None = None
    since: str | None = None
    last: int | None = None

    @property
    def is_whole(self) -> bool:
        return self.around is None and self.since is None and self.last is None


def _node_of(graph: RevisionGraph, name: str, option: str) -> NodeKey:
    index = graph.resolve(name)
    if index is None:
        raise UsageError(
            f"{option} {name!r}: no revision, branch label or unique prefix of an id matches it",
            option=option,
            value=name,
        )
    return file_node(index)


def newest_first(graph: nx.DiGraph) -> list[NodeKey]:
    """Nodes newest first (children before parents); a loop's members stay together."""
    condensed = nx.condensation(graph)
    groups: dict[int, list[NodeKey]] = {}
    for node, component in condensed.graph["mapping"].items():
        groups.setdefault(component, []).append(node)
    order: list[NodeKey] = []
    for component in nx.lexicographical_topological_sort(
        condensed, key=lambda c: min(node_sort_key(n) for n in groups[c])
    ):
        order.extend(sorted(groups[component], key=node_sort_key))
    return list(reversed(order))


def window_nodes(graph: RevisionGraph, window: Window) -> set[NodeKey]:
    g = graph.graph
    nodes = set(g.nodes)
    if window.around is not None:
        centre = _node_of(graph, window.around, "--around")
        depth = DEFAULT_DEPTH if window.depth is None else window.depth
        nodes &= set(nx.ego_graph(g.to_undirected(as_view=True), centre, radius=depth))
    if window.since is not None:
        start = _node_of(graph, window.since, "--since")
        nodes &= {start} | nx.descendants(g, start)
    if window.last is not None:
        nodes &= set(newest_first(g)[: window.last])
    # Every copy of a duplicated id in range (MD001): which one the database ran is not
    # known, so showing one copy alone would tell a story the chain does not.
    in_range = {graph.revision_of(node) for node in nodes}
    nodes |= {file_node(i) for rev in in_range for i in graph.declarations.get(rev, ())}
    return nodes


def cut_graph(graph: RevisionGraph, window: Window) -> RevisionGraph:
    """``graph`` restricted to the window's nodes (the whole graph when no option is given)."""
    if window.is_whole:
        return graph
    cut = copy.copy(graph)
    cut.graph = graph.graph.subgraph(window_nodes(graph, window)).copy()
    for derived in ("missing", "cycles", "_replay"):  # computed from the edges: recomputed for the window
        cut.__dict__.pop(derived, None)
    return cut
