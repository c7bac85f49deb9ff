"""Proof of a plan on the *planned* tree: the project's records with the plan's moves,
renames, edits and new files applied in memory (never on disk). Pure: no disk, no
database; Alembic is imported only to build its RevisionMap from literal revisions, as its
own tests do (no version file is imported).

Two static proofs, run on every plan ``fix`` shows and before ``--apply`` writes:

- ``revision-map``: Alembic's ``RevisionMap``, fed :class:`Revision` objects built from
  migdoc's records, loads the planned chain with no error and no warning ("present more
  than once", "referenced from ... is not present"), with the heads migdoc computes on the
  same records, and with the heads the plan promises (the merge revision; the main head of
  ``--archive``; one head where the plan answers multiple heads).
- ``no-new-errors``: migdoc's own rules on the planned records report no error-level
  finding the current tree does not (counted by code and revision: paths move).

The third proof, ``upgrade`` (base to heads on a throwaway PostgreSQL through the project's
own env.py), needs a database and lives at the edge (``migdoc.doctor.prove_upgrade``).

:func:`is_proved` is the one question a ranking asks of a plan (``fix``'s recommendation).
"""

from __future__ import annotations

import dataclasses
import gc
import warnings
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from pathlib import PurePosixPath

from migdoc.chain.graph import build_graph
from migdoc.fix.planner.context import HEAD_CONFLICT, MULTIPLE_HEADS, PlanContext
from migdoc.model import (
    CreateFile,
    EditText,
    MoveFile,
    Plan,
    Proof,
    Refusal,
    RenameFile,
    RevisionFile,
    Severity,
)
from migdoc.project.reader import read_revision

REVISION_MAP = "revision-map"
NO_NEW_ERRORS = "no-new-errors"
UPGRADE = "upgrade"
STATIC_PROOFS = (REVISION_MAP, NO_NEW_ERRORS)

# Findings that need a database or git to exist: the planned tree is judged on the static rules alone.
_NEEDS_MORE_THAN_FILES = ("MD016", "MD017", "MD020")


# -- the planned tree --------------------------------------------------------------


def planned_files(context: PlanContext, plan: Plan) -> tuple[RevisionFile, ...]:
    """The version files as ``plan`` leaves them: moved out of the version folders ->
    gone; renamed or moved within them -> the same record at its new path; edited -> read
    again from the edited text; new -> read from its content, or, for a file rendered from
    the project's template only at ``--apply``, from the revision variables it will declare."""
    records: dict[str, RevisionFile] = {rf.path: rf for rf in context.files}
    for action in plan.actions:  # already ordered: moves, creates, edits (old path), renames
        if isinstance(action, (MoveFile, RenameFile)):
            record = records.pop(action.source, None)
            if record is not None and _is_in_versions(action.target, context.version_dirs):
                records[action.target] = dataclasses.replace(record, path=action.target)
        elif isinstance(action, EditText):
            records[action.path] = read_revision(action.path, action.new_text.encode("utf-8"))
        elif isinstance(action, CreateFile):
            if not _is_in_versions(action.path, context.version_dirs):
                continue  # the archive's README and the like: not a version file
            records[action.path] = read_revision(action.path, _source_of(action).encode("utf-8"))
    return tuple(records.values())


def _is_in_versions(path: str, version_dirs: Sequence[str]) -> bool:
    candidate = PurePosixPath(path)
    return path.endswith(".py") and any(candidate.is_relative_to(folder) for folder in version_dirs)


def _source_of(action: CreateFile) -> str:
    """The text a new file's record is read from. A file still to be rendered from the
    project's template is read from the revision variables the rendering must write (the
    edge checks the rendered file declares exactly these)."""
    if action.template is None:
        return action.content
    arguments = dict(action.template.arguments)
    down = action.template.down_revisions
    return (
        f"revision = {action.revision!r}\n"
        f"down_revision = {(down if len(down) != 1 else down[0]) if down else None!r}\n"
        f"branch_labels = {arguments.get('branch_labels')!r}\n"
        f"depends_on = {arguments.get('depends_on')!r}\n\n\n"
        "def upgrade():\n    pass\n\n\ndef downgrade():\n    pass\n"
    )


