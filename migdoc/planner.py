"""Graph + diagnostics -> :class:`~migdoc.model.Plan`. Pure: no disk, no clock.

Strategies (``../SPEC.md`` "Repairs"):

- ``plan_archive``: keep the main line (the ancestry, through ``down_revision``
  and ``depends_on``, of the main head) and archive the rest; relink survivors
  whose parent left to their nearest surviving ancestor.
- ``plan_merge``: one merge revision for the open heads, as ``alembic merge``.
- ``plan_renumber``: file names follow revision ids; ids never change.

Decisions of ours, where the SPEC is silent:

- Several files declaring one id: the main line keeps the copy with the
  longest path from a base; on a tie, the copy Alembic keeps (loaded last),
  because that is the one whose upgrade databases have run.
- "Only repeats an ancestor's upgrade" means: the same normalised body as a
  main-line ancestor (MD011), or every ``op.*`` call of it re-creates what a
  main-line ancestor created (MD012). A revision that also does other work
  is left for a human. ``# migdoc: ignore[MD011]`` / ``[MD012]`` in the file
  is honoured. A revision another survivor ``depends_on`` is never archived.
- A deliberate multi-branch layout (MD003 at info level) has no main line:
  ``--archive`` leaves it alone.
- The planner is given the clock (``FixOptions.now``) and the texts it may
  edit; the same inputs always give the same plan.
"""

from __future__ import annotations

import functools
import hashlib
import re
import shlex
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import PurePosixPath

from migdoc.edits import apply_edits, relink_edits
from migdoc.errors import FixRefused, UsageError
from migdoc.graph import RevisionGraph
from migdoc.model import (
    Action,
    CreateFile,
    Diagnostic,
    EditText,
    FixOptions,
    MoveFile,
    Plan,
    Realign,
    RenameFile,
    RevisionFile,
    Severity,
)
from migdoc.reader import read_revision
from migdoc.replay import find_redundancies
from migdoc.rules.naming import carries_revision, filename_revision, parse_create_date, template_regex

_SLUG = re.compile(r"\w+")
_DATE_TOKEN = re.compile(r"^(\d{8}|\d{10}|\d{12}|\d{14}|\d{4}-\d{2}-\d{2})$")
_HEX12 = re.compile(r"^[0-9a-f]{12}$")
_TEMPLATE_TOKEN = re.compile(r"%\((\w+)\)[-#0 +]*\d*(?:\.\d+)?[sdif]")
MERGE_MESSAGE = "merge heads"

GENERIC_SCRIPT = '''"""${message}

Revision ID: ${up_revision}
Revises: ${down_revision | comma,n}
Create Date: ${create_date}

"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa
${imports if imports else ""}

# revision identifiers, used by Alembic.
revision: str = ${repr(up_revision)}
down_revision: Union[str, Sequence[str], None] = ${repr(down_revision)}
branch_labels: Union[str, Sequence[str], None] = ${repr(branch_labels)}
depends_on: Union[str, Sequence[str], None] = ${repr(depends_on)}


def upgrade() -> None:
    """Upgrade schema."""
    ${upgrades if upgrades else "pass"}


def downgrade() -> None:
    """Downgrade schema."""
    ${downgrades if downgrades else "pass"}
'''
"""Alembic's own ``generic`` template, for projects without a ``script.py.mako``."""


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
    archived: Mapping[str, str] = field(default_factory=dict)
    """Revision id -> path of files already in the archive (ids a database may still hold)."""
    truncate_slug_length: int = 40

    @property
    def files(self) -> tuple[RevisionFile, ...]:
        return self.graph.files


def plan_repairs(context: PlanContext, options: FixOptions) -> Plan:
    """The plan for the strategies ``options`` chooses, combined in the order
    archive, merge, renumber (each sees the project as the previous left it)."""
    if not options.strategies:
        raise UsageError("choose a strategy: --archive, --merge or --renumber (or none, to see what each would do)")
    state = _State.initial(context)
    notes: list[str] = list(_database_notes(context, options))
    unresolved: list[str] = []
    actions: list[Action] = []
    main_head = None
    realign = None
    if options.is_archive:
        archive = plan_archive(context, options, state)
        main_head = archive.main_head
        realign = archive.realign
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
    for name, flag in (("archive", "is_archive"), ("merge", "is_merge"), ("renumber", "is_renumber")):
        chosen = FixOptions(**{**_options_dict(options), flag: True})
        try:
            plan = plan_repairs(context, chosen)
        except FixRefused as exc:
            plan = Plan(strategies=(name,), unresolved=(str(exc),))
        if plan.actions or plan.unresolved:
            proposals[name] = plan
    return proposals


