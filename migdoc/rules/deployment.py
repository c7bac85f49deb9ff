"""Rules that look past the working tree: MD016 (the deployed database) and
MD017 (the branch this one merges into). Pure: the edges read the database
and git and put what they found in the :class:`CheckContext`; without that
data these rules find nothing."""

from __future__ import annotations

from collections.abc import Iterator

from migdoc.chain.graph import build_graph
from migdoc.rules.registry import CheckContext, Finding, rule

_OURS, _THEIRS = "ours", "theirs"


@rule(
    "MD016",
    "deployed-revision-unknown",
    "error",
    summary=("With `--database-url`: the database's `alembic_version` holds a revision that no version file declares."),
    why=(
        'Every Alembic command against that database stops with "Can\'t locate revision identified by ...": '
        "the revision was deleted, renamed or archived after it was deployed. Deploys fail at the worst moment."
    ),
    example="""
alembic_version: 0002a
migrations/archive/2025-11-20/0002a_add_order_notes.py   revision = "0002a"   <- MD016: archived, not in versions/""",
    fix=(
        "`fix` never archives or relinks a revision a database has applied without saying so; where a plan moves the "
        "database's current revision out of the chain it prints the `alembic stamp` command that realigns it. "
        "Otherwise restore the file, or stamp the database at the revision whose schema it really has. "
        "A revision `migdoc squash` archived is named with its baseline: upgrade the database to it with the "
        "old chain before taking the squash."
    ),
)
def deployed_revision_unknown(context: CheckContext) -> Iterator[Finding]:
    if context.deployed is None:
        return
    graph = context.graph
    for revision in context.deployed:
        if graph.resolve(revision) is not None:
            continue
        related: tuple[str, ...] = ()
        if revision in context.squashed:
            baseline = context.squashed[revision]
            yield Finding(
                None,
                0,
                f"the database is stamped with revision {revision!r}, which `migdoc squash` archived "
                f"({context.archived[revision]}) into the baseline {baseline}; Alembic will stop with "
                f"\"Can't locate revision identified by '{revision}'\": upgrade that database to {baseline} with the "
                f"old chain (`alembic upgrade {baseline}` before taking the squash), or `alembic stamp {baseline}` "
                f"once its schema is {baseline}'s",
                revision,
                (context.archived[revision],),
            )
            continue
        if revision in context.archived:
            where = f"it is in the archive: {context.archived[revision]}"
            related = (context.archived[revision],)
        elif revision in context.lost_revisions:
            where = context.lost_revisions[revision]
        else:
            where = "neither the archive folder nor git history knows it"
        yield Finding(
            None,
            0,
            f"the database is stamped with revision {revision!r}, which no version file declares; {where}. "
            f"Alembic will stop with \"Can't locate revision identified by '{revision}'\": restore that file, "
            "or `alembic stamp` the database at the revision whose schema it really has",
            revision,
            related,
        )


@rule(
    "MD017",
    "head-conflict",
    "error",
    summary=(
        "With `--base-ref REF`: merging this branch into REF would leave more than one head, or two files "
        "declaring one revision id."
    ),
    why=(
        "Two pull requests that each add a child of the same head merge in git without a conflict, and main "
        'ends up with two Alembic heads: the next deploy stops with "Multiple head revisions are present".'
    ),
    example="""
origin/main:  0004 <- 0005_add_refunds.py
this branch:  0004 <- 0005_add_coupons.py   down_revision = "0004"   <- MD017: rebase onto 0005 (refunds)""",
    fix=(
        "Not changed by `fix`: rebase the branch, then set the `down_revision` named in the message to REF's head "
        "(or give a colliding revision a new id); `fix --merge` after merging writes a merge revision instead."
    ),
)
def head_conflict(context: CheckContext) -> Iterator[Finding]:
    view = context.merged
    if view is None:
        return
    ours = context.graph
    merged = build_graph(view.files)
    origin = view.origins

    def side(index: int) -> str:
        return origin.get(merged.files[index].path, "common")

    for revision, indexes in sorted(merged.declarations.items()):
        sides = {side(i) for i in indexes}
        if len(indexes) < 2 or _OURS not in sides or sides == {_OURS}:
            continue
        others = [merged.files[i].path for i in indexes if side(i) != _OURS]
        for index in indexes:
            if side(index) != _OURS:
                continue
            rf = merged.files[index]
            yield Finding(
                rf,
                rf.line,
                f"revision id {revision!r} is also declared by {', '.join(others)}: after merging into "
                f"{view.ref} Alembic would keep only one of them; give this revision a new id",
                revision,
                tuple(others),
            )

    if len(merged.kept_heads) <= 1 or len(merged.kept_heads) <= len(ours.kept_heads):
        return
    heads_text = ", ".join(
        f"{head!r} ({'this branch' if side(merged.kept[head]) == _OURS else view.ref})" for head in merged.kept_heads
    )
    reported = False
    for index in merged.kept_indexes:
        rf = merged.files[index]
        if side(index) != _OURS:
            continue
        for parent in rf.down_revisions:
            # down_revision is looked up exactly (Alembic resolves prefixes only in commands).
            parent_index = merged.kept.get(parent)
            if parent_index is None and parent in ours.kept and view.ref_heads:
                # The parent exists here but the merge drops it: REF deleted it since we branched.
                onto_text = " or ".join(repr(h) for h in view.ref_heads)
                reported = True
                yield Finding(
                    rf,
                    rf.line_of("down_revision"),
                    f"merging into {view.ref} would leave {len(merged.kept_heads)} heads ({heads_text}): "
                    f"{parent!r} was deleted on {view.ref} since this branch forked. Rebase onto {view.ref}'s head "
                    f"{onto_text}: change down_revision of {rf.revision!r} from {parent!r} to {onto_text}",
                    rf.revision,
                    tuple(merged.files[merged.kept[h]].path for h in view.ref_heads if h in merged.kept),
                )
                continue
            if parent_index is None or side(parent_index) == _OURS:
                continue
            # REF's heads that grew from the same parent: what this branch must rebase onto.
            rivals = [child for child in merged.children(parent_index) if child != index and side(child) != _OURS]
            if not rivals:
                continue
            targets = sorted(
                {
                    head
                    for head in merged.kept_heads
                    if side(merged.kept[head]) != _OURS
                    and (merged.kept[head] in rivals or any(merged.kept[head] in merged.descendants(r) for r in rivals))
                }
            )
            if not targets:
                continue
            onto = targets[0] if len(targets) == 1 else " or ".join(repr(t) for t in targets)
            onto_text = repr(onto) if len(targets) == 1 else onto
            target_files = [merged.files[merged.kept[t]].path for t in targets]
            line = rf.line_of("down_revision")
            reported = True
            yield Finding(
                rf,
                line,
                f"merging into {view.ref} would leave {len(merged.kept_heads)} heads ({heads_text}): "
                f"this revision and {view.ref} both build on {parent!r}. Rebase onto {view.ref}'s head "
                f"{onto_text}: change down_revision of {rf.revision!r} from {parent!r} to {onto_text}",
                rf.revision,
                tuple(target_files),
            )
    if not reported:
        yield Finding(
            None,
            0,
            f"merging into {view.ref} would leave {len(merged.kept_heads)} heads ({heads_text}); "
            f"{view.ref} alone has {len(view.ref_heads)}, this branch {len(ours.kept_heads)}",
            None,
            tuple(merged.files[merged.kept[h]].path for h in merged.kept_heads),
        )
