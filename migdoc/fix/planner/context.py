"""What the planner looks at (:class:`PlanContext`, read by the edges) and the project as
a plan leaves it (:class:`PlanState`), shared by every strategy. Pure."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import PurePosixPath

from migdoc.chain.graph import RevisionGraph, open_heads
from migdoc.fix.edits import apply_edits, relink_edits
from migdoc.model import (
    Action,
    Diagnostic,
    EditText,
    Realign,
    RevisionFile,
    Severity,
)
from migdoc.rules import code_named

# The codes the planner answers, named through the registry (a renumbered rule fails loudly).
DUPLICATE_REVISION = code_named("duplicate-revision")  # MD001
MISSING_REVISION = code_named("missing-revision")  # MD002
MULTIPLE_HEADS = code_named("multiple-heads")  # MD003
FILENAME_MISMATCH = code_named("filename-mismatch")  # MD006
HEADER_MISMATCH = code_named("header-mismatch")  # MD007
DUPLICATE_CONTENT = code_named("duplicate-content")  # MD011
REDUNDANT_OPERATION = code_named("redundant-operation")  # MD012
HEAD_CONFLICT = code_named("head-conflict")  # MD017


@dataclass(frozen=True)
class PlanContext:
    """Everything the planner looks at, read by the edges beforehand."""

    graph: RevisionGraph
    diagnostics: tuple[Diagnostic, ...]
    sources: Mapping[str, str]
    """File path -> decoded text, for every file the planner may edit."""
    version_dirs: tuple[str, ...]
    archive_root: str
    existing_names: Mapping[str, frozenset[str]] = field(default_factory=dict)
    """Folder -> names already in it (version folders and the archive folder)."""
    file_template: str = "%(rev)s_%(slug)s"
    is_template_explicit: bool = False
    script_template: str | None = None
    """The project's ``script.py.mako``, when it has one."""
    script_template_path: str | None = None
    """Where the project's ``script.py.mako`` is (absolute), when it has one: new revision
    files are rendered from it at ``--apply`` (never read or run by the planner)."""
    archived: Mapping[str, str] = field(default_factory=dict)
    """Revision id -> path of files already in the archive (ids a database may still hold)."""
    truncate_slug_length: int = 40
    added: Mapping[str, tuple[int, str]] = field(default_factory=dict)
    """File path -> (commit time, "commit <short> (<date>)") of the commit that added it, from
    git history; empty outside a repository. Files git never saw are absent (the newest)."""
    arrived: Mapping[str, tuple[int, str, bool]] = field(default_factory=dict)
    """File path -> (commit time, "merge <short> (<date>)", whether a merge brought it) of the
    commit on the checked-out line that brought it (:func:`migdoc.gitref.first_arrived`);
    read only when the chain has several heads."""

    @property
    def files(self) -> tuple[RevisionFile, ...]:
        return self.graph.files


# -- the project as the plan leaves it ---------------------------------------


@dataclass(frozen=True)
class PlanState:
    """Surviving files and their (possibly relinked) parents, by file index."""

    survivors: tuple[int, ...]
    parents: Mapping[int, tuple[str, ...]]
    """File index -> down_revision ids after relinking."""
    renamed: Mapping[int, str] = field(default_factory=dict)
    """File index -> the revision id a re-id (``--reid``) gave it; absent: its own."""

    @staticmethod
    def initial(context: PlanContext) -> PlanState:
        usable = tuple(i for i, rf in enumerate(context.files) if rf.revision is not None and rf.read_error is None)
        return PlanState(usable, {i: context.files[i].down_revisions for i in usable})

    def revision_of(self, context: PlanContext, index: int) -> str:
        return self.renamed.get(index, str(context.files[index].revision))

    def heads(self, context: PlanContext) -> list[str]:
        """The heads of the chain as the plan leaves it, by Alembic's definition
        (:func:`migdoc.chain.graph.open_heads`: a ``depends_on`` takes no head away), each
        revision under the id the plan gives it (a re-id'd copy under its new id)."""
        return list(open_heads((self.revision_of(context, i), self.parents[i]) for i in self.survivors))


def depends_ids(context: PlanContext, index: int) -> list[str]:
    out = []
    for name in context.files[index].depends_on:
        target = context.graph.resolve_dependency(name)
        out.append(context.files[target].revision if target is not None else name)  # type: ignore[misc]
    return [str(x) for x in out]


@dataclass(frozen=True)
class PartialPlan:
    actions: tuple[Action, ...] = ()
    notes: tuple[str, ...] = ()
    unresolved: tuple[str, ...] = ()
    main_head: str | None = None
    state: PlanState | None = None
    realign: Realign | None = None


def has_error(context: PlanContext) -> bool:
    """Whether any finding is error-level: repairs answer errors only (SPEC, Repairs)."""
    return any(d.severity is Severity.ERROR for d in context.diagnostics)


def healthy_note(strategy: str, nothing: str, would_act: str) -> str:
    """The one line a strategy says on a chain with no error-level finding: it plans
    nothing, and names what would make it act."""
    return f"{strategy}: no error-level finding; {nothing} (it acts on {would_act})"


def codes_on(context: PlanContext, path: str, severities: tuple[Severity, ...] = tuple(Severity)) -> set[str]:
    return {d.code for d in _diagnostics_by_file(context.diagnostics).get(path, ()) if d.severity in severities}


_BY_FILE: list = [None, {}]  # the last diagnostics tuple (by identity) and its index


def _diagnostics_by_file(diagnostics: tuple[Diagnostic, ...]) -> dict[str, list[Diagnostic]]:
    """File -> its diagnostics, indexed once per plan: scanning them all for every file grew
    with files x findings (seconds of a 20,000-revision plan). Keyed by identity, as
    hashing the tuple would walk every finding again."""
    if _BY_FILE[0] is not diagnostics:
        found: dict[str, list[Diagnostic]] = {}
        for d in diagnostics:
            if d.file is not None:
                found.setdefault(d.file, []).append(d)
        _BY_FILE[:] = [diagnostics, found]
    return _BY_FILE[1]


def name_of(path: str) -> str:
    return PurePosixPath(path).name


def folder_of(path: str) -> str:
    return str(PurePosixPath(path).parent)


def repoint_edit(
    rf: RevisionFile,
    text: str,
    new_parents: tuple[str, ...],
    reason: str,
    answers: tuple[str, ...],
    warnings: tuple[str, ...] = (),
) -> EditText:
    """The edit that points ``rf``'s ``down_revision`` (variable and ``Revises:`` header) at
    ``new_parents``: the one way archive and relink both rewrite a parent."""
    edits = relink_edits(text, rf, new_parents)
    return EditText(
        path=rf.path,
        old_sha256=rf.sha256,
        edits=edits,
        old_text=text,
        new_text=apply_edits(text, edits),
        reason=reason,
        answers=answers,
        revision=rf.revision,
        warnings=warnings,
    )