def _options_dict(options: FixOptions) -> dict:
    return {
        "head": options.head,
        "now": options.now,
        "archive_dir": options.archive_dir,
        "applied_revisions": options.applied_revisions,
        "database_current": options.database_current,
        "alembic_config": options.alembic_config,
        "alembic_section": options.alembic_section,
    }


def _ordered(actions: Sequence[Action]) -> tuple[Action, ...]:
    """Moves, then new files, then edits, then renames: an edited file is edited at its old path."""
    rank = {"move": 0, "create": 1, "edit": 2, "rename": 3}
    return tuple(sorted(actions, key=lambda a: rank[a.kind]))


# -- the project as the plan leaves it ---------------------------------------


@dataclass(frozen=True)
class _State:
    """Surviving files and their (possibly relinked) parents, by file index."""

    survivors: tuple[int, ...]
    parents: Mapping[int, tuple[str, ...]]
    """File index -> down_revision ids after relinking."""

    @staticmethod
    def initial(context: PlanContext) -> _State:
        usable = tuple(i for i, rf in enumerate(context.files) if rf.revision is not None and rf.read_error is None)
        return _State(usable, {i: context.files[i].down_revisions for i in usable})

    def heads(self, context: PlanContext) -> list[str]:
        files = context.files
        ids = {files[i].revision for i in self.survivors}
        named = {p for i in self.survivors for p in self.parents[i]}
        named |= {d for i in self.survivors for d in _depends_ids(context, i)}
        return sorted(str(rev) for rev in ids if rev not in named)


def _depends_ids(context: PlanContext, index: int) -> list[str]:
    out = []
    for name in context.files[index].depends_on:
        target = context.graph.resolve_dependency(name)
        out.append(context.files[target].revision if target is not None else name)  # type: ignore[misc]
    return [str(x) for x in out]


@dataclass(frozen=True)
class _Partial:
    actions: tuple[Action, ...] = ()
    notes: tuple[str, ...] = ()
    unresolved: tuple[str, ...] = ()
    main_head: str | None = None
    state: _State | None = None
    realign: Realign | None = None


def _codes_on(context: PlanContext, path: str, severities: tuple[Severity, ...] = tuple(Severity)) -> set[str]:
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


def _name(path: str) -> str:
    return PurePosixPath(path).name


def _folder(path: str) -> str:
    return str(PurePosixPath(path).parent)


# -- archive -----------------------------------------------------------------


class _Lines:
    """The file-level graph the archive strategy reasons on: every copy of a
    duplicated id is its own node, so the main line can pick one."""

    def __init__(self, context: PlanContext, usable: Sequence[int]) -> None:
        self.context = context
        self.usable = tuple(usable)
        self.declarations: dict[str, list[int]] = {}
        for i in self.usable:
            self.declarations.setdefault(str(context.files[i].revision), []).append(i)
        self.parent_ids: dict[int, list[str]] = {
            i: list(dict.fromkeys([*context.files[i].down_revisions, *_depends_ids(context, i)])) for i in self.usable
        }
        self._depth: dict[int, int] = {}

    def parent_copies(self, index: int) -> list[int]:
        """Every file declaring one of ``index``'s parents (each copy of a duplicated id)."""
        return [c for p in self.parent_ids[index] for c in self.declarations.get(p, []) if c != index]

    def depth(self, index: int) -> int:
        """Longest path from a base, in revisions (a base is 0).

        Iterative, not recursive: chains of tens of thousands of revisions are
        real (a 20,000-revision chain must plan), and an edge back into the
        path being walked (a loop) is skipped rather than followed.
        """
        if index in self._depth:
            return self._depth[index]
        best = {index: 0}
        on_path = {index}
        stack = [(index, iter(self.parent_copies(index)))]
        while stack:
            node, parents = stack[-1]
            for copy in parents:
                if copy in on_path:
                    continue
                if copy in self._depth:
                    best[node] = max(best[node], 1 + self._depth[copy])
                    continue
                best[copy] = 0
                on_path.add(copy)
                stack.append((copy, iter(self.parent_copies(copy))))
                break
            else:
                stack.pop()
                on_path.discard(node)
                self._depth[node] = best.pop(node)
                if stack:
                    below = stack[-1][0]
                    best[below] = max(best[below], 1 + self._depth[node])
        return self._depth[index]

    def heads(self) -> list[int]:
        named = {p for i in self.usable for p in self.parent_ids[i]}
        return [i for i in self.usable if self.context.files[i].revision not in named]

    def choose_copy(self, revision: str) -> int:
        copies = self.declarations[revision]
        if len(copies) == 1:
            return copies[0]
        deepest = max(self.depth(c) for c in copies)
        tied = [c for c in copies if self.depth(c) == deepest]
        kept = self.context.graph.kept.get(revision)
        return kept if kept in tied else tied[0]

    def main_line(self, head: int) -> set[int]:
        """The main head and its ancestors, one chosen copy per duplicated id."""
        self.main_parents: dict[int, list[int]] = {}
        found = {head}
        frontier = [head]
        while frontier:
            index = frontier.pop()
            chosen = [self.choose_copy(p) for p in self.parent_ids[index] if p in self.declarations]
            self.main_parents[index] = [c for c in dict.fromkeys(chosen) if c != index]
            for copy in self.main_parents[index]:
                if copy not in found:
                    found.add(copy)
                    frontier.append(copy)
        return found

    def main_ancestors(self, index: int) -> set[int]:
        """``index``'s main-line ancestors, walked on demand: keeping every revision's
        ancestor set at once costs memory quadratic in the chain's length."""
        found: set[int] = set()
        frontier = [index]
        while frontier:
            for copy in self.main_parents.get(frontier.pop(), ()):
                if copy not in found and copy != index:
                    found.add(copy)
                    frontier.append(copy)
        return found


