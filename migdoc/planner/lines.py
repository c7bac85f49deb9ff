"""The file-level lines of descent the archive strategy walks: copies of one id, depth
from a base, the main line of a head. Pure; iterative (chains of 20,000 revisions)."""

from __future__ import annotations

from collections.abc import Sequence

from migdoc.planner.context import (
    PlanContext,
    _depends_ids,
)

# -- archive -----------------------------------------------------------------


class _Lines:
    """The file-level graph the archive strategy reasons on: every copy of a
    duplicated id is its own node, so the main line can pick one."""

    def __init__(self, context: PlanContext, usable: Sequence[int]) -> None:
        self.context = context
        self.usable = tuple(usable)
        self.declarations: dict[str, list[int]] = {}
        for i in self.usable:
            self.declarations.setdefault(str(context.files[i].revision), []).append(i)
        self.parent_ids: dict[int, list[str]] = {
            i: list(dict.fromkeys([*context.files[i].down_revisions, *_depends_ids(context, i)])) for i in self.usable
        }
        self._depth: dict[int, int] = {}

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
        named = {p for i in self.usable for p in self.parent_ids[i]}
        return [i for i in self.usable if self.context.files[i].revision not in named]

    def choose_copy(self, revision: str) -> int:
        copies = self.declarations[revision]
        if len(copies) == 1:
            return copies[0]
        deepest = max(self.depth(c) for c in copies)
        tied = [c for c in copies if self.depth(c) == deepest]
        kept = self.context.graph.kept.get(revision)
        return kept if kept in tied else tied[0]

    def main_line(self, head: int) -> set[int]:
        """The main head and its ancestors, one chosen copy per duplicated id."""
        self.main_parents: dict[int, list[int]] = {}
        found = {head}
        frontier = [head]
        while frontier:
            index = frontier.pop()
            chosen = [self.choose_copy(p) for p in self.parent_ids[index] if p in self.declarations]
            self.main_parents[index] = [c for c in dict.fromkeys(chosen) if c != index]
            for copy in self.main_parents[index]:
                if copy not in found:
                    found.add(copy)
                    frontier.append(copy)
        return found

    def main_ancestors(self, index: int) -> set[int]:
        """``index``'s main-line ancestors, walked on demand: keeping every revision's
        ancestor set at once costs memory quadratic in the chain's length."""
        found: set[int] = set()
        frontier = [index]
        while frontier:
            for copy in self.main_parents.get(frontier.pop(), ()):
                if copy not in found and copy != index:
                    found.add(copy)
                    frontier.append(copy)
        return found
