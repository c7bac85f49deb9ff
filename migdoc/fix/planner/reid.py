"""``--reid``: a revision id declared by two files (MD001), repaired as engineers repair it:
the copy gets back the id its file name carries when that id is free (a copied
``0025b_x.py`` that kept ``revision = "0025"``), else a fresh id in the project's style
(numbered chains: the next number; otherwise 12 hex characters), and the revisions that
grew on the copy are re-pointed at the new id. Nothing leaves the chain. Pure.

Which file is the copy is decided by :mod:`.evidence` (``--keep`` decides where it cannot).
Which revisions naming the shared id grew on the copy, strongest first: a revision that
uses an object only the copy creates; one whose id carries the copy's letter suffix
(``0026b`` after ``0025b``); one git added in the copy's commit. The rest stay on the
original.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence

from migdoc.fix.edits import apply_edits, relink_edits, revision_edits
from migdoc.fix.planner.context import (
    DUPLICATE_REVISION,
    FILENAME_MISMATCH,
    HEADER_MISMATCH,
    PartialPlan,
    PlanContext,
    PlanState,
    codes_on,
    has_error,
    healthy_note,
    name_of,
)
from migdoc.fix.planner.evidence import choose_original
from migdoc.model import EditText, FixOptions, RevisionFile, TextEdit
from migdoc.project.naming import filename_revision

_LEADING_ID = re.compile(r"^(\d+[a-z]*|[0-9a-f]{12})(?=[_\-.]|$)")
_NUMBER_SUFFIX = re.compile(r"^(\d+)([a-z]+)$")


def plan_reid(context: PlanContext, options: FixOptions, state: PlanState | None = None) -> PartialPlan:
    state = state or PlanState.initial(context)
    if not has_error(context):
        note = healthy_note("--reid", "nothing to re-id", f"an error-level duplicated id ({DUPLICATE_REVISION})")
        return PartialPlan(notes=(note,), state=state)
    files = context.files
    declarations: dict[str, list[int]] = {}
    for i in state.survivors:
        declarations.setdefault(state.revision_of(context, i), []).append(i)
    duplicated = {rev: copies for rev, copies in sorted(declarations.items()) if len(copies) > 1}
    if not duplicated:
        return PartialPlan(notes=("--reid: no revision id is declared twice; nothing to re-id",), state=state)
    taken = set(declarations) | set(context.archived) | set(context.graph.declarations)
    renamed = dict(state.renamed)
    parents = dict(state.parents)
    notes: list[str] = []
    unresolved: list[str] = []
    reasons: dict[int, list[str]] = {}
    for rev, copies in duplicated.items():
        original, evidence = choose_original(context, options, copies, rev)
        notes += evidence
        for copy in (c for c in copies if c != original):
            new_id, how = _new_id(context, copy, rev, taken)
            taken.add(new_id)
            renamed[copy] = new_id
            reasons.setdefault(copy, []).append(
                f"the copy of revision {rev} ({name_of(files[original].path)} keeps it); {how}"
            )
            for child, why in _children_of_copy(context, state, rev, original, copy):
                parents[child] = tuple(new_id if p == rev else p for p in parents[child])
                reasons.setdefault(child, []).append(
                    f"grew on the copy {name_of(files[copy].path)} ({why}); "
                    f"re-pointed from {rev} to its new id {new_id}"
                )
    actions = []
    for index in sorted(reasons, key=lambda i: files[i].path):
        rf = files[index]
        text = context.sources.get(rf.path)
        if text is None:
            unresolved.append(f"{rf.path}: --reid: its text is not available")
            continue
        edits: list[TextEdit] = []
        if index in renamed and renamed[index] != state.revision_of(context, index):
            edits += revision_edits(text, rf, renamed[index])
        if parents[index] != state.parents[index]:
            edits += relink_edits(text, rf, parents[index])
        answers = {DUPLICATE_REVISION} | ({FILENAME_MISMATCH, HEADER_MISMATCH} & codes_on(context, rf.path))
        actions.append(
            EditText(
                path=rf.path,
                old_sha256=rf.sha256,
                edits=tuple(sorted(edits, key=lambda e: (e.line, e.col))),
                old_text=text,
                new_text=apply_edits(text, edits),
                reason="; ".join(reasons[index]),
                answers=tuple(sorted(answers)),
                revision=rf.revision,
                warnings=_applied_warning(options, rf, renamed.get(index)),
            )
        )
    return PartialPlan(
        actions=tuple(actions),
        notes=tuple(notes),
        unresolved=tuple(unresolved),
        state=PlanState(state.survivors, parents, renamed),
    )


def _applied_warning(options: FixOptions, rf: RevisionFile, new_id: str | None) -> tuple[str, ...]:
    if new_id is None or str(rf.revision) not in options.applied_revisions:
        return ()
    return (
        f"applied in the database: {rf.revision}; a database that ran this copy under the old id keeps "
        f"{rf.revision} in alembic_version (which copy ran is not recorded there)",
    )


def name_id(context: PlanContext, rf: RevisionFile) -> str | None:
    """The id the file's name carries: by ``file_template`` when the project sets one, else
    a leading token shaped like an id (``0025b``, twelve hex characters)."""
    stem = name_of(rf.path).removesuffix(".py")
    if ids_are_stems(context):
        return stem  # ids such as 0177_add_virus_scan_statuses: the whole name is the id
    if context.is_template_explicit:
        claimed = filename_revision(stem, context.file_template)
        if claimed:
            return claimed
    match = _LEADING_ID.match(stem)
    return match.group(1) if match else None


_STEM_IDS: list = [None, False]  # the last context (by identity) and its answer


def ids_are_stems(context: PlanContext) -> bool:
    """Whether most revisions' id is their whole file name (``0176_alter_billing_columns``)."""
    if _STEM_IDS[0] is not context:
        files = [rf for rf in context.files if rf.revision is not None]
        same = sum(1 for rf in files if str(rf.revision) == name_of(rf.path).removesuffix(".py"))
        _STEM_IDS[:] = [context, bool(files) and same * 2 > len(files)]
    return _STEM_IDS[1]