def _choose_main_head(context: PlanContext, lines: _Lines, options: FixOptions) -> int:
    files = context.files
    if options.head:
        wanted = options.head
        if wanted not in lines.declarations:
            matches = [rev for rev in lines.declarations if rev.startswith(wanted)]
            if len(matches) != 1:
                raise FixRefused(f"--head {wanted}: no such revision")
            wanted = matches[0]
        return lines.choose_copy(wanted)
    heads = lines.heads()
    deepest = max(lines.depth(h) for h in heads)
    tied = [h for h in heads if lines.depth(h) == deepest]
    if len({files[h].revision for h in tied}) > 1:
        dated = {h: parse_create_date(files[h].header.create_date) for h in tied}
        if all(d is not None for d in dated.values()):
            newest = max(d for d in dated.values() if d is not None)
            tied = [h for h in tied if dated[h] == newest]
    revisions = sorted({str(files[h].revision) for h in tied})
    if len(revisions) > 1:
        choices = " or ".join(f"--head {rev}" for rev in revisions)
        raise FixRefused(
            f"--archive cannot choose the main head: {', '.join(revisions)} are equally long "
            f"({deepest + 1} revisions from a base) and equally new; choose with {choices}"
        )
    return lines.choose_copy(revisions[0])


def _is_labelled_layout(context: PlanContext) -> bool:
    # info (labelled branches) or warning (labels computed at import time): never merged or archived
    return any(d.code == "MD003" and d.severity is not Severity.ERROR for d in context.diagnostics)


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
    if "MD011" not in rf.ignored_codes:
        twins = [i for i in same_body.get(body.fingerprint, ()) if i != index]
        if twins:
            found = ancestors()
            for ancestor in sorted(twins):
                if ancestor in found:
                    return (
                        f"its upgrade() is the same as its ancestor {context.files[ancestor].revision}'s",
                        ("MD011",),
                    )
    if "MD012" not in rf.ignored_codes and body.operations and redundant.get(index):
        found = ancestors()
        repeats = [r for r in redundant[index] if r.earlier in found]
        repeated_ops = [r.operation for r in repeats]
        if all(op in repeated_ops for op in body.operations):
            earlier = sorted({str(context.files[r.earlier].revision) for r in repeats})
            what = "; ".join(r.description for r in repeats)
            return (f"every operation of its upgrade() repeats ancestor {', '.join(earlier)} ({what})", ("MD012",))
    return None


