"""``--rebase``: two heads repaired as engineers repair them on real chains: the newer
branch's first revision is re-pointed onto the other head (``down_revision`` and the
docstring's ``Revises:`` line), as rebasing a migration by hand does. Nothing is archived,
no merge file is written. Pure.

Which branch is the newer one, strongest first: ``--head REV`` (that head stays where it
is); the deployed database (a branch it applied stays); ``--base-ref`` (this branch's own
files are the newcomers); git history (the branch first added later); the ``Create
Date`` of each branch's first revision. Git history is read two ways: when merges
brought every branch onto the checked-out line, the branch merged later is the newer
(pull requests are re-pointed in the order they land); otherwise the commit that added each
branch's first file. Where nothing decides, the planner refuses and
names ``--head``. With more than two heads the branches are stacked oldest first.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from migdoc.errors import FixRefused
from migdoc.fix.edits import apply_edits, relink_edits, revision_edits
from migdoc.fix.planner.context import (
    HEAD_CONFLICT,
    MISSING_REVISION,
    MULTIPLE_HEADS,
    PartialPlan,
    PlanContext,
    PlanState,
    depends_ids,
    folder_of,
    has_error,
    healthy_note,
    name_of,
)
from migdoc.fix.planner.reid import ids_are_stems
from migdoc.model import Action, EditText, FixOptions, RenameFile
from migdoc.project.naming import parse_create_date


def plan_rebase(context: PlanContext, options: FixOptions, state: PlanState | None = None) -> PartialPlan:
    state = state or PlanState.initial(context)
    if context.graph.cycles:
        return PartialPlan(unresolved=("--rebase: the chain has a loop; break it by hand first (MD005)",), state=state)
    if any(d.code == MULTIPLE_HEADS and d.severity.value != "error" for d in context.diagnostics):
        return PartialPlan(
            notes=("--rebase: the heads sit on their own labelled branches (a deliberate layout); nothing rebased",),
            state=state,
        )
    if not has_error(context):
        note = healthy_note("--rebase", "nothing to rebase", f"an error-level second head ({MULTIPLE_HEADS})")
        return PartialPlan(notes=(note,), state=state)
    branches = Branches(context, state)
    if branches.duplicated:
        return PartialPlan(
            unresolved=(
                f"--rebase: revision {', '.join(branches.duplicated)} is declared by several files; "
                "give the copy its own id first (--reid)",
            ),
            state=state,
        )
    if len(branches.heads) < 2:
        return PartialPlan(notes=(f"--rebase: {len(branches.heads)} head; nothing to rebase",), state=state)
    files = context.files
    notes: list[str] = []
    unresolved: list[str] = []
    parents = dict(state.parents)
    renamed = dict(state.renamed)
    reasons: dict[int, list[str]] = {}
    cut_off: set[int] = set()
    taken = set(branches.index) | set(context.archived) | set(context.graph.declarations)
    # One branch at a time, oldest first: each step moves the next-oldest branch onto the
    # oldest one, and the ancestry (what each branch owns) is measured again after it.
    while len(branches.heads) > 1:
        order, said = _oldest_first(context, options, branches)
        notes += said
        target, mover = order[0], order[1]
        own = {branches.index[r] for r in branches.line(mover) - branches.line(target) if r in branches.index}
        roots = [i for i in own if not any(branches.index.get(p) in own for p in parents[i])]
        listed = ", ".join(sorted(branches.revision(i) for i in own))
        applied = sorted(branches.revision(i) for i in own if branches.revision(i) in options.applied_revisions)
        if applied:
            unresolved.append(
                f"--rebase: the database applied {', '.join(applied)} of {mover}'s branch; rebased, that database "
                f"would never run {target}'s branch; write a merge revision instead (--merge)"
            )
            break
        if len(roots) != 1 or depends_ids(context, roots[0]):
            unresolved.append(
                f"--rebase: {mover}'s branch ({listed}) starts at {len(roots)} revisions; "
                "re-point them by hand, or write a merge revision (--merge)"
            )
            break
        root = roots[0]
        if context.sources.get(files[root].path) is None:
            unresolved.append(f"{files[root].path}: --rebase: its text is not available")
            break
        old_id = branches.revision(root)
        if any(p not in branches.index for p in parents[root]):
            cut_off.add(root)  # its missing parent goes too: the rebase also answers MD002
        reasons.setdefault(root, []).append(
            f"the first revision of the branch that moves ({listed}); re-pointed from "
            f"{', '.join(parents[root]) or 'a base'} onto the other head {target}, as rebasing a migration by hand does"
        )
        parents[root] = (target,)
        new_id = next_numbered_id(context, old_id, target, taken)
        if new_id is not None:
            taken.add(new_id)
            renamed[root] = new_id
            reasons[root].append(
                f"its number now follows {target}'s, so it becomes {new_id} (file renamed), as this chain numbers them"
            )
            for child in own:
                if old_id in parents[child]:
                    parents[child] = tuple(new_id if p == old_id else p for p in parents[child])
                    reasons.setdefault(child, []).append(f"re-pointed from {old_id} to its new id {new_id}")
        branches = Branches(context, PlanState(state.survivors, parents, renamed))
    answers = tuple(sorted({MULTIPLE_HEADS, HEAD_CONFLICT} & {d.code for d in context.diagnostics}))
    actions: list[Action] = []
    for index in sorted(reasons, key=lambda i: files[i].path):
        rf = files[index]
        text = context.sources.get(rf.path)
        if text is None:
            unresolved.append(f"{rf.path}: --rebase: its text is not available")
            continue
        edits = list(relink_edits(text, rf, parents[index])) if parents[index] != state.parents[index] else []
        if renamed.get(index) != state.renamed.get(index):
            edits += revision_edits(text, rf, renamed[index])
        edits.sort(key=lambda e: (e.line, e.col))
        actions.append(
            EditText(
                path=rf.path,
                old_sha256=rf.sha256,
                edits=tuple(edits),
                old_text=text,
                new_text=apply_edits(text, edits),
                reason="; ".join(reasons[index]),
                answers=(*(answers or (MULTIPLE_HEADS,)), *((MISSING_REVISION,) if index in cut_off else ())),
                revision=rf.revision,
            )
        )
        if renamed.get(index) != state.renamed.get(index):
            target_path = f"{folder_of(rf.path)}/{renamed[index]}.py"
            if name_of(target_path) in context.existing_names.get(folder_of(rf.path), frozenset()):
                unresolved.append(f"{rf.path}: --rebase: {target_path} exists; rename it by hand")
                continue
            actions.append(
                RenameFile(
                    source=rf.path,
                    target=target_path,
                    sha256=rf.sha256,
                    reason=f"the file holds revision {renamed[index]} now; its name says so",
                    answers=answers or (MULTIPLE_HEADS,),
                    revision=renamed[index],
                )
            )
    return PartialPlan(
        actions=tuple(actions),
        notes=tuple(notes),
        unresolved=tuple(unresolved),
        main_head=branches.heads[0] if len(branches.heads) == 1 else None,
        state=PlanState(state.survivors, parents, renamed),
    )


_NUMBERED_STEM = re.compile(r"^(\d+)_(.+)$")


def next_numbered_id(context: PlanContext, moved: str, target: str, taken: set[str]) -> str | None:
    """In a chain whose ids are numbered file names (``0370_remove_reach``), the id a revision
    re-pointed onto ``target`` gets when its number no longer follows (``0370_fix_rate`` onto
    ``0370_remove_reach`` becomes ``0371_fix_rate``), as engineers renumber it; else None."""
    if not ids_are_stems(context):
        return None
    mine, theirs = _NUMBERED_STEM.match(moved), _NUMBERED_STEM.match(target)
    if mine is None or theirs is None or int(mine.group(1)) > int(theirs.group(1)):
        return None
    width = len(mine.group(1))
    number = str(int(theirs.group(1)) + 1).zfill(width)
    if any(t.startswith(f"{number}_") for t in taken):
        return None  # the number is someone's already (the moved branch's next, say): the id stays
    return f"{number}_{mine.group(2)}"


class Branches:
    """The heads of the planned state and each one's own part (what no other head's
    line holds), by file index. Iterative walks: chains of 20,000 revisions plan."""

    def __init__(self, context: PlanContext, state: PlanState) -> None:
        self.context = context
        self.state = state
        self.index: dict[str, int] = {}
        seen: dict[str, int] = {}
        for i in state.survivors:
            rev = state.revision_of(context, i)
            seen[rev] = seen.get(rev, 0) + 1
            self.index[rev] = i
        self.duplicated = sorted(rev for rev, n in seen.items() if n > 1)
        self.heads = state.heads(context)
        self._lines: dict[str, set[str]] = {}

    def revision(self, index: int) -> str:
        return self.state.revision_of(self.context, index)

    def line(self, head: str) -> set[str]:
        """``head`` and its ancestors (ids), through ``down_revision`` and ``depends_on``."""
        if head not in self._lines:
            found = {head}
            todo = [head]
            while todo:
                index = self.index.get(todo.pop())
                if index is None:
                    continue
                for parent in (*self.state.parents[index], *depends_ids(self.context, index)):
                    if parent not in found:
                        found.add(parent)
                        todo.append(parent)
            self._lines[head] = found
        return self._lines[head]

    def own(self, head: str) -> set[int]:
        others = set().union(*(self.line(h) for h in self.heads if h != head))
        return {self.index[r] for r in self.line(head) - others if r in self.index}


Key = Callable[[PlanContext, FixOptions, "Branches", str], "tuple[object, str] | None"]


def _by_database(context: PlanContext, options: FixOptions, branches: Branches, head: str):
    applied = sorted(
        branches.revision(i) for i in branches.own(head) if branches.revision(i) in options.applied_revisions
    )
    if not options.database_current:
        return None
    return (0 if applied else 1), (
        f"the deployed database applied {', '.join(applied)}" if applied else "the deployed database applied none of it"
    )


def _by_base_ref(context: PlanContext, options: FixOptions, branches: Branches, head: str):
    if options.base_ref is None or not options.ours_paths:
        return None
    ours = all(context.files[i].path in options.ours_paths for i in branches.own(head))
    return (1 if ours else 0), (f"new on this branch, not at {options.base_ref}" if ours else f"at {options.base_ref}")


def _by_merge_order(context: PlanContext, options: FixOptions, branches: Branches, head: str):
    """Each branch's first arrival on the checked-out line, when merges brought every branch
    (pull requests merged one after the other): the one merged later is the newer. Says
    nothing when a branch was committed on the line itself (a working branch that merged
    another into it: there the merge brings the older work)."""
    arrivals = [a for a in (context.arrived.get(context.files[i].path) for i in branches.own(head)) if a is not None]
    every = [
        [a for a in (context.arrived.get(context.files[i].path) for i in branches.own(h)) if a is not None]
        for h in branches.heads
    ]
    if not arrivals or not all(found and min(found)[2] for found in every):
        return None
    first = min(arrivals)
    return first[0], f"reached this line in {first[1]}"


def _by_git(context: PlanContext, options: FixOptions, branches: Branches, head: str):
    added = [a for a in (context.added.get(context.files[i].path) for i in branches.own(head)) if a is not None]
    if not context.added:
        return None
    if not added:
        return (float("inf"), "not committed")
    first = min(added)
    return first[0], f"first added in {first[1]}"


def _by_date(context: PlanContext, options: FixOptions, branches: Branches, head: str):
    dates = [parse_create_date(context.files[i].header.create_date) for i in branches.own(head)]
    if not dates or any(d is None for d in dates):
        return None
    first = min(d for d in dates if d is not None)
    return first, f"first Create Date {first:%Y-%m-%d %H:%M:%S}"


LEVELS: tuple[tuple[str, Key], ...] = (
    ("database", _by_database),
    ("--base-ref", _by_base_ref),
    ("merge order", _by_merge_order),
    ("git history", _by_git),
    ("Create Date", _by_date),
)


def _oldest_first(context: PlanContext, options: FixOptions, branches: Branches) -> tuple[list[str], list[str]]:
    """The heads, the branch that stays first, then the newer ones in the order they are
    stacked; and the evidence lines. Refuses (naming ``--head``) when nothing decides."""
    heads = branches.heads
    if options.head:
        # the head named, or (after an earlier step moved a branch onto it) the head above it
        wanted = [h for h in heads if any(r == options.head or r.startswith(options.head) for r in branches.line(h))]
        if len(wanted) > 1:  # a prefix of a shared ancestor: only a head itself names one line
            wanted = [h for h in wanted if h == options.head or h.startswith(options.head)]
        if len(wanted) != 1:
            raise FixRefused(
                f"--head {options.head}: not one of the heads {', '.join(heads)}",
                flag="--head",
                candidates=tuple(heads),
            )
        rest = [h for h in heads if h != wanted[0]]
        return [wanted[0], *rest], [
            f"evidence for the rebase: --head {options.head}: {wanted[0]} stays; {rest[0]}'s branch moves onto it"
        ]
    for kind, level in LEVELS:
        said = {h: level(context, options, branches, h) for h in heads}
        if any(s is None for s in said.values()):
            continue
        keys = {h: s[0] for h, s in said.items() if s is not None}
        oldest = min(keys.values())  # type: ignore[type-var]
        if sum(1 for k in keys.values() if k == oldest) != 1:
            continue
        order = sorted(heads, key=lambda h: (keys[h], h))  # type: ignore[return-value]
        words = "; ".join(f"{h}'s branch {said[h][1]}" for h in order)  # type: ignore[index]
        staying = [name_of(context.files[i].path) for i in sorted(branches.own(order[0]))]
        first_files = ", ".join(staying[:3]) + (f" and {len(staying) - 3} more" if len(staying) > 3 else "")
        return order, [
            f"evidence for the rebase: {order[0]} stays ({first_files}) by {kind}: {words} (the newer branch moves)"
        ]
    choices = " or ".join(f"--head {h}" for h in heads)
    raise FixRefused(
        f"--rebase cannot tell which branch is newer: {', '.join(heads)}; no database, --base-ref, git history "
        f"or Create Date decides; choose the head that stays with {choices}",
        flag="--head",
        candidates=tuple(heads),
    )