# -- the proofs --------------------------------------------------------------------


def prove_plan(
    context: PlanContext,
    plan: Plan,
    codes: Iterable[str] | None = None,
    severity: Mapping[str, str] | None = None,
) -> tuple[Proof, ...]:
    """The static proofs of ``plan``, in order; each says whether it passed and, if not, why.

    ``codes``/``severity``: the project's rule selection and severities (``[tool.migdoc]``),
    so that "error" means what it means to this project's ``migdoc check``."""
    if not plan.actions:
        return ()
    files = planned_files(context, plan)
    revision_map = _prove_revision_map(files, promised_heads(context, plan))
    unreadable = sum(rf.read_error is not None for rf in files)
    if revision_map.is_failed and unreadable:
        # Alembic would import them, and fail on them too (a syntax error); say why they are missing
        revision_map = dataclasses.replace(
            revision_map,
            why=f"{revision_map.why}; {unreadable} version file(s) cannot be read (MD010) and are left out",
        )
    # what the plan archives is in the archive folder of the planned tree: a kept revision that
    # needs an object only they create is an off-line dependency (MD022) there
    moving = {a.source for a in plan.actions if isinstance(a, MoveFile)}
    archived = tuple(rf for rf in context.files if rf.path in moving)
    return (revision_map, _prove_no_new_errors(context, files, codes, severity, archived))


def promised_heads(context: PlanContext, plan: Plan) -> tuple[set[str], bool]:
    """The heads the plan promises: (revisions that must be heads, whether there must be one
    head only). A new revision (a merge) must be a head; ``--archive``'s main head must stay
    one; a plan that answers multiple heads must leave one."""
    must_be = {a.revision for a in plan.actions if isinstance(a, CreateFile) and a.revision is not None}
    if plan.main_head is not None:
        must_be.add(plan.main_head)
    answered = {code for action in plan.actions for code in action.answers}
    return must_be, bool(answered & {MULTIPLE_HEADS, HEAD_CONFLICT})


def _prove_revision_map(files: Sequence[RevisionFile], promised: tuple[set[str], bool]) -> Proof:
    """Alembic's RevisionMap on the planned records: no error, no warning, the heads promised."""
    from alembic.script.revision import Revision, RevisionMap

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            # a Revision refuses a self-loop when it is made: inside the proof too
            revisions = [
                Revision(
                    rf.revision,
                    _scalar(rf.down_revisions),
                    dependencies=_scalar(rf.depends_on),
                    branch_labels=rf.branch_labels or None,
                )
                for rf in files
                if rf.revision is not None and rf.read_error is None
            ]
            revision_map = RevisionMap(lambda: iter(revisions))
            heads = sorted(revision_map.heads)
            revision_map.bases  # noqa: B018 - loading the bases checks the dependencies too
            for rev in heads:  # walking every head to base finds a loop or a missing parent
                list(revision_map.iterate_revisions(rev, "base"))
        except Exception as exc:  # noqa: BLE001 - every way Alembic refuses the chain is the answer
            # a bare KeyError names only the id: what Alembic warned on the way says which file needs it
            said = sorted({_one_line(w.message) for w in caught})
            warned = f" (it warned: {'; '.join(said)})" if said else ""
            return Proof(
                REVISION_MAP,
                False,
                f"Alembic's RevisionMap refuses the planned chain: {type(exc).__name__}: {_one_line(exc)}{warned}",
            )
    said = sorted({_one_line(w.message) for w in caught})
    if said:
        return Proof(REVISION_MAP, False, f"Alembic warns on the planned chain: {'; '.join(said)}")
    ours = sorted(str(rev) for rev in build_graph(files).heads)
    if heads != ours:
        return Proof(
            REVISION_MAP,
            False,
            f"Alembic finds the heads {', '.join(heads) or 'none'}; migdoc finds {', '.join(ours) or 'none'}",
        )
    must_be, is_single = promised
    missing = sorted(must_be - set(heads))
    if missing:
        return Proof(
            REVISION_MAP,
            False,
            f"{', '.join(missing)} should be a head after the plan; the heads are {', '.join(heads)}",
        )
    if is_single and len(heads) != 1:
        return Proof(REVISION_MAP, False, f"the plan should leave one head; it leaves {', '.join(heads)}")
    return Proof(REVISION_MAP, True, f"Alembic loads the planned chain; heads {', '.join(heads)}")


