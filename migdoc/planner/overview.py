"""The strategies combined (``plan_repairs``) and, with none chosen, what each would do
(``plan_overview``). Pure."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

from migdoc.errors import FixRefused, UsageError
from migdoc.model import (
    Action,
    FixOptions,
    Plan,
    Refusal,
)
from migdoc.planner.archive import (
    plan_archive,
)
from migdoc.planner.context import (
    PlanContext,
    PlanState,
)
from migdoc.planner.merge import plan_merge
from migdoc.planner.renumber import (
    plan_renumber,
)
from migdoc.planner.repoint import plan_relink


def plan_repairs(context: PlanContext, options: FixOptions) -> Plan:
    """The plan for the strategies ``options`` chooses, combined in the order
    archive, merge, renumber (each sees the project as the previous left it)."""
    if not options.strategies:
        raise UsageError(
            "choose a strategy: --archive, --merge, --renumber or --relink (or none, to see what each would do)"
        )
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
    return Plan(
        strategies=options.strategies,
        actions=_ordered(actions),
        notes=tuple(dict.fromkeys(notes)),
        unresolved=tuple(dict.fromkeys(unresolved)),
        main_head=main_head,
        realign=realign,
    )


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


def plan_overview(context: PlanContext, options: FixOptions) -> dict[str, Plan]:
    """With no strategy chosen: what each one would do, each from the project as it is.

    Only strategies that would do something (or have something to say) appear.
    """
    proposals: dict[str, Plan] = {}
    for name, flag in (
        ("archive", "is_archive"),
        ("merge", "is_merge"),
        ("renumber", "is_renumber"),
        ("relink", "is_relink"),
    ):
        chosen = FixOptions(**{**_options_dict(options), flag: True, "is_overview": True})
        try:
            plan = plan_repairs(context, chosen)
        except FixRefused as exc:
            refusal = Refusal(str(exc), exc.flag, exc.candidates)
            plan = Plan(strategies=(name,), unresolved=(str(exc),), refusal=refusal)
        if plan.actions or plan.unresolved:
            proposals[name] = plan
    return proposals


def _options_dict(options: FixOptions) -> dict:
    """Every field of ``options`` but the strategy flags (a new field is carried over, not dropped)."""
    fields = dataclasses.asdict(options)
    for flag in ("is_archive", "is_merge", "is_renumber", "is_relink"):
        del fields[flag]
    return fields


def _ordered(actions: Sequence[Action]) -> tuple[Action, ...]:
    """Moves, then new files, then edits, then renames: an edited file is edited at its old path."""
    rank = {"move": 0, "create": 1, "edit": 2, "rename": 3}
    return tuple(sorted(actions, key=lambda a: rank[a.kind]))
