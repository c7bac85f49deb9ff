"""Relinking survivors whose parent left to their nearest surviving ancestor, and the
``alembic stamp`` a database needs after an archive (:class:`~migdoc.model.Realign`). Pure."""

from __future__ import annotations

import shlex
from collections.abc import Sequence

from migdoc.fix.planner.descent import Descent
from migdoc.model import (
    FixOptions,
    Realign,
)


def plan_realign(descent: Descent, options: FixOptions, surviving: set[str], main_line: set[int]) -> Realign | None:
    """The ``alembic stamp --purge`` that realigns a database whose current revision the plan archives.

    ``--purge`` because Alembic cannot stamp *from* a revision it cannot find;
    the purge drops every row, so every current revision is stamped again
    (survivors as they are, archived ones as their nearest surviving ancestors).
    """
    current = options.database_current
    leaving = [rev for rev in current if rev not in surviving and rev in descent.declarations]
    if not leaving:
        return None
    targets: list[str] = []
    for rev in current:
        if rev in surviving or rev not in descent.declarations:
            targets.append(rev)
        else:
            targets += nearest_surviving(descent, (rev,), surviving, main_line)
    revisions = drop_implied(descent, tuple(dict.fromkeys(targets)), main_line)
    command = ["alembic"]
    if options.alembic_config:
        command += ["-c", options.alembic_config]
    if options.alembic_section != "alembic":
        command += ["-n", options.alembic_section]
    command += ["stamp", "--purge", *(revisions or ("base",))]
    left = ", ".join(leaving)
    reason = (
        f"the plan archives {left}, where the database is, and Alembic stops at a revision it cannot find; "
        "`stamp --purge` rewrites alembic_version without running a migration (the schema stays as it is)"
    )
    return Realign(current=current, revisions=revisions, command=shlex.join(command), reason=reason)


def branch_point(
    descent: Descent, index: int, main_line: set[int], known: dict[int, str | None] | None = None
) -> str | None:
    """The main-line revision a dead branch grew from, when there is one.

    ``known`` remembers answers between calls: along a run of revisions with one
    parent each the answer is the parent's, so a dead branch of thousands of
    revisions is walked once, not once per revision."""
    known = {} if known is None else known
    run: list[int] = []
    current = index
    while current not in known:
        run.append(current)
        copies = [c for p in descent.parent_ids[current] for c in descent.declarations.get(p, [])]
        if len(copies) != 1 or copies[0] in main_line or copies[0] in run:
            known[current] = _search_branch_point(descent, current, main_line)
            break
        current = copies[0]
    for member in run:
        known[member] = known[current]
    return known[index]


def _search_branch_point(descent: Descent, index: int, main_line: set[int]) -> str | None:
    seen = {index}
    frontier = [index]
    while frontier:
        current = frontier.pop()
        for parent in descent.parent_ids[current]:
            for copy in descent.declarations.get(parent, []):
                if copy in main_line:
                    return parent
                if copy not in seen:
                    seen.add(copy)
                    frontier.append(copy)
    return None


def nearest_surviving(
    descent: Descent, parents: Sequence[str], surviving: set[str], main_line: set[int]
) -> tuple[str, ...]:
    """Replace each archived parent by its nearest surviving ancestors, keeping order."""
    out: list[str] = []
    seen: set[str] = set()
    # depth-first in the parents' order, with a stack instead of recursion: an
    # archived branch can be thousands of revisions long
    stack = list(reversed(parents))
    while stack:
        revision = stack.pop()
        if revision in seen:
            continue
        seen.add(revision)
        if revision in surviving or revision not in descent.declarations:
            out.append(revision)  # surviving, or missing (left for MD002)
            continue
        copies = descent.declarations[revision]
        on_main = [c for c in copies if c in main_line]
        up = [parent for copy in on_main or copies for parent in descent.context.files[copy].down_revisions]
        stack.extend(reversed(up))
    return tuple(dict.fromkeys(out))


def drop_implied(descent: Descent, parents: tuple[str, ...], main_line: set[int]) -> tuple[str, ...]:
    """A relinked merge must not list a parent that is an ancestor of another (MD018)."""
    if len(parents) < 2:
        return parents
    return tuple(p for p in parents if not any(_is_named_above(descent, p, o) for o in parents if o != p))


def _is_named_above(descent: Descent, wanted: str, start: str) -> bool:
    """True when some ancestor of ``start`` (or ``start`` itself) names ``wanted`` as a parent.

    Every revision that names ``wanted`` is deeper than each file declaring it (depth
    grows by at least one along every edge), so the walk skips what is not deeper:
    checking a merge costs the distance between its parents, not the chain's length."""

    def deepest(revision: str) -> int | None:
        copies = descent.declarations.get(revision)
        return max(descent.depth(c) for c in copies) if copies else None

    floor = deepest(wanted)
    seen = {start}
    frontier = [start]
    while frontier:
        current = frontier.pop()
        for copy in descent.declarations.get(current, []):
            for up in descent.parent_ids[copy]:
                if up == wanted:
                    return True
                if up in seen:
                    continue
                seen.add(up)
                depth = deepest(up)
                if depth is not None and (floor is None or depth > floor):
                    frontier.append(up)
    return False
