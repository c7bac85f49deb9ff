"""``--relink``: the repair teams make by hand for a revision whose parent is not there
(a migration cherry-picked onto a release branch: MD002, ``KeyError`` in Alembic, and a
second head): re-point it at the branch's current head. Pure.

A missing id that is a near miss of an existing one ("did you mean") is more likely a
typo than a cherry-pick: it is reported, not guessed at.
"""

from __future__ import annotations

import dataclasses
import difflib

from migdoc.fix.edits import down_revision_problem
from migdoc.fix.planner.context import (
    HEAD_CONFLICT,
    MISSING_REVISION,
    MULTIPLE_HEADS,
    PartialPlan,
    PlanContext,
    PlanState,
    codes_on,
    has_error,
    healthy_note,
    repoint_edit,
)
from migdoc.model import Action, FixOptions, Severity


def plan_relink(context: PlanContext, options: FixOptions, state: PlanState | None = None) -> PartialPlan:
    state = state or PlanState.initial(context)
    # with --base-ref the head conflict (MD017) is measured here, against the ref's heads,
    # not among the findings of a plain check
    if not has_error(context) and options.base_ref is None:
        handle = f"an error-level parent no file declares ({MISSING_REVISION}), or with --base-ref a head conflict ({HEAD_CONFLICT})"
        return PartialPlan(notes=(healthy_note("--relink", "nothing to re-point", handle),), state=state)
    files = context.files
    ids = {str(files[i].revision) for i in state.survivors}
    children: dict[str, set[str]] = {}
    for i in state.survivors:
        for parent in state.parents[i]:
            children.setdefault(parent, set()).add(str(files[i].revision))
    actions: list[Action] = []
    notes: list[str] = []
    unresolved: list[str] = []
    parents = dict(state.parents)
    for index in state.survivors:
        rf = files[index]
        if MISSING_REVISION not in codes_on(context, rf.path, (Severity.ERROR,)):
            continue
        old = state.parents[index]
        missing = [p for p in old if p not in ids]
        if not missing:
            continue
        near = {m: _near_misses(m, ids - {str(rf.revision)}) for m in missing}
        if any(near.values()):
            said = "; ".join(f"{m}: did you mean {n[0]}?" for m, n in near.items() if n)
            unresolved.append(
                f"{rf.path}: --relink: {rf.revision} names {', '.join(missing)}, which no file declares ({said}); "
                "a near miss looks like a typo: correct its down_revision by hand"
            )
            continue
        own = _descendants(str(rf.revision), children)
        others = [h for h in state.heads(context) if h not in own]
        if options.head:
            others = [h for h in others if h == options.head or h.startswith(options.head)]
        if len(others) != 1:
            choices = " or ".join(f"--head {h}" for h in others) or "--head REV"
            unresolved.append(
                f"{rf.path}: --relink: {rf.revision} names {', '.join(missing)}, which no file declares, and the "
                f"branch has {len(others)} other heads; choose the one to re-point it at with {choices}"
            )
            continue
        new = tuple(p for p in old if p in ids) + (others[0],)
        text = context.sources.get(rf.path)
        if text is None:
            unresolved.append(f"{rf.path}: --relink: its text is not available")
            continue
        if down_revision_problem(rf) is not None:
            unresolved.append(f"--relink: {down_revision_problem(rf)}")
            continue
        actions.append(
            repoint_edit(
                rf,
                text,
                new,
                reason=(
                    f"its parent {', '.join(missing)} is not on this branch (a cherry-picked migration); "
                    f"re-pointed at the branch's current head {others[0]}"
                ),
                # the cut-off branch was a second head: re-pointed, it is the chain's again
                answers=(MISSING_REVISION, *({MULTIPLE_HEADS} & {d.code for d in context.diagnostics})),
            )
        )
        parents[index] = new
    if options.base_ref is not None:
        rebased = _onto_ref_head(context, options, state, parents)
        if isinstance(rebased, str):
            unresolved.append(rebased)
        elif rebased is not None:
            index, head, action = rebased
            # one edit per file: a revision relinked above and re-pointed onto REF's head here
            # gets one edit, made from its original text with the final parent, both reasons
            earlier = [a for a in actions if a.path == action.path]  # type: ignore[union-attr]
            if earlier:
                actions.remove(earlier[0])
                action = dataclasses.replace(
                    action,
                    reason=f"{earlier[0].reason}; then {action.reason}",
                    answers=tuple(dict.fromkeys((*earlier[0].answers, *action.answers))),
                )
            actions.append(action)
            parents[index] = (head,)
    if not actions and not unresolved:
        notes.append("--relink: no revision names a parent this branch lacks; nothing to re-point")
    return PartialPlan(
        actions=tuple(actions),
        notes=tuple(notes),
        unresolved=tuple(unresolved),
        state=PlanState(state.survivors, parents),
    )


