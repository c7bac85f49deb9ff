"""The strategies combined (``plan_repairs``) and, with none chosen, what each would do
(``plan_overview``), the recommended one first (``recommend``). Pure.

The ranking follows what engineers did on real broken chains (issue 18): a missing parent
is relinked; a duplicated id gets its copy a new id and the branches are then rebased; two
heads are rebased (the newer branch onto the other head), a merge revision being the
alternative. ``--archive`` drops revisions; it is recommended only where nothing it moves is
used by a kept revision or applied by the given database."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence

from migdoc.errors import FixRefused, PlanInvariantError, UsageError
from migdoc.fix.edits import apply_edits
from migdoc.fix.planner.archive import (
    plan_archive,
)
from migdoc.fix.planner.context import (
    PlanContext,
    PlanState,
)
from migdoc.fix.planner.merge import plan_merge
from migdoc.fix.planner.rebase import plan_rebase
from migdoc.fix.planner.reid import objects_created, objects_used, plan_reid
from migdoc.fix.planner.renumber import (
    plan_renumber,
)
from migdoc.fix.planner.repoint import plan_relink
from migdoc.model import (
    Action,
    FixOptions,
    Plan,
    Refusal,
    Severity,
)

STRATEGY_FLAGS = ("is_relink", "is_reid", "is_rebase", "is_archive", "is_merge", "is_renumber")


def plan_repairs(context: PlanContext, options: FixOptions) -> Plan:
    """The plan for the strategies ``options`` chooses, combined in the order
    archive, merge, renumber (each sees the project as the previous left it)."""
    if not options.strategies:
        raise UsageError(
            "choose a strategy: --rebase, --reid, --relink, --merge, --archive or --renumber "
            "(or none, to see what each would do)"
        )
    if options.is_reid and options.is_archive:
        # two answers to one duplicated id: keep the copy under a new id, or archive it
        raise UsageError("--reid and --archive answer a duplicated id in two ways; choose one")
    state = PlanState.initial(context)
    notes: list[str] = list(_database_notes(context, options))
    unresolved: list[str] = []
    actions: list[Action] = []
    main_head = None
    realign = None
    if options.is_relink:
        relink = plan_relink(context, options, state)
        actions += relink.actions
        notes += relink.notes
        unresolved += relink.unresolved
        state = relink.state
    if options.is_relink and options.head and not options.is_rebase and not actions and len(state.heads(context)) > 1:
        # `--relink --head REV` on a fork (no missing parent): the other branch's first
        # revision is re-pointed onto REV, which is what --rebase --head REV does
        actions, state = _taken(plan_rebase(context, options, state), actions, notes, unresolved, state)
    if options.is_reid:
        actions, state = _taken(plan_reid(context, options, state), actions, notes, unresolved, state)
    if options.is_rebase:
        rebase = plan_rebase(context, options, state)
        main_head = rebase.main_head
        actions, state = _taken(rebase, actions, notes, unresolved, state)
    if options.is_archive:
        archive = plan_archive(context, options, state)
        main_head = archive.main_head
        realign = archive.realign
        actions += _after_relink(actions, archive.actions)
        notes += archive.notes
        unresolved += archive.unresolved
        state = archive.state
    if options.is_merge:
        merge = plan_merge(context, options, state)
        actions += merge.actions
        notes += merge.notes
        unresolved += merge.unresolved
    if options.is_renumber:
        renumber = plan_renumber(context, options, state)
        actions += renumber.actions
        notes += renumber.notes
        unresolved += renumber.unresolved
    ordered = _ordered(actions)
    check_one_edit_per_line(ordered)
    return Plan(
        strategies=options.strategies,
        actions=ordered,
        notes=tuple(dict.fromkeys(notes)),
        unresolved=tuple(dict.fromkeys(unresolved)),
        main_head=main_head,
        realign=realign,
    )


def _taken(step, actions: list[Action], notes: list[str], unresolved: list[str], state: PlanState):
    """A re-pointing step (rebase, reid) taken into the plan so far: its actions combined with
    the earlier ones (one edit per file), its notes and what it left unresolved added (in
    place), and the project as it leaves it, or as it was when it changed nothing."""
    notes += step.notes
    unresolved += step.unresolved
    return _combined(actions, step.actions), step.state or state


def _after_relink(relinked: list[Action], archived: Sequence[Action]) -> list[Action]:
    """``--archive``'s actions, taking over ``--relink``'s edits of the same files (``relinked``
    is changed in place): a file relink re-pointed and archive then moves needs no edit (it
    leaves the chain); one archive re-points again gets one edit, archive's, made from the
    original text with the parent archive chose, saying both reasons. Two edits of one file
    would each expect its original text, and the second would find it changed."""
    taken_over = {a.source for a in archived if a.kind == "move"} | {a.path for a in archived if a.kind == "edit"}
    earlier = {a.path: a for a in relinked if a.kind == "edit"}
    relinked[:] = [a for a in relinked if not (a.kind == "edit" and a.path in taken_over)]
    combined: list[Action] = []
    for action in archived:
        before = earlier.get(action.path) if action.kind == "edit" else None
        if before is not None:
            action = dataclasses.replace(
                action,
                reason=f"{before.reason}; then {action.reason}",
                answers=tuple(dict.fromkeys((*before.answers, *action.answers))),
            )
        combined.append(action)
    return combined


def _database_notes(context: PlanContext, options: FixOptions) -> list[str]:
    if not options.database_current:
        return []
    current = ", ".join(options.database_current)
    notes = [f"the database is at {current}: actions on revisions it has applied carry a warning"]
    unknown = [rev for rev in options.database_current if rev not in context.graph.declarations]
    if unknown:
        notes.append(
            f"the database is at {', '.join(unknown)}, which no version file declares; "
            "`migdoc status` says where it went"
        )
    return notes


# The overview's plans, in the order engineers chose them on real chains (issue 18); each
# is (name, strategy flags). "reid" re-ids the copy and then rebases what heads remain.
CANDIDATES: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("relink", ("is_relink",)),
    ("reid", ("is_reid", "is_rebase")),
    ("rebase", ("is_rebase",)),
    ("merge", ("is_merge",)),
    ("archive", ("is_archive",)),
    ("renumber", ("is_renumber",)),
)


def plan_overview(context: PlanContext, options: FixOptions) -> dict[str, Plan]:
    """With no strategy chosen: what each one would do, each from the project as it is, in
    the order they are ranked (:func:`recommend` picks among them).

    Only strategies that would do something (or have something to say) appear.
    """
    proposals: dict[str, Plan] = {}
    for name, flags in CANDIDATES:
        chosen = FixOptions(**{**_options_dict(options), **dict.fromkeys(flags, True), "is_overview": True})
        try:
            plan = plan_repairs(context, chosen)
        except FixRefused as exc:
            refusal = Refusal(str(exc), exc.flag, exc.candidates)
            plan = Plan(strategies=chosen.strategies, unresolved=(str(exc),), refusal=refusal)
        if name == "reid" and not any(len(c) > 1 for c in context.graph.declarations.values()):
            continue  # no duplicated id: the plain rebase says the same
        if plan.actions or plan.unresolved:
            proposals[name] = plan
    return proposals


def recommend(
    context: PlanContext,
    options: FixOptions,
    proposals: dict[str, Plan],
    is_proved: Callable[[Plan], bool] = lambda plan: True,
) -> str | None:
    """The name of the highest-ranked plan that :func:`not_recommended` lets through and that
    is proved (``is_proved``: the proof of a plan on the planned tree, the one place it plugs
    in; the default proves everything). None when no plan qualifies."""
    for name, _ in CANDIDATES:
        plan = proposals.get(name)
        if plan is not None and not_recommended(context, options, name, plan) is None and is_proved(plan):
            return name
    return None


def not_recommended(context: PlanContext, options: FixOptions, name: str, plan: Plan) -> str | None:
    """Why the plan named ``name`` cannot be the recommendation, in a few words; None when it can."""
    from migdoc.fix.planner.context import DUPLICATE_REVISION, HEAD_CONFLICT, MISSING_REVISION, MULTIPLE_HEADS

    failed_proofs = [proof for proof in plan.proofs if proof.is_failed]
    if plan.refusal is not None and not failed_proofs:
        return f"it needs {plan.refusal.flag or 'a choice'} to decide"
    # a failed proof leaves its refusal in `unresolved` too: the plan's own reasons come first
    proof_refusal = plan.refusal.message if plan.refusal is not None and failed_proofs else None
    if [item for item in plan.unresolved if item != proof_refusal]:
        return "it leaves something unresolved"
    if not plan.actions:
        return "it does nothing"
    if name == "renumber":
        return "renames answer a warning, not the error"
    # the errors a recommended plan must answer: those that stop `alembic upgrade head`
    stopping = {DUPLICATE_REVISION, MISSING_REVISION, MULTIPLE_HEADS, HEAD_CONFLICT}
    present = {d.code for d in context.diagnostics if d.severity is Severity.ERROR} & stopping
    left = sorted(present - {code for action in plan.actions for code in action.answers})
    if left:
        return f"it leaves {', '.join(left)}, which stops Alembic"  # a merge over a missing parent, say
    if name == "archive" and (unsafe := archive_unsafe_reason(context, options, plan)) is not None:
        return unsafe
    repeated = repeated_upgrade(context, plan)
    if repeated is not None:
        return f"it keeps {repeated}, whose upgrade() is the same: the DDL would run twice"
    if failed_proofs:
        return "it is not proved: " + "; ".join(f"{proof.name}: {proof.why}" for proof in failed_proofs)
    return None


def archive_unsafe_reason(context: PlanContext, options: FixOptions, plan: Plan) -> str | None:
    """Why an archive plan may not be the recommendation: it moves a revision the given
    database applied, one whose upgrade() is not a repeat of a kept revision's (new work),
    or one that creates what a kept revision uses. None when safe."""
    moved = {a.source for a in plan.actions if a.kind == "move"}
    leaving = [rf for rf in context.files if rf.path in moved]
    kept = [rf for rf in context.files if rf.path not in moved and rf.revision is not None]
    applied = sorted(str(rf.revision) for rf in leaving if rf.revision in options.applied_revisions)
    if applied:
        return f"it archives {', '.join(applied)}, which the database applied"
    used = objects_used(kept)
    for rf in leaving:
        wanted = sorted(objects_created(rf) & used)
        if wanted and not any(objects_created(other) >= set(wanted) for other in kept):
            return f"it archives {rf.revision}, which creates {', '.join(wanted)} that a kept revision uses"
    repeated = {rf.upgrade.fingerprint for rf in kept if rf.upgrade is not None and rf.upgrade.does_work}
    for rf in leaving:
        body = rf.upgrade
        if body is not None and body.does_work and body.fingerprint not in repeated:
            # issue 18: teams archive copies that repeat the kept line, never new work
            return f"it archives {rf.revision}, whose upgrade() is work no kept revision repeats"
    return None


def repeated_upgrade(context: PlanContext, plan: Plan) -> str | None:
    """Two revisions on parallel branches (neither an ancestor of the other) that the plan
    keeps and whose upgrade() is the same work: stacked or merged, the chain would run that
    DDL twice and fail ("already exists"). None when there is no such pair. A static guard
    only; the proof on the planned tree (verify) is the judge."""
    if context.graph.cycles:
        return "the chain has a loop"
    moved = {a.source for a in plan.actions if a.kind == "move"}  # type: ignore[union-attr]
    seen: dict[str, list[int]] = {}
    for index, rf in enumerate(context.files):
        body = rf.upgrade
        if rf.path in moved or rf.revision is None or body is None or not body.does_work:
            continue
        for other in seen.get(body.fingerprint, ()):
            if not (context.graph.is_ancestor(other, index) or context.graph.is_ancestor(index, other)):
                first = context.files[other]
                return f"{first.revision} and {rf.revision}"
        seen.setdefault(body.fingerprint, []).append(index)
    return None


def check_one_edit_per_line(actions: Sequence[Action]) -> None:
    """The invariant every plan keeps: one edit action per file, and no two of its text edits on
    one line. Two edits of one line each expect the original text; applied in turn, the second
    would find the first's result (or close a loop the first opened). Broken: a bug in migdoc."""
    edited: dict[str, int] = {}
    for action in actions:
        if action.kind != "edit":
            continue
        path = action.path  # type: ignore[union-attr]
        edited[path] = edited.get(path, 0) + 1
        lines = [e.line for e in action.edits]  # type: ignore[union-attr]
        if edited[path] > 1 or len(lines) != len(set(lines)):
            raise PlanInvariantError(f"the plan edits {path} twice (lines {sorted(lines)}): a bug in migdoc's planner")