def _new_id(context: PlanContext, copy: int, rev: str, taken: set[str]) -> tuple[str, str]:
    rf = context.files[copy]
    named = name_id(context, rf)
    if named is not None and named != rev and named not in taken:
        return named, f"its file name carries the free id {named}, so it gets that id back"
    if ids_are_stems(context):
        numbers = [m.group(1) for t in taken if (m := re.match(r"(\d+)_", t))]
        stem = name_of(rf.path).removesuffix(".py")
        slug = stem.split("_", 1)[1] if "_" in stem else stem
        if numbers:
            width = max(len(n) for n in numbers)
            candidate = max(int(n) for n in numbers) + 1
            while (fresh := f"{str(candidate).zfill(width)}_{slug}") in taken:
                candidate += 1
            return fresh, f"its name is taken as an id; it gets the chain's next number with its own slug, {fresh}"
    numbered = [t for t in taken if t.isdigit()]
    if numbered and len(numbered) * 2 >= len(taken):
        width = max(len(t) for t in numbered)
        candidate = max(int(t) for t in numbered) + 1
        while str(candidate).zfill(width) in taken:
            candidate += 1
        fresh = str(candidate).zfill(width)
        said = (
            f"the id its name carries ({named}) is taken" if named and named != rev else "its name carries no free id"
        )
        return fresh, f"{said}; it gets the chain's next number {fresh}"
    seed = f"{rf.path}|{rev}"
    while True:
        fresh = hashlib.sha256(seed.encode()).hexdigest()[:12]
        if fresh not in taken:
            return fresh, f"its name carries no free id; it gets a fresh id {fresh} (12 hex characters, as Alembic's)"
        seed += "+"


def _children_of_copy(
    context: PlanContext, state: PlanState, rev: str, original: int, copy: int
) -> list[tuple[int, str]]:
    """The revisions naming ``rev`` that grew on ``copy`` (not on ``original``), each with why."""
    files = context.files
    own = _created(files[copy]) - _created(files[original])
    suffix = _suffix(name_id(context, files[copy]) or "")
    copy_added = context.added.get(files[copy].path)
    if copy_added == context.added.get(files[original].path):
        copy_added = None  # added together with the original: git says nothing about which line is whose
    found = []
    for index in state.survivors:
        if index in (copy, original) or rev not in state.parents[index]:
            continue
        rf = files[index]
        used = sorted(_used(rf) & own)
        added = context.added.get(rf.path)
        if used:
            found.append((index, f"it uses {', '.join(used)}, which only the copy creates"))
        elif suffix and _suffix(state.revision_of(context, index)) == suffix:
            found.append((index, f"its id carries the copy's suffix {suffix!r}"))
        elif copy_added is not None and added is not None and added == copy_added:
            found.append((index, f"git added it with the copy, in {added[1]}"))
    return found


def _suffix(token: str) -> str | None:
    match = _NUMBER_SUFFIX.match(token)
    return match.group(2) if match else None


def _created(rf: RevisionFile) -> set[str]:
    """Tables and ``table.column`` names the file's upgrade() creates."""
    body = rf.upgrade
    out: set[str] = set()
    for op in body.operations if body is not None else ():
        if op.kind == "create_table" and op.table:
            out.add(op.table)
            out |= {f"{op.table}.{c}" for c in op.columns}
        elif op.kind == "add_column" and op.table and op.name:
            out.add(f"{op.table}.{op.name}")
    return out


def _used(rf: RevisionFile) -> set[str]:
    """Tables and ``table.column`` names the file's upgrade() works on (without creating them)."""
    body = rf.upgrade
    out: set[str] = set()
    for op in body.operations if body is not None else ():
        if op.kind == "create_table":
            continue
        if op.table:
            out.add(op.table)
            out |= {f"{op.table}.{c}" for c in op.columns}
            if op.name and op.kind in ("alter_column", "drop_column"):
                out.add(f"{op.table}.{op.name}")
    return out


def objects_used(files: Sequence[RevisionFile]) -> set[str]:
    return set().union(*(_used(rf) for rf in files)) if files else set()


def objects_created(rf: RevisionFile) -> set[str]:
    return _created(rf)