def _onto_ref_head(context: PlanContext, options: FixOptions, state: PlanState, parents: dict):
    """MD017's "rebase your migration": this branch's first new revision re-pointed onto
    REF's head. (index, head, action), a reason it cannot (str), or None when nothing is to do."""
    files = context.files
    ref = options.base_ref
    # new here: added on this branch and not declared at REF (a file this branch changed,
    # REF's head say, is not new: taking it for new once printed "REF has 0 heads")
    ours = [
        i
        for i in state.survivors
        if files[i].path in options.ours_paths and str(files[i].revision) not in options.base_ref_revisions
    ]
    our_ids = {str(files[i].revision) for i in ours}
    roots = [i for i in ours if not any(p in our_ids for p in parents[i])]
    heads = list(options.base_ref_heads)
    if not roots:
        return None
    if len(heads) != 1:
        return f"--relink --base-ref {ref}: {ref} has {len(heads)} heads ({', '.join(heads)}); merge them there first"
    if len(roots) != 1:
        listed = ", ".join(str(files[i].revision) for i in roots)
        return f"--relink --base-ref {ref}: this branch adds {len(roots)} new lines ({listed}); re-point them by hand"
    index, head = roots[0], heads[0]
    rf = files[index]
    if parents[index] == (head,):
        return None
    children: dict[str, set[str]] = {}
    for i in state.survivors:
        for parent in parents[i]:
            children.setdefault(parent, set()).add(str(files[i].revision))
    if head in _descendants(str(rf.revision), children):
        # REF's head already sits above this revision (a revert, a merge of REF): re-pointing
        # it there would close a loop
        return (
            f"{rf.path}: --relink --base-ref {ref}: {ref}'s head {head} already descends from {rf.revision}; "
            "nothing to rebase"
        )
    if head not in {str(files[i].revision) for i in state.survivors}:
        return (
            f"{rf.path}: --relink --base-ref {ref}: {ref}'s head {head} is not in this working tree; "
            f"merge {ref} into this branch first (git), then run this again"
        )
    text = context.sources.get(rf.path)
    if text is None:
        return f"{rf.path}: --relink: its text is not available"
    if down_revision_problem(rf) is not None:
        return f"--relink: {down_revision_problem(rf)}"
    action = repoint_edit(
        rf,
        text,
        (head,),
        reason=(
            f"this branch's first new revision; {ref} moved on to {head}, so it is re-pointed onto {head} "
            f"(was {', '.join(parents[index]) or 'a base'}), as rebasing a migration by hand does"
        ),
        # with REF merged in, the two lines are two heads here too: re-pointed, they are one
        answers=(HEAD_CONFLICT, *({MULTIPLE_HEADS} & {d.code for d in context.diagnostics})),
    )
    return index, head, action


def _near_misses(missing: str, ids: set[str]) -> list[str]:
    """An existing id the missing one is a near miss of (a typo), or nothing. Short ids
    (``0006`` against ``0003``) always look alike, so only ids of 8 characters or more count."""
    if len(missing) < 8:
        return []
    return difflib.get_close_matches(missing, sorted(i for i in ids if len(i) >= 8), n=1, cutoff=0.85)


def _descendants(revision: str, children: dict[str, set[str]]) -> set[str]:
    found = {revision}
    todo = [revision]
    while todo:
        for child in children.get(todo.pop(), ()):
            if child not in found:
                found.add(child)
                todo.append(child)
    return found
