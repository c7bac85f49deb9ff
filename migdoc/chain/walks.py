"""Walks of the revision graph that stay linear on long chains (tens of thousands of
revisions, hundreds of heads): what lies above a revision, a revision's ``down_revision``
ancestry, which head owns a revision, which of several revisions lie under another. Pure.

Each has a plain definition in its docstring; tests/test_rules_scale.py compares the fast
walk with that definition on random graphs."""

from __future__ import annotations

from collections import Counter
from typing import TYPE_CHECKING

from migdoc.chain.graph import file_node

if TYPE_CHECKING:
    from migdoc.chain.graph import RevisionGraph


def count_descendants(graph: RevisionGraph, indexes: set[int]) -> dict[int, int]:
    """How many revisions lie above each of ``indexes`` (as ``len(graph.descendants(i))``).

    One pass from the newest revision down, carrying each revision's descendants
    as the bits of an int and dropping it once every parent has taken it: a word
    operation per 64 revisions instead of a graph walk per missing parent."""
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


def down_ancestry(graph: RevisionGraph, revision: str) -> set[str]:
    """Revision ids reachable from ``revision`` through ``down_revision`` only."""
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


def sole_heads(graph: RevisionGraph) -> dict[str, str | None]:
    """Kept revision -> the one head whose ``down_revision`` ancestry holds it, or None
    when two or more heads' do (revisions under no head are left out).

    One pass from the newest revision down carries "one head" or "many" (not each
    head's whole ancestry: 500 open heads over 5,000 revisions would be 2.5 million
    entries). Cyclic graphs fall back to a walk per head."""
    heads = graph.kept_heads
    if not graph.is_acyclic:
        counted = Counter()
        sole: dict[str, str | None] = {}
        for head in heads:
            for revision in down_ancestry(graph, head):
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


def has_separate_bases(graph: RevisionGraph) -> bool:
    """True when no two heads share a base (each head's line starts from a base of its own)."""
    seen: set[str] = set()
    for head in graph.kept_heads:
        ancestry = down_ancestry(graph, head)
        bases = {r for r in ancestry if r in graph.kept and not graph.files[graph.kept[r]].down_revisions}
        if not bases or bases & seen:
            return False
        seen |= bases
    return True


def proper_ancestors_among(graph: RevisionGraph, indexes: list[int]) -> set[int]:
    """File indexes that are a proper ancestor of at least one of ``indexes``: one walk
    from all of them at once (not one per pair: a merge of 1,250 heads has 1.5 million
    pairs), never below the oldest of them, since nothing there can be one of them."""
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