def plan_archive(context: PlanContext, options: FixOptions, state: _State | None = None) -> _Partial:
    """Archive what is not on the main line, and main-line repeats; relink the rest."""
    state = state or _State.initial(context)
    files = context.files
    graph = context.graph
    if graph.cycles:
        loops = "; ".join(" -> ".join(c) for c in graph.cycles)
        return _Partial(
            unresolved=(f"--archive: the chain has a loop ({loops}); break it by hand first (MD005)",), state=state
        )
    if _is_labelled_layout(context):
        return _Partial(
            notes=("--archive: the heads sit on their own labelled branches (a deliberate layout); nothing archived",),
            state=state,
        )
    lines = _Lines(context, state.survivors)
    if not lines.usable:
        return _Partial(state=state)
    head = _choose_main_head(context, lines, options)
    main_line = lines.main_line(head)
    head_rev = str(files[head].revision)
    notes = [
        f"main head: {head_rev} ({files[head].path}), {lines.depth(head) + 1} revisions from a base"
        + ("" if options.head else "; --head REV chooses another")
    ]

    reasons: dict[int, tuple[str, tuple[str, ...]]] = {}
    branch_points: dict[int, str | None] = {}
    for index in lines.usable:
        if index in main_line:
            continue
        rf = files[index]
        codes = _codes_on(context, rf.path)
        rev = str(rf.revision)
        if len(lines.declarations[rev]) > 1 and any(c in main_line for c in lines.declarations[rev]):
            keeper = next(c for c in lines.declarations[rev] if c in main_line)
            why = f"a second file declaring revision {rev}; the main line keeps {files[keeper].path}"
            codes |= {"MD001"}
        else:
            root = _branch_point(lines, index, main_line, branch_points)
            why = f"dead branch: not an ancestor of the main head {head_rev}" + (
                f" (branched off {root})" if root else ""
            )
            codes |= {"MD003"} & {d.code for d in context.diagnostics}
            if len(lines.declarations[rev]) > 1:
                codes |= {"MD001"}
        reasons[index] = (why, tuple(sorted(codes)))

    # Main-line revisions that only repeat an ancestor (MD011/MD012).
    redundant: dict[int, list] = {}
    for r in find_redundancies(graph):
        redundant.setdefault(r.index, []).append(r)
    depended = {d for i in main_line for d in _depends_ids(context, i)}
    unresolved: list[str] = []
    same_body: dict[str, list[int]] = {}
    for index in main_line:
        body = files[index].upgrade
        if body is not None and body.does_work:
            same_body.setdefault(body.fingerprint, []).append(index)
    # ancestors first (a longest path from a base only grows along an edge)
    for index in sorted(main_line, key=lambda i: (lines.depth(i), i)):
        if index == head and len(main_line) == 1:
            continue
        repeat = _repeats_ancestor(context, index, functools.partial(lines.main_ancestors, index), redundant, same_body)
        if repeat is None:
            continue
        rev = str(files[index].revision)
        if rev in depended:
            notes.append(f"{rev} only repeats an ancestor but another revision depends_on it; left in place")
            continue
        codes = set(repeat[1]) | _codes_on(context, files[index].path, (Severity.ERROR, Severity.WARNING))
        reasons[index] = (f"on the main line, but {repeat[0]}", tuple(sorted(codes)))
    for index in sorted(main_line):
        if index in reasons:
            continue
        rf = files[index]
        if "MD012" in _codes_on(context, rf.path, (Severity.ERROR,)):
            unresolved.append(
                f"{rf.path}: MD012 redundant operation in {rf.revision}, which also does other work; fix it by hand"
            )
        if "MD002" in _codes_on(context, rf.path, (Severity.ERROR,)):
            unresolved.append(
                f"{rf.path}: MD002 {rf.revision} names a revision no file declares; --archive cannot restore it"
            )
    for rf in files:
        if rf.read_error is not None:
            unresolved.append(f"{rf.path}: MD010 cannot be read ({rf.read_error}); fix it by hand")

    if not reasons:
        return _Partial(notes=(), unresolved=tuple(unresolved), main_head=head_rev, state=state)

    archived = set(reasons)
    survivors = tuple(i for i in state.survivors if i not in archived)
    surviving_ids = {str(files[i].revision) for i in survivors}
    archive_dir = options.archive_dir or f"{context.archive_root}/{options.now:%Y-%m-%d}"
    _refuse_bad_archive_dir(context, archive_dir, [files[i] for i in archived])

    actions: list[Action] = []
    for index in sorted(archived, key=lambda i: files[i].path):
        rf = files[index]
        why, codes = reasons[index]
        actions.append(
            MoveFile(
                source=rf.path,
                target=f"{archive_dir}/{_name(rf.path)}",
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
        new = _nearest_surviving(lines, old, surviving_ids, main_line)
        new = _drop_implied(lines, new, main_line)
        parents[index] = new
        if new == old:
            continue
        left = [p for p in old if p not in surviving_ids]
        text = context.sources.get(rf.path)
        if text is None:
            unresolved.append(f"{rf.path}: its parent {', '.join(left)} was archived but its text is not available")
            continue
        edits = relink_edits(text, rf, new)
        shown_new = ", ".join(new) or "None (a base)"
        actions.append(
            EditText(
                path=rf.path,
                old_sha256=rf.sha256,
                edits=edits,
                old_text=text,
                new_text=apply_edits(text, edits),
                reason=f"its parent {', '.join(left)} was archived; relinked to the nearest surviving ancestor {shown_new}",
                answers=tuple(sorted({"MD007"} & _codes_on(context, rf.path))),
                revision=rf.revision,
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
    realign = _plan_realign(lines, options, surviving_ids, main_line)

    actions.append(
        CreateFile(
            path=_readme_path(context, archive_dir),
            content=_archive_readme(context, options, archive_dir, head, actions, relinked),
            reason="why each file was archived, for the next person who looks",
        )
    )
    return _Partial(
        actions=tuple(actions),
        notes=tuple(notes),
        unresolved=tuple(unresolved),
        main_head=head_rev,
        state=_State(survivors, parents),
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


def _plan_realign(lines: _Lines, options: FixOptions, surviving: set[str], main_line: set[int]) -> Realign | None:
    """The ``alembic stamp --purge`` that realigns a database whose current revision the plan archives.

    ``--purge`` because Alembic cannot stamp *from* a revision it cannot find;
    the purge drops every row, so every current revision is stamped again
    (survivors as they are, archived ones as their nearest surviving ancestors).
    """
    current = options.database_current
    leaving = [rev for rev in current if rev not in surviving and rev in lines.declarations]
    if not leaving:
        return None
    targets: list[str] = []
    for rev in current:
        if rev in surviving or rev not in lines.declarations:
            targets.append(rev)
        else:
            targets += _nearest_surviving(lines, (rev,), surviving, main_line)
    revisions = _drop_implied(lines, tuple(dict.fromkeys(targets)), main_line)
    command = ["alembic"]
    if options.alembic_config:
        command += ["-c", options.alembic_config]
    if options.alembic_section != "alembic":
        command += ["-n", options.alembic_section]
    command += ["stamp", "--purge", *(revisions or ("base",))]
    left = ", ".join(leaving)
    reason = (
        f"the plan archives {left}, where the database is, and Alembic stops at a revision it cannot find; "
        "`stamp --purge` rewrites alembic_version without running a migration (the schema stays as it is)"
    )
    return Realign(current=current, revisions=revisions, command=shlex.join(command), reason=reason)


def _branch_point(
    lines: _Lines, index: int, main_line: set[int], known: dict[int, str | None] | None = None
) -> str | None:
    """The main-line revision a dead branch grew from, when there is one.

    ``known`` remembers answers between calls: along a run of revisions with one
    parent each the answer is the parent's, so a dead branch of thousands of
    revisions is walked once, not once per revision."""
    known = {} if known is None else known
    run: list[int] = []
    current = index
    while current not in known:
        run.append(current)
        copies = [c for p in lines.parent_ids[current] for c in lines.declarations.get(p, [])]
        if len(copies) != 1 or copies[0] in main_line or copies[0] in run:
            known[current] = _search_branch_point(lines, current, main_line)
            break
        current = copies[0]
    for member in run:
        known[member] = known[current]
    return known[index]


def _search_branch_point(lines: _Lines, index: int, main_line: set[int]) -> str | None:
    seen = {index}
    frontier = [index]
    while frontier:
        current = frontier.pop()
        for parent in lines.parent_ids[current]:
            for copy in lines.declarations.get(parent, []):
                if copy in main_line:
                    return parent
                if copy not in seen:
                    seen.add(copy)
                    frontier.append(copy)
    return None


def _nearest_surviving(
    lines: _Lines, parents: Sequence[str], surviving: set[str], main_line: set[int]
) -> tuple[str, ...]:
    """Replace each archived parent by its nearest surviving ancestors, keeping order."""
    out: list[str] = []
    seen: set[str] = set()
    # depth-first in the parents' order, with a stack instead of recursion: an
    # archived branch can be thousands of revisions long
    stack = list(reversed(parents))
    while stack:
        revision = stack.pop()
        if revision in seen:
            continue
        seen.add(revision)
        if revision in surviving or revision not in lines.declarations:
            out.append(revision)  # surviving, or missing (left for MD002)
            continue
        copies = lines.declarations[revision]
        on_main = [c for c in copies if c in main_line]
        up = [parent for copy in on_main or copies for parent in lines.context.files[copy].down_revisions]
        stack.extend(reversed(up))
    return tuple(dict.fromkeys(out))


def _drop_implied(lines: _Lines, parents: tuple[str, ...], main_line: set[int]) -> tuple[str, ...]:
    """A relinked merge must not list a parent that is an ancestor of another (MD018)."""
    if len(parents) < 2:
        return parents
    return tuple(p for p in parents if not any(_is_named_above(lines, p, o) for o in parents if o != p))


def _is_named_above(lines: _Lines, wanted: str, start: str) -> bool:
    """True when some ancestor of ``start`` (or ``start`` itself) names ``wanted`` as a parent.

    Every revision that names ``wanted`` is deeper than each file declaring it (depth
    grows by at least one along every edge), so the walk skips what is not deeper:
    checking a merge costs the distance between its parents, not the chain's length."""

    def deepest(revision: str) -> int | None:
        copies = lines.declarations.get(revision)
        return max(lines.depth(c) for c in copies) if copies else None

    floor = deepest(wanted)
    seen = {start}
    frontier = [start]
    while frontier:
        current = frontier.pop()
        for copy in lines.declarations.get(current, []):
            for up in lines.parent_ids[copy]:
                if up == wanted:
                    return True
                if up in seen:
                    continue
                seen.add(up)
                depth = deepest(up)
                if depth is not None and (floor is None or depth > floor):
                    frontier.append(up)
    return False


def _refuse_bad_archive_dir(context: PlanContext, archive_dir: str, leaving: Sequence[RevisionFile]) -> None:
    for location in context.version_dirs:
        folder = PurePosixPath(archive_dir)
        if folder == PurePosixPath(location) or PurePosixPath(location) in folder.parents:
            raise FixRefused(
                f"archive folder {archive_dir} is inside the version location {location}; "
                "Alembic would still load the files; choose another with --archive-dir"
            )
    present = context.existing_names.get(archive_dir, frozenset())
    names: dict[str, str] = {}
    for rf in leaving:
        name = _name(rf.path)
        if name in present:
            raise FixRefused(
                f"archive folder {archive_dir} already holds a file named {name}; "
                "move it away or choose another folder with --archive-dir"
            )
        if name in names:
            raise FixRefused(
                f"{names[name]} and {rf.path} would both be archived as {archive_dir}/{name}; "
                "rename one first or archive in two steps with --archive-dir"
            )
        names[name] = rf.path


def _readme_path(context: PlanContext, archive_dir: str) -> str:
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
    archive_dir: str,
    head: int,
    actions: Sequence[Action],
    relinked: Sequence[tuple[RevisionFile, tuple[str, ...], tuple[str, ...]]],
) -> str:
    head_file = context.files[head]
    lines = [
        f"# Archived by `migdoc fix --archive` on {options.now:%Y-%m-%d}",
        "",
        "These revision files were moved out of the version folders; nothing was deleted.",
        f"The main line is the ancestry of head {head_file.revision} ({_name(head_file.path)}).",
        "",
    ]
    for action in actions:
        if isinstance(action, MoveFile):
            answers = f" [{', '.join(action.answers)}]" if action.answers else ""
            lines.append(
                f"- `{_name(action.source)}` (revision {action.revision}, from `{_folder(action.source)}/`): "
                f"{action.reason}{answers}"
            )
    if relinked:
        lines += ["", "Relinked to their nearest surviving ancestor:", ""]
        for rf, old, new in relinked:
            lines.append(
                f"- `{_name(rf.path)}` ({rf.revision}): down_revision {', '.join(old)} -> {', '.join(new) or 'None'}"
            )
    lines += [
        "",
        "To put everything back: `migdoc fix --undo` (right after applying), or move the files back by hand.",
        "",
    ]
    return "\n".join(lines)


# -- merge -------------------------------------------------------------------


def plan_merge(context: PlanContext, options: FixOptions, state: _State | None = None) -> _Partial:
    """A merge revision for the open heads, as ``alembic merge heads`` writes it."""
    state = state or _State.initial(context)
    if context.graph.cycles:
        return _Partial(unresolved=("--merge: the chain has a loop; break it by hand first (MD005)",), state=state)
    if _is_labelled_layout(context):
        return _Partial(
            notes=("--merge: the heads sit on their own labelled branches (a deliberate layout); nothing merged",),
            state=state,
        )
    heads = state.heads(context)
    if len(heads) < 2:
        return _Partial(state=state)
    files = context.files
    known = {str(files[i].revision) for i in state.survivors} | set(context.archived) | set(context.graph.declarations)
    revision = _new_revision_id(known, heads, options)
    head_files = [i for i in state.survivors if files[i].revision in heads]
    folders = {_folder(files[i].path) for i in head_files}
    folder = folders.pop() if len(folders) == 1 else context.version_dirs[0]
    stem = render_file_template(context.file_template, revision, MERGE_MESSAGE, options, context.truncate_slug_length)
    path = f"{folder}/{stem}.py"
    if _name(path) in context.existing_names.get(folder, frozenset()):
        return _Partial(unresolved=(f"--merge: {path} already exists; cannot write the merge revision",), state=state)
    content = render_merge_script(context.script_template, revision, tuple(heads), options)
    check = read_revision(path, content.encode("utf-8"))
    if check.revision != revision or set(check.down_revisions) != set(heads):
        content = render_merge_script(None, revision, tuple(heads), options)
    merged_codes = tuple(sorted({"MD003", "MD017"} & {d.code for d in context.diagnostics}))
    action = CreateFile(
        path=path,
        content=content,
        reason=f"merges the {len(heads)} heads {', '.join(heads)} into one, as `alembic merge heads` would",
        answers=merged_codes,
        revision=revision,
    )
    # The merge file is new: the surviving files and their parents stay as they are.
    return _Partial(actions=(action,), state=state)


def _new_revision_id(known: set[str], heads: Sequence[str], options: FixOptions) -> str:
    """The next number for numbered chains, else 12 hex characters (deterministic from the inputs)."""
    numbered = [rev for rev in known if rev.isdigit()]
    if numbered and len(numbered) * 2 >= len(known):
        width = max(len(rev) for rev in numbered)
        candidate = max(int(rev) for rev in numbered) + 1
        while str(candidate).zfill(width) in known:
            candidate += 1
        return str(candidate).zfill(width)
    seed = f"{','.join(sorted(heads))}|{options.now.isoformat()}"
    while True:
        candidate = hashlib.sha256(seed.encode()).hexdigest()[:12]
        if candidate not in known:
            return candidate
        seed += "+"


def slugify(message: str, truncate: int = 40) -> str:
    """Alembic's slug: the words of the message, joined by ``_``, lower case, truncated."""
    slug = "_".join(_SLUG.findall(message or "")).lower()
    if len(slug) > truncate:
        slug = slug[:truncate].rsplit("_", 1)[0] + "_"
    return slug


def render_file_template(template: str, revision: str, message: str, options: FixOptions, truncate: int = 40) -> str:
    now = options.now
    values = {
        "rev": revision,
        "slug": slugify(message, truncate),
        "epoch": int(now.timestamp()),
        "year": now.year,
        "month": now.month,
        "day": now.day,
        "hour": now.hour,
        "minute": now.minute,
        "second": now.second,
    }
    try:
        return template % values
    except (KeyError, ValueError, TypeError) as exc:
        raise FixRefused(f"file_template {template!r} cannot be rendered: {exc}") from exc


def _comma(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    return ", ".join(str(v) for v in value)  # type: ignore[union-attr]


def render_merge_script(template: str | None, revision: str, heads: tuple[str, ...], options: FixOptions) -> str:
    """The project's ``script.py.mako`` rendered as Alembic renders it for a merge
    (Alembic's generic template when the project has none or it cannot be rendered)."""
    from mako.template import Template

    values = dict(
        up_revision=revision,
        down_revision=heads if len(heads) > 1 else (heads[0] if heads else None),
        branch_labels=None,
        depends_on=None,
        create_date=options.now,
        comma=_comma,
        message=MERGE_MESSAGE,
        upgrades=None,
        downgrades=None,
        imports=None,
        config=None,
    )
    if template is not None:
        try:
            return Template(text=template).render_unicode(**values)
        except Exception:  # noqa: BLE001 - a custom template may need Alembic's runtime; fall back
            pass
    return Template(text=GENERIC_SCRIPT).render_unicode(**values)


# -- renumber ----------------------------------------------------------------


def plan_renumber(context: PlanContext, options: FixOptions, state: _State | None = None) -> _Partial:
    """Rename files whose name disagrees with their revision (MD006); ids never change."""
    state = state or _State.initial(context)
    files = context.files
    template = context.file_template if context.is_template_explicit else None
    ids = {str(files[i].revision) for i in state.survivors}
    taken: dict[str, set[str]] = {}
    for rf in files:
        taken.setdefault(_folder(rf.path), set()).add(_name(rf.path))
    for folder, names in context.existing_names.items():
        taken.setdefault(folder, set()).update(names)
    actions: list[Action] = []
    unresolved: list[str] = []
    for index in state.survivors:
        rf = files[index]
        if "MD006" not in _codes_on(context, rf.path):
            continue
        revision = str(rf.revision)
        path = PurePosixPath(rf.path)
        unsafe = unsafe_name_reason(revision)
        if unsafe is not None:
            # Never build a path from such an id: "../../x" would move the file out of the
            # project, "sub/r4" into a folder Alembic does not read.
            unresolved.append(
                f"{rf.path}: --renumber will not make a file name of revision {revision!r}: {unsafe}; rename it by hand"
            )
            continue
        stem = new_stem(path.stem, revision, template, ids)
        if stem is None:
            unresolved.append(f"{rf.path}: --renumber cannot work out a name that carries revision {revision}")
            continue
        target = f"{path.parent}/{stem}{path.suffix}"
        folder = str(path.parent)
        if PurePosixPath(target).parent != path.parent or "\\" in stem or stem in (".", ".."):
            unresolved.append(f"{rf.path}: --renumber would rename it to {target!r}, outside its folder")
            continue
        if _name(target) in taken.get(folder, set()):
            unresolved.append(f"{rf.path}: --renumber would rename it to {target}, which already exists")
            continue
        taken.setdefault(folder, set()).add(_name(target))
        actions.append(
            RenameFile(
                source=rf.path,
                target=target,
                sha256=rf.sha256,
                reason=f"the file holds revision {revision}; its name now says so",
                answers=("MD006",),
                revision=revision,
            )
        )
    return _Partial(actions=tuple(actions), unresolved=tuple(unresolved), state=state)


_MAX_NAME_BYTES = 200  # under every file system's limit of 255, with room for a slug and ".py"


def unsafe_name_reason(word: str) -> str | None:
    """Why ``word`` cannot be (part of) a file name in a versions folder, or None when it can."""
    if not word:
        return "it is empty"
    if "/" in word or "\\" in word:
        return "it holds a path separator"
    if word in (".", "..") or word.startswith("."):
        return "it starts with a dot"
    if any(ord(ch) < 32 or ord(ch) == 127 for ch in word):
        return "it holds control characters"
    if len(word.encode("utf-8", "surrogatepass")) > _MAX_NAME_BYTES:
        return f"it is longer than {_MAX_NAME_BYTES} bytes"
    return None


def new_stem(stem: str, revision: str, template: str | None, ids: set[str]) -> str | None:
    """``stem`` with its revision token replaced by ``revision`` (date prefix and slug kept).

    Returns None when no name can be found that MD006 would accept.
    """
    candidate = _replace_token(stem, revision, template, ids)
    if candidate is None:
        return None
    if template is not None and template_regex(template) is not None:
        claimed = filename_revision(candidate, template)
        if claimed != revision:
            return None
    return candidate if carries_revision(candidate, revision) else None


def _replace_token(stem: str, revision: str, template: str | None, ids: set[str]) -> str | None:
    regex = template_regex(template) if template else None
    if regex is not None:
        match = regex.match(stem)
        if match is not None:
            if _looks_like_id(match.group("rev"), revision, ids):
                return stem[: match.start("rev")] + revision + stem[match.end("rev") :]
            # The template's rev slot holds a word of the slug: the id was left out.
            return stem[: match.start("rev")] + revision + "_" + stem[match.start("rev") :]
    tokens = re.split(r"([_\-.])", stem)
    words = tokens[0::2]
    position = 0
    while position < len(words) and _DATE_TOKEN.match(words[position]) and not _same_shape(words[position], revision):
        position += 1
    for i in range(position, len(words)):
        if _looks_like_id(words[i], revision, ids):
            tokens[2 * i] = revision
            return "".join(tokens)
    prefix = "".join(tokens[: 2 * position])
    rest = "".join(tokens[2 * position :])
    return f"{prefix}{revision}_{rest}" if rest else f"{prefix}{revision}"


def _same_shape(word: str, revision: str) -> bool:
    if word.isdigit() and revision.isdigit():
        return len(word) == len(revision)
    return bool(_HEX12.match(word) and _HEX12.match(revision))


def _looks_like_id(word: str, revision: str, ids: set[str]) -> bool:
    if word in ids:
        return True
    lead = re.match(r"^\d+", revision)
    if lead and re.fullmatch(r"\d+[a-z]?", word) and len(re.match(r"^\d+", word).group(0)) == len(lead.group(0)):  # type: ignore[union-attr]
        return True
    return _same_shape(word, revision)
