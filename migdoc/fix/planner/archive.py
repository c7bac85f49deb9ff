"""``--archive``: keep the main line (the ancestry, through ``down_revision`` and
``depends_on``, of the main head) and archive the rest; the relinking is in ``relink``, the
evidence in ``evidence``. Pure.

Over ~400 lines for a reason: choosing the main head, the copies of a duplicated id and the
main-line repeats are three answers to one question (what leaves the chain), each using
the others' result; split, the order they must run in would live in no file.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping, Sequence
from pathlib import PurePosixPath

from migdoc.chain.replay import find_redundancies
from migdoc.errors import FixRefused
from migdoc.fix.edits import down_revision_problem
from migdoc.fix.planner.context import (
    DUPLICATE_CONTENT,
    DUPLICATE_REVISION,
    HEADER_MISMATCH,
    MISSING_REVISION,
    MULTIPLE_HEADS,
    REDUNDANT_OPERATION,
    PartialPlan,
    PlanContext,
    PlanState,
    codes_on,
    depends_ids,
    folder_of,
    has_error,
    healthy_note,
    name_of,
    repoint_edit,
)
from migdoc.fix.planner.descent import Descent
from migdoc.fix.planner.evidence import choose_head_by_evidence, choose_original, head_evidence_against, names_file
from migdoc.fix.planner.relink import (
    branch_point,
    drop_implied,
    nearest_surviving,
    plan_realign,
)
from migdoc.model import (
    Action,
    CreateFile,
    FixOptions,
    MoveFile,
    RevisionFile,
    Severity,
)
from migdoc.project.naming import (
    parse_create_date,
)

ARCHIVE_HANDLE = (
    f"an error-level finding: a duplicated id ({DUPLICATE_REVISION}), a second head ({MULTIPLE_HEADS}), "
    f"a repeated operation ({REDUNDANT_OPERATION})"
)


def _choose_main_head(context: PlanContext, descent: Descent, options: FixOptions, evidence: list[str]) -> int:
    if options.head:
        wanted = options.head
        if wanted not in descent.declarations:
            matches = [rev for rev in descent.declarations if rev.startswith(wanted)]
            if len(matches) > 1:
                raise FixRefused(
                    f"--head {wanted}: starts {len(matches)} revisions ({', '.join(sorted(matches))}); give more of it",
                    flag="--head",
                    candidates=tuple(sorted(matches)),
                )
            if not matches:
                raise FixRefused(f"--head {wanted}: no such revision", flag="--head")
            wanted = matches[0]
        chosen = descent.choose_copy(wanted)
        evidence += head_evidence_against(context, options, descent.heads(), descent.main_line, wanted)
        return chosen
    heads = descent.heads()
    longest, tied, deepest = _longest_head(context, descent, heads)
    chosen, said = choose_head_by_evidence(
        context,
        options,
        heads,
        descent.main_line,
        longest=(str(context.files[longest].revision), deepest + 1) if longest is not None else None,
    )
    if chosen is not None:
        evidence += said
        return chosen
    if longest is None:
        choices = " or ".join(f"--head {rev}" for rev in tied)
        raise FixRefused(
            f"--archive cannot choose the main head: {', '.join(tied)} are equally long "
            f"({deepest + 1} revisions from a base) and equally new; choose with {choices}",
            flag="--head",
            candidates=tuple(tied),
        )
    return longest


def _longest_head(context: PlanContext, descent: Descent, heads: list[int]) -> tuple[int | None, list[str], int]:
    """The head with the longest path from a base, ties to the newest (Create Date): (its
    chosen copy, or None on a tie; the tied revisions; the depth)."""
    files = context.files
    deepest = max(descent.depth(h) for h in heads)
    tied = [h for h in heads if descent.depth(h) == deepest]
    if len({files[h].revision for h in tied}) > 1:
        dated = {h: parse_create_date(files[h].header.create_date) for h in tied}
        if all(d is not None for d in dated.values()):
            newest = max(d for d in dated.values() if d is not None)
            tied = [h for h in tied if dated[h] == newest]
    revisions = sorted({str(files[h].revision) for h in tied})
    if len(revisions) > 1:
        return None, revisions, deepest
    return descent.choose_copy(revisions[0]), revisions, deepest


def _error_region(context: PlanContext) -> Callable[[int], bool]:
    """Whether file ``index`` lies in the part of the chain an error-level finding concerns:
    the finding is on it, names it, or is on (or names) a file declaring one of its parents."""
    troubled = set()
    for d in context.diagnostics:
        if d.severity is Severity.ERROR:
            troubled |= {d.file, *d.related} - {None}
    troubled_ids = {str(rf.revision) for rf in context.files if rf.path in troubled}

    def concerned(index: int) -> bool:
        rf = context.files[index]
        return rf.path in troubled or any(p in troubled_ids for p in rf.down_revisions)

    return concerned


def is_labelled_layout(context: PlanContext) -> bool:
    # info (labelled branches) or warning (labels computed at import time): never merged or archived
    return any(d.code == MULTIPLE_HEADS and d.severity is not Severity.ERROR for d in context.diagnostics)


def _repeats_ancestor(
    context: PlanContext,
    index: int,
    ancestors: Callable[[], set[int]],
    redundant: Mapping[int, list],
    same_body: Mapping[str, list[int]],
) -> tuple[str, tuple[str, ...]] | None:
    """Why ``index``'s upgrade only repeats a main-line ancestor's, or None.

    ``ancestors`` walks the main-line ancestry; it is called only when a
    main-line file has the same body (``same_body``: fingerprint -> files) or a
    redundancy names this file, so a long healthy chain is never walked per revision."""
    rf = context.files[index]
    body = rf.upgrade
    if body is None or not body.does_work:
        return None
    if DUPLICATE_CONTENT not in rf.ignored_codes:
        twins = [i for i in same_body.get(body.fingerprint, ()) if i != index]
        if twins:
            found = ancestors()
            for ancestor in sorted(twins):
                if ancestor in found:
                    return (
                        f"its upgrade() is the same as its ancestor {context.files[ancestor].revision}'s",
                        (DUPLICATE_CONTENT,),
                    )
    if REDUNDANT_OPERATION not in rf.ignored_codes and body.operations and redundant.get(index):
        found = ancestors()
        repeats = [r for r in redundant[index] if r.earlier in found]
        repeated_ops = [r.operation for r in repeats]
        if all(op in repeated_ops for op in body.operations):
            earlier = sorted({str(context.files[r.earlier].revision) for r in repeats})
            what = "; ".join(r.description for r in repeats)
            return (
                f"every operation of its upgrade() repeats ancestor {', '.join(earlier)} ({what})",
                (REDUNDANT_OPERATION,),
            )
    return None


def plan_archive(context: PlanContext, options: FixOptions, state: PlanState | None = None) -> PartialPlan:
    """Archive what is not on the main line, and main-line repeats; relink the rest."""
    state = state or PlanState.initial(context)
    files = context.files
    graph = context.graph
    if graph.cycles:
        loops = "; ".join(" -> ".join(c) for c in graph.cycles)
        return PartialPlan(
            unresolved=(f"--archive: the chain has a loop ({loops}); break it by hand first (MD005)",), state=state
        )
    if is_labelled_layout(context):
        return PartialPlan(
            notes=("--archive: the heads sit on their own labelled branches (a deliberate layout); nothing archived",),
            state=state,
        )
    if not has_error(context):
        return PartialPlan(notes=(healthy_note("--archive", "nothing to archive", ARCHIVE_HANDLE),), state=state)
    unreadable = sorted(rf.path for rf in files if rf.read_error is not None)
    if unreadable:
        # an unread file's links are unknown: its children would look like a dead branch
        # (three Python 2 files of a real chain made 90 moves of live revisions)
        listed = ", ".join(unreadable[:3]) + (f" and {len(unreadable) - 3} more" if len(unreadable) > 3 else "")
        return PartialPlan(
            unresolved=(
                f"--archive: {len(unreadable)} revision file{'s' if len(unreadable) > 1 else ''} cannot be read "
                f"(MD010: {listed}); what they link "
                "is unknown, so live revisions would look like dead branches; fix them first (nothing archived)",
            ),
            state=state,
        )
    descent = Descent(context, state.survivors, state.parents)
    if not descent.usable:
        return PartialPlan(state=state)
    evidence: list[str] = []
    copies_of_ids = [files[c].path for copies in descent.declarations.values() if len(copies) > 1 for c in copies]
    for wanted in options.keep:
        if not any(names_file(path, wanted) for path in copies_of_ids):
            raise FixRefused(
                f"--keep {wanted}: no file of a duplicated revision id has that name",
                flag="--keep",
                candidates=tuple(sorted(copies_of_ids)),
            )
    for rev, copies in sorted(descent.declarations.items()):
        if len(copies) > 1:
            descent.preferred[rev], said = choose_original(context, options, copies, rev)
            evidence += said
    head = _choose_main_head(context, descent, options, evidence)
    main_line = descent.main_line(head)
    head_rev = str(files[head].revision)
    notes = [
        f"main head: {head_rev} ({files[head].path}), {descent.depth(head) + 1} revisions from a base"
        + ("" if options.head else "; --head REV chooses another"),
        *evidence,
    ]
    in_trouble = _error_region(context)

    reasons: dict[int, tuple[str, tuple[str, ...]]] = {}
    branch_points: dict[int, str | None] = {}
    for index in descent.usable:
        if index in main_line:
            continue
        rf = files[index]
        codes = codes_on(context, rf.path)
        rev = str(rf.revision)
        if len(descent.declarations[rev]) > 1 and any(c in main_line for c in descent.declarations[rev]):
            keeper = next(c for c in descent.declarations[rev] if c in main_line)
            why = f"a second file declaring revision {rev}; the main line keeps {files[keeper].path} (evidence above)"
            codes |= {DUPLICATE_REVISION}
        else:
            root = branch_point(descent, index, main_line, branch_points)
            why = f"dead branch: not an ancestor of the main head {head_rev}" + (
                f" (branched off {root})" if root else ""
            )
            codes |= {MULTIPLE_HEADS} & {d.code for d in context.diagnostics}
            if len(descent.declarations[rev]) > 1:
                codes |= {DUPLICATE_REVISION}
        reasons[index] = (why, tuple(sorted(codes)))

    # Main-line revisions that only repeat an ancestor (MD011/MD012).
    redundant: dict[int, list] = {}
    for r in find_redundancies(graph):
        redundant.setdefault(r.index, []).append(r)
    depended = {d for i in main_line for d in depends_ids(context, i)}
    unresolved: list[str] = []
    same_body: dict[str, list[int]] = {}
    for index in main_line:
        body = files[index].upgrade
        if body is not None and body.does_work:
            same_body.setdefault(body.fingerprint, []).append(index)
    # ancestors first (a longest path from a base only grows along an edge)
    for index in sorted(main_line, key=lambda i: (descent.depth(i), i)):
        if index == head and len(main_line) == 1:
            continue
        repeat = _repeats_ancestor(
            context, index, functools.partial(descent.main_ancestors, index), redundant, same_body
        )
        if repeat is None:
            continue
        rev = str(files[index].revision)
        if not in_trouble(index):
            # a healthy stretch of chain: a deployed data migration may repeat an ancestor's text
            continue
        if rev in depended:
            notes.append(f"{rev} only repeats an ancestor but another revision depends_on it; left in place")
            continue
        codes = set(repeat[1]) | codes_on(context, files[index].path, (Severity.ERROR, Severity.WARNING))
        reasons[index] = (f"on the main line, but {repeat[0]}", tuple(sorted(codes)))
    for index in sorted(main_line):
        if index in reasons:
            continue
        rf = files[index]
        if REDUNDANT_OPERATION in codes_on(context, rf.path, (Severity.ERROR,)):
            unresolved.append(
                f"{rf.path}: MD012 redundant operation in {rf.revision}, which also does other work; fix it by hand"
            )
        if MISSING_REVISION in codes_on(context, rf.path, (Severity.ERROR,)) and state.parents[index] == (
            rf.down_revisions
        ):
            unresolved.append(
                f"{rf.path}: MD002 {rf.revision} names a revision no file declares; --archive cannot restore it"
            )

    if not reasons:
        return PartialPlan(notes=(), unresolved=tuple(unresolved), main_head=head_rev, state=state)

    archived = set(reasons)
    survivors = tuple(i for i in state.survivors if i not in archived)
    surviving_ids = {str(files[i].revision) for i in survivors}
    archive_dir = options.archive_dir or f"{context.archive_root}/{options.now:%Y-%m-%d}"
    refuse_bad_archive_dir(context, archive_dir)
    archived_as = archived_names(context, archive_dir, sorted(archived))

    actions: list[Action] = []
    for index in sorted(archived, key=lambda i: files[i].path):
        rf = files[index]
        why, codes = reasons[index]
        actions.append(
            MoveFile(
                source=rf.path,
                target=f"{archive_dir}/{archived_as[index]}",
                sha256=rf.sha256,
                reason=why,
                answers=codes,
                revision=rf.revision,
                warnings=_archive_warnings(context, options, index, surviving_ids),
            )
        )

    # Relink survivors whose parent left.
    parents = dict(state.parents)
    relinked: list[tuple[RevisionFile, tuple[str, ...], tuple[str, ...]]] = []
    for index in survivors:
        rf = files[index]
        old = state.parents[index]
        left = [p for p in old if p not in surviving_ids and p in descent.declarations]
        if not left:
            continue  # no parent archived: a redundant parent (MD018) is the user's to drop
        new = nearest_surviving(descent, old, surviving_ids, main_line)
        # Drop only the implied parents this relink brought in; one the user wrote stays.
        pruned = drop_implied(descent, new, main_line)
        new = tuple(p for p in new if p in pruned or p in old)
        parents[index] = new
        if new == old:
            continue
        text = context.sources.get(rf.path)
        if text is None:
            unresolved.append(f"{rf.path}: its parent {', '.join(left)} was archived but its text is not available")
            continue
        if down_revision_problem(rf) is not None:
            unresolved.append(f"its parent {', '.join(left)} was archived, but {down_revision_problem(rf)}")
            continue
        shown_new = ", ".join(new) or "None (a base)"
        actions.append(
            repoint_edit(
                rf,
                text,
                new,
                reason=f"its parent {', '.join(left)} was archived; relinked to the nearest surviving ancestor {shown_new}",
                answers=tuple(sorted({HEADER_MISMATCH} & codes_on(context, rf.path))),
                warnings=(
                    (
                        f"applied in the database: {rf.revision}; relinking edits only its down_revision "
                        "(no migration runs, alembic_version keeps it)",
                    )
                    if rf.revision in options.applied_revisions
                    else ()
                ),
            )
        )
        relinked.append((rf, old, new))
    realign = plan_realign(descent, options, surviving_ids, main_line)

    actions.append(
        CreateFile(
            path=readme_path(context, archive_dir),
            content=_archive_readme(context, options, head, actions, relinked, evidence),
            reason="why each file was archived, for the next person who looks",
        )
    )
    return PartialPlan(
        actions=tuple(actions),
        notes=tuple(notes),
        unresolved=tuple(unresolved),
        main_head=head_rev,
        state=PlanState(survivors, parents),
        realign=realign,
    )


def _archive_warnings(context: PlanContext, options: FixOptions, index: int, surviving: set[str]) -> tuple[str, ...]:
    """What archiving file ``index`` means for the database, when it has applied that revision."""
    revision = str(context.files[index].revision)
    if revision not in options.applied_revisions:
        return ()
    if revision in surviving:
        kept = next(rf.path for i, rf in enumerate(context.files) if rf.revision == revision and i != index)
        return (
            f"applied in the database: {revision}; the id stays in the chain through {kept}, "
            "so alembic_version needs no change",
        )
    if revision in options.database_current:
        return (
            f"applied in the database: {revision} is its current revision; archiving takes it out of the chain, "
            "so the database must be stamped (below)",
        )
    return (
        f"applied in the database: {revision}, an ancestor of its current {', '.join(options.database_current)}; "
        "alembic_version does not name it",
    )


def refuse_bad_archive_dir(context: PlanContext, archive_dir: str) -> None:
    for location in context.version_dirs:
        folder = PurePosixPath(archive_dir)
        if folder == PurePosixPath(location) or PurePosixPath(location) in folder.parents:
            raise FixRefused(
                f"archive folder {archive_dir} is inside the version location {location}; "
                "Alembic would still load the files; choose another with --archive-dir",
                flag="--archive-dir",
            )


def archived_names(context: PlanContext, archive_dir: str, leaving: Sequence[int]) -> dict[int, str]:
    """File index -> its name in the archive folder. A name already there (an earlier fix), or
    taken by another file archived now (two ``0025_x.py`` from two version folders), gets a
    distinct one (``0025_x-2.py``): the journal and the archive README record it."""
    taken = set(context.existing_names.get(archive_dir, frozenset()))
    names: dict[int, str] = {}
    for index in sorted(leaving, key=lambda i: context.files[i].path):
        name = name_of(context.files[index].path)
        stem, dot, suffix = name.rpartition(".")
        stem, suffix = (stem, f".{suffix}") if dot else (name, "")
        counter = 2
        while name in taken:
            name = f"{stem}-{counter}{suffix}"
            counter += 1
        taken.add(name)
        names[index] = name
    return names


def readme_path(context: PlanContext, archive_dir: str) -> str:
    present = context.existing_names.get(archive_dir, frozenset())
    name = "README.md"
    counter = 2
    while name in present:
        name = f"README-{counter}.md"
        counter += 1
    return f"{archive_dir}/{name}"


def _archive_readme(
    context: PlanContext,
    options: FixOptions,
    head: int,
    actions: Sequence[Action],
    relinked: Sequence[tuple[RevisionFile, tuple[str, ...], tuple[str, ...]]],
    evidence: Sequence[str],
) -> str:
    head_file = context.files[head]
    lines = [
        f"# Archived by `migdoc fix --archive` on {options.now:%Y-%m-%d}",
        "",
        "These revision files were moved out of the version folders; nothing was deleted.",
        f"The main line is the ancestry of head {head_file.revision} ({name_of(head_file.path)}).",
        "",
    ]
    if evidence:
        # the reasons below point at it ("evidence above"): it is recorded here, not only printed
        lines += ["Evidence for the choices made:", "", *(f"- {line}" for line in evidence), ""]
    for action in actions:
        if isinstance(action, MoveFile):
            answers = f" [{', '.join(action.answers)}]" if action.answers else ""
            renamed = name_of(action.target) != name_of(action.source)
            lines.append(
                f"- `{name_of(action.source)}` (revision {action.revision}, from `{folder_of(action.source)}/`"
                + (f", archived as `{name_of(action.target)}`, as the name was taken" if renamed else "")
                + "): "
                f"{action.reason}{answers}"
            )
    if relinked:
        lines += ["", "Relinked to their nearest surviving ancestor:", ""]
        for rf, old, new in relinked:
            lines.append(
                f"- `{name_of(rf.path)}` ({rf.revision}): down_revision {', '.join(old)} -> {', '.join(new) or 'None'}"
            )
    lines += [
        "",
        "To put everything back: `migdoc fix --undo` (right after applying), or move the files back by hand.",
        "",
    ]
    return "\n".join(lines)
