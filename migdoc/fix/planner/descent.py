"""The file-level lines of descent the archive strategy walks: copies of one id, depth
from a base, the main line of a head. Pure; iterative (chains of 20,000 revisions)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import networkx as nx

from migdoc.chain.graph import open_heads
from migdoc.fix.planner.context import (
    PlanContext,
    depends_ids,
)


class Descent:
    """The file-level graph the archive strategy reasons on: every copy of a
    duplicated id is its own node, so the main line can pick one."""

    def __init__(
        self, context: PlanContext, usable: Sequence[int], parents: Mapping[int, tuple[str, ...]] | None = None
    ) -> None:
        self.context = context
        self.usable = tuple(usable)
        self.declarations: dict[str, list[int]] = {}
        for i in self.usable:
            self.declarations.setdefault(str(context.files[i].revision), []).append(i)
        self.parent_ids: dict[int, list[str]] = {
            # ``parents``: as an earlier strategy (--relink) left them
            i: list(dict.fromkeys([*(parents or {}).get(i, context.files[i].down_revisions), *depends_ids(context, i)]))
            for i in self.usable
        }
        self.parents = parents
        self._depth: dict[int, int] = {}
        self.preferred: dict[str, int] = {}
        """Duplicated id -> the copy the evidence chose (:mod:`.evidence`); set before the main line is walked."""
        self._chosen_graph: nx.DiGraph | None = None

    def parent_copies(self, index: int) -> list[int]:
        """Every file declaring one of ``index``'s parents (each copy of a duplicated id)."""
        return [c for p in self.parent_ids[index] for c in self.declarations.get(p, []) if c != index]

    def depth(self, index: int) -> int:
        """Longest path from a base, in revisions (a base is 0).

        Iterative, not recursive: chains of tens of thousands of revisions are
        real (a 20,000-revision chain must plan), and an edge back into the
        path being walked (a loop) is skipped rather than followed.
        """
        if index in self._depth:
            return self._depth[index]
        best = {index: 0}
        on_path = {index}
        stack = [(index, iter(self.parent_copies(index)))]
        while stack:
            node, parents = stack[-1]
            for copy in parents:
                if copy in on_path:
                    continue
                if copy in self._depth:
                    best[node] = max(best[node], 1 + self._depth[copy])
                    continue
                best[copy] = 0
                on_path.add(copy)
                stack.append((copy, iter(self.parent_copies(copy))))
                break
            else:
                stack.pop()
                on_path.discard(node)
                self._depth[node] = best.pop(node)
                if stack:
                    below = stack[-1][0]
                    best[below] = max(best[below], 1 + self._depth[node])
        return self._depth[index]

    def heads(self) -> list[int]:
        """Every copy whose id is a head by Alembic's definition (:func:`migdoc.chain.graph.open_heads`):
        ``depends_on`` links the main line's ancestry but takes no head away."""
        files = self.context.files
        down = {i: (self.parents or {}).get(i, files[i].down_revisions) for i in self.usable}
        heads = set(open_heads((str(files[i].revision), down[i]) for i in self.usable))
        return [i for i in self.usable if files[i].revision in heads]

    def choose_copy(self, revision: str) -> int:
        copies = self.declarations[revision]
        if len(copies) == 1:
            return copies[0]
        if revision in self.preferred:
            return self.preferred[revision]
        deepest = max(self.depth(c) for c in copies)
        tied = [c for c in copies if self.depth(c) == deepest]
        kept = self.context.graph.kept.get(revision)
        return kept if kept in tied else tied[0]

    def main_line(self, head: int) -> set[int]:
        """The main head and its ancestors, one chosen copy per duplicated id."""
        return {head} | nx.ancestors(self._chosen(), head)

    def main_ancestors(self, index: int) -> set[int]:
        """``index``'s main-line ancestors (for a main-line ``index``: the chosen copies'
        ancestors are the main line's), found on demand: keeping every revision's
        ancestor set at once costs memory quadratic in the chain's length."""
        return nx.ancestors(self._chosen(), index) - {index}

    def _chosen(self) -> nx.DiGraph:
        """Every file linked to the chosen copy of each of its parents (networkx walks it)."""
        if self._chosen_graph is None:
            graph = nx.DiGraph()
            graph.add_nodes_from(self.usable)
            for index in self.usable:
                for parent in self.parent_ids[index]:
                    if parent in self.declarations and (copy := self.choose_copy(parent)) != index:
                        graph.add_edge(copy, index)
            self._chosen_graph = graph
        return self._chosen_graph
