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
        # a file --relink edited and --archive then moves needs no edit: it leaves the chain
        leaving = {a.source for a in archive.actions if a.kind == "move"}
        actions = [a for a in actions if not (a.kind == "edit" and getattr(a, "path", None) in leaving)]
        actions += archive.actions
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
        chosen = FixOptions(**{**_options_dict(options), flag: True})
        try:
            plan = plan_repairs(context, chosen)
        except FixRefused as exc:
            plan = Plan(strategies=(name,), unresolved=(str(exc),))
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