def _prove_no_new_errors(
    context: PlanContext,
    files: Sequence[RevisionFile],
    codes: Iterable[str] | None,
    severity: Mapping[str, str] | None,
    archived_files: tuple[RevisionFile, ...] = (),
) -> Proof:
    from migdoc.rules import STATIC_CODES, CheckContext, run_checks

    chosen = tuple(
        code for code in (codes if codes is not None else STATIC_CODES) if code not in _NEEDS_MORE_THAN_FILES
    )
    template = context.file_template if context.is_template_explicit else None

    def errors_in(diagnostics) -> Counter:
        return Counter((d.code, d.revision) for d in diagnostics if d.severity is Severity.ERROR and d.code in chosen)

    # the current tree's findings are the ones the plan was made from (same rules, same settings)
    before = errors_in(context.diagnostics)
    was_enabled = gc.isenabled()
    gc.disable()  # the rules make short-lived objects by the hundred thousand, none in cycles
    try:
        checked = run_checks(
            CheckContext(
                graph=build_graph(files),
                file_template=template,
                archived=context.archived,
                archived_files=archived_files,
            ),
            chosen,
            severity,
        )
    finally:
        if was_enabled:
            gc.enable()
    after = errors_in(checked.diagnostics)
    new = sorted((after - before).elements(), key=lambda item: (item[0], item[1] or ""))
    if new:
        listed = ", ".join(f"{code} on {revision}" if revision else code for code, revision in new)
        return Proof(NO_NEW_ERRORS, False, f"the planned chain has new error-level findings: {listed}")
    return Proof(NO_NEW_ERRORS, True, f"errors {sum(before.values())} -> {sum(after.values())}, none new")


def _scalar(ids: tuple[str, ...]) -> str | tuple[str, ...] | None:
    if not ids:
        return None
    return ids[0] if len(ids) == 1 else tuple(ids)


def _one_line(value: object) -> str:
    return " ".join(str(value).split())


# -- the plan with its proofs ------------------------------------------------------


def with_proofs(plan: Plan, proofs: Sequence[Proof]) -> Plan:
    """``plan`` carrying ``proofs`` (added to those it has); a failed proof makes it a
    refused plan (kept whole, so what was refused can be read), saying why."""
    proofs = (*plan.proofs, *proofs)
    failed = [p for p in proofs if p.is_failed]
    if not failed or plan.refusal is not None:
        return dataclasses.replace(plan, proofs=proofs)
    why = "; ".join(f"{p.name}: {p.why}" for p in failed)
    message = f"not proved, so not offered for --apply ({why})"
    return dataclasses.replace(
        plan,
        proofs=proofs,
        refusal=Refusal(message, "--no-verify" if failed[0].name == UPGRADE else None),
        unresolved=(*plan.unresolved, message),
    )


def prove_statically(
    context: PlanContext, plan: Plan, codes: Iterable[str] | None = None, severity: Mapping[str, str] | None = None
) -> Plan:
    """``plan`` with its static proofs run and attached (see :func:`with_proofs`)."""
    if plan.proofs:
        return plan
    return with_proofs(plan, prove_plan(context, plan, codes, severity))


def is_proved(plan: Plan, context: PlanContext | None = None) -> bool:
    """Whether ``plan`` may be recommended: it has actions, and its proofs ran and none
    failed. The static proofs are run here when the plan carries none and ``context`` is
    given; the database proof runs only before ``--apply`` writes (``migdoc.doctor``), so a
    preview's recommendation is proved statically."""
    if not plan.actions or plan.refusal is not None:
        return False
    proofs = plan.proofs
    if not proofs and context is not None:
        proofs = prove_plan(context, plan)
    ran = [p for p in proofs if p.ok is not None]
    return bool(ran) and all(p.ok for p in ran)