def _combined(earlier: list[Action], later: Sequence[Action]) -> list[Action]:
    """``later``'s edits taking over ``earlier``'s edits of the same file: one edit, made from
    the original text with both strategies' changes (the later one's where both change one
    value), giving both reasons."""
    by_path = {a.path: a for a in earlier if a.kind == "edit"}  # type: ignore[union-attr]
    out = list(earlier)
    for action in later:
        before = by_path.get(action.path) if action.kind == "edit" else None  # type: ignore[union-attr]
        if before is None:
            out.append(action)
            continue
        overridden = {(e.line, e.col) for e in action.edits}  # type: ignore[union-attr]
        kept = [e for e in before.edits if (e.line, e.col) not in overridden]  # type: ignore[union-attr]
        edits = tuple(sorted((*kept, *action.edits), key=lambda e: (e.line, e.col)))  # type: ignore[union-attr]
        merged = dataclasses.replace(
            action,
            edits=edits,
            new_text=apply_edits(before.old_text, edits),  # type: ignore[union-attr]
            reason=f"{before.reason}; then {action.reason}",
            answers=tuple(dict.fromkeys((*before.answers, *action.answers))),
            warnings=tuple(dict.fromkeys((*before.warnings, *action.warnings))),
        )
        out[out.index(before)] = merged
    return out


def _options_dict(options: FixOptions) -> dict:
    """Every field of ``options`` but the strategy flags (a new field is carried over, not dropped)."""
    fields = {f.name: getattr(options, f.name) for f in dataclasses.fields(options)}
    for flag in STRATEGY_FLAGS:
        del fields[flag]
    return fields


def _ordered(actions: Sequence[Action]) -> tuple[Action, ...]:
    """Moves, then new files, then edits, then renames: an edited file is edited at its old path."""
    rank = {"move": 0, "create": 1, "edit": 2, "rename": 3}
    return tuple(sorted(actions, key=lambda a: rank[a.kind]))
