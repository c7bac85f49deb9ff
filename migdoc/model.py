"""Immutable records that flow through migdoc: files read, findings, plans.

Everything here is plain data. Nothing in this module touches the disk.

Paths: every path a record holds (``RevisionFile.path``, ``Diagnostic.file`` and
``related``, the paths in messages, plan actions' ``source``/``target``/``path``) is
absolute and normalised, the version folders' symlinks resolved as the configuration
resolves them: it names the same file whatever the current directory was when the
project was read, or is when a record is used. Only what a person reads shows paths
relative to the current directory (``migdoc.util.filesystem.display_path`` and
``display_text``, called by the outputs). The exceptions are records of other trees
that have no place on disk: a file at a git ref is ``REF:path/in/repository``.

Size: the records are slotted (no ``__dict__``): a 50,000-revision chain holds a
few hundred thousand of them.
"""

from __future__ import annotations

import posixpath
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from datetime import datetime
from enum import Enum


class Severity(str, Enum):
    ERROR = "error"
    WARNING = "warning"
    INFO = "info"


@dataclass(frozen=True, slots=True)
class Operation:
    """One ``op.*`` call found in an ``upgrade()`` body, in source order.

    ``kind`` is the Alembic operation name (``create_table``, ``add_column``...).
    ``table`` / ``name`` are ``None`` when not a literal; such an operation is
    uncertain and makes every object of its table uncertain during replay.
    ``columns`` lists the columns a ``create_table`` declares.
    """

    kind: str
    line: int
    table: str | None = None
    name: str | None = None
    new_name: str | None = None
    columns: tuple[str, ...] = ()
    is_certain: bool = True
    schema: str | None = None
    """The ``schema=`` argument (``None``: the search path's default schema)."""
    constraint_type: str | None = None
    """``drop_constraint``'s ``type_`` (``check``, ``foreignkey``, ``unique``, ``primary``), when given."""
    lock_hints: frozenset[str] = frozenset()
    """What the call's arguments say about the locks it takes (``concurrently``, ``not_valid``...):
    see ``migdoc.project.lock_hints``."""


@dataclass(frozen=True, slots=True)
class FunctionBody:
    """What migdoc keeps of ``upgrade()`` or ``downgrade()``."""

    line: int
    fingerprint: str
    """Normalised dump of the body: equal fingerprints mean the same work."""
    does_work: bool
    """False for a body that is only ``pass``, a docstring, ``...`` or comments."""
    only_raises: bool
    operations: tuple[Operation, ...] = ()
    has_uncertain_sql: bool = False
    unsafe_sql_lines: tuple[int, ...] = ()
    unsafe_sql_variables: tuple[str, ...] = ()
    """For each of ``unsafe_sql_lines``: ``"name:line"`` when the SQL was built into a local
    variable first (``sql = f"...{start}"; op.execute(sql)``), else ``""``."""
    unsafe_sql_statements: tuple[str, ...] = ()
    """For each of ``unsafe_sql_lines``: the statement's leading keywords (``CREATE
    SEQUENCE``, ``UPDATE``), upper case, or ``""`` when unknown: DDL cannot take bind
    parameters, so MD015's advice differs."""


@dataclass(frozen=True, slots=True)
class Header:
    """The docstring header Alembic's template writes."""

    revision_id: str | None = None
    revision_id_line: int = 0
    revises: tuple[str, ...] | None = None
    revises_line: int = 0
    create_date: str | None = None
    message: str | None = None


@dataclass(frozen=True, slots=True)
class Assignment:
    """Where a module-level variable was assigned, and how it was spelled."""

    line: int
    end_line: int
    col: int
    end_col: int
    is_literal: bool = True


@dataclass(frozen=True, slots=True)
class RevisionFile:
    """A version file as read statically. Never raises, never imports.

    ``read_error`` is set (and MD010 reported) when the file could not be read;
    ``revision`` is ``None`` for a stray ``.py`` that declares none.
    """

    path: str
    revision: str | None = None
    down_revisions: tuple[str, ...] = ()
    depends_on: tuple[str, ...] = ()
    branch_labels: tuple[str, ...] = ()
    revision_at: Assignment | None = None
    down_revision_at: Assignment | None = None
    depends_on_at: Assignment | None = None
    branch_labels_at: Assignment | None = None
    is_branch_labels_unresolved: bool = False
    is_depends_on_unresolved: bool = False
    branch_labels_unresolved_reason: str | None = None
    """Why ``branch_labels`` is unresolved when only running the module decides it
    (``assigned under `if` (line 9)``); None for a value that is simply not a literal."""
    depends_on_unresolved_reason: str | None = None
    is_depends_on_empty_string: bool = False
    header: Header = field(default_factory=Header)
    upgrade: FunctionBody | None = None
    downgrade: FunctionBody | None = None
    ignored_codes: frozenset[str] = frozenset()
    read_error: str | None = None
    read_error_line: int = 1
    sha256: str = ""

    @property
    def is_stray(self) -> bool:
        return self.read_error is None and self.revision is None

    @property
    def line(self) -> int:
        if self.read_error is not None:
            return self.read_error_line
        if self.revision_at is not None:
            return self.revision_at.line
        return 1

    def line_of(self, variable: str) -> int:
        """Line of the ``down_revision`` / ``depends_on`` / ``branch_labels``
        assignment, else the file's own line (findings point at the cause)."""
        at = getattr(self, f"{variable}_at")
        return at.line if at is not None else self.line

    @property
    def message(self) -> str:
        return self.header.message or ""

    @property
    def stem(self) -> str:
        """The file name without its extension: ``0001_init`` for ``versions/0001_init.py``."""
        return posixpath.splitext(posixpath.basename(self.path))[0]


@dataclass(frozen=True, slots=True)
class Diagnostic:
    code: str
    name: str
    severity: Severity
    message: str
    file: str | None
    line: int
    revision: str | None = None
    related: tuple[str, ...] = ()

    def sort_key(self) -> tuple:
        return (self.file or "", self.line, self.code, self.message)


@dataclass(frozen=True)
class Summary:
    files: int
    revisions: int
    heads: int
    """How many distinct revision ids are heads (:attr:`migdoc.chain.graph.RevisionGraph.head_revisions`)."""
    errors: int
    warnings: int
    info: int
    head_revisions: tuple[str, ...] = ()
    """The heads counted by ``heads``, sorted."""


@dataclass(frozen=True)
class CheckResult:
    diagnostics: tuple[Diagnostic, ...]
    summary: Summary
    dryrun: object | None = None
    """``check --dryrun``: the dry-run's result (``DryrunResult``), for the formats that carry it whole."""

    @property
    def has_errors(self) -> bool:
        return self.summary.errors > 0

    def with_diagnostics(self, diagnostics: Iterable[Diagnostic], dryrun: object | None = None) -> CheckResult:
        """The same chain's result with ``diagnostics`` in place of its own, sorted and counted
        again (findings the static check could not make: the dry-run's, the deployed schema's)."""
        found = tuple(sorted(diagnostics, key=Diagnostic.sort_key))
        summary = replace(
            self.summary,
            errors=sum(d.severity is Severity.ERROR for d in found),
            warnings=sum(d.severity is Severity.WARNING for d in found),
            info=sum(d.severity is Severity.INFO for d in found),
        )
        return CheckResult(found, summary, dryrun=self.dryrun if dryrun is None else dryrun)


# -- a repair plan: moves, renames, text edits and new files -----------------------------
# Built by ``planner``, shown by ``output.fix``, carried out by ``apply``. Paths are
# absolute, as the project's files were read: a plan made in one folder applies from any.


@dataclass(frozen=True)
class TextEdit:
    """Replace ``old`` by ``new`` at a span of one file's text.

    Lines are 1-based, columns are 0-based *character* offsets (not the
    UTF-8 byte offsets ``ast`` reports); ``old`` is checked before replacing.
    """

    line: int
    col: int
    end_line: int
    end_col: int
    old: str
    new: str


@dataclass(frozen=True, kw_only=True)
class _ActionBase:
    """What every action carries: why it is there and what it answers."""

    reason: str
    answers: tuple[str, ...] = ()
    """The diagnostic codes this action answers."""
    revision: str | None = None
    warnings: tuple[str, ...] = ()
    """What the user must know before applying (a revision the database has applied)."""


@dataclass(frozen=True, kw_only=True)
class MoveFile(_ActionBase):
    """Move a file out of the version folders, unchanged (to the archive)."""

    source: str
    target: str
    sha256: str
    kind: str = "move"


@dataclass(frozen=True, kw_only=True)
class RenameFile(_ActionBase):
    """Give a file a new name in its own folder, unchanged."""

    source: str
    target: str
    sha256: str
    kind: str = "rename"


@dataclass(frozen=True, kw_only=True)
class EditText(_ActionBase):
    """Small edits to one file; refused when its content hash is no longer ``old_sha256``."""

    path: str
    old_sha256: str
    edits: tuple[TextEdit, ...]
    old_text: str
    new_text: str
    kind: str = "edit"


@dataclass(frozen=True)
class TemplateRender:
    """A new file to be rendered from the project's own template (``script.py.mako``), as
    Alembic renders it. Rendering runs the Python inside the template, so it happens only
    where the user asked for a write (``--apply``); a preview shows these arguments.

    ``arguments``: Alembic's template arguments but ``config`` (which the edge supplies),
    as (name, value) pairs in the order Alembic passes them."""

    template: str
    """The template's path (absolute, as the project was read)."""
    arguments: tuple[tuple[str, object], ...]
    down_revisions: tuple[str, ...] = ()
    """The parents the rendered file must declare (checked after rendering)."""


@dataclass(frozen=True, kw_only=True)
class CreateFile(_ActionBase):
    """Write a new file; refused when something already exists at ``path``.

    With ``template`` set, ``content`` is a preview (what will be rendered, from which
    template) until the edge renders the file at ``--apply``."""

    path: str
    content: str
    kind: str = "create"
    template: TemplateRender | None = None


Action = MoveFile | RenameFile | EditText | CreateFile


@dataclass(frozen=True)
class Refusal:
    """A strategy that would not plan without a decision only the user can make (a
    :class:`migdoc.errors.FixRefused`, kept as data where a plan reports it)."""

    message: str
    flag: str | None = None
    """The option that decides (``--keep``, ``--head``...)."""
    candidates: tuple[str, ...] = ()
    """The values it could take, where known (absolute paths for ``--keep``, ids for ``--head``)."""


@dataclass(frozen=True)
class Realign:
    """The ``alembic stamp`` a database needs once the plan is applied; migdoc never runs it.

    Needed when the plan archives a revision the database is at: Alembic could
    no longer find it, so ``stamp --purge`` rewrites ``alembic_version`` to
    ``revisions`` (the surviving current revisions, and the nearest surviving
    ancestors of the archived ones) without running a migration.
    """

    current: tuple[str, ...]
    """The database's revisions as read."""
    revisions: tuple[str, ...]
    """What to stamp; empty means ``base``."""
    command: str
    reason: str


@dataclass(frozen=True)
class Proof:
    """One proof run (or not) on a plan's planned tree.

    ``ok``: True passed, False failed (the plan must not be written), None did not run
    (``why`` says why: no PostgreSQL, ``--no-verify``)."""

    name: str
    """``revision-map``, ``no-new-errors`` or ``upgrade``."""
    ok: bool | None
    why: str = ""
    revision: str | None = None
    """For a failed ``upgrade``: the revision whose step failed."""
    error: str | None = None
    statement: str | None = None

    @property
    def is_failed(self) -> bool:
        return self.ok is False


@dataclass(frozen=True)
class Plan:
    """An ordered list of actions and what the strategies could not do.

    Invariants: no two actions write the same path; a file that is both
    edited and renamed is edited first (at its old path); nothing is deleted.
    """

    strategies: tuple[str, ...]
    actions: tuple[Action, ...] = ()
    notes: tuple[str, ...] = ()
    """Things the user should know that need no action (main head chosen, applied revisions...)."""
    unresolved: tuple[str, ...] = ()
    """Problems the chosen strategies found and cannot repair."""
    main_head: str | None = None
    realign: Realign | None = None
    """With a database: the ``alembic stamp`` to run after applying, when the plan needs one."""
    refusal: Refusal | None = None
    """When the strategy refused (the overview of ``fix`` without a strategy): why, and the flag."""
    proofs: tuple[Proof, ...] = ()
    """What was proved on the planned tree (``migdoc.fix.planner.verify``); empty: not yet proved."""

    @property
    def is_empty(self) -> bool:
        return not self.actions


@dataclass(frozen=True)
class FixOptions:
    """What the edges decide for the planner, so that planning stays pure."""

    is_renumber: bool = False
    is_archive: bool = False
    is_merge: bool = False
    is_relink: bool = False
    is_rebase: bool = False
    """``--rebase``: re-point the newer branch's first revision onto the other head."""
    is_reid: bool = False
    """``--reid``: give the copy of a duplicated id the id its file name carries (or a fresh one)."""
    is_overview: bool = False
    """No strategy was named (``fix`` alone shows what each would do): each acts on
    error-level findings only; ``--renumber`` named acts on every filename mismatch."""
    head: str | None = None
    keep: tuple[str, ...] = ()
    """``--keep FILE``: of the files declaring one id, the one the main line keeps."""
    base_ref: str | None = None
    """``--base-ref REF`` (with ``--relink``): the branch this one merges into."""
    base_ref_heads: tuple[str, ...] = ()
    """The heads at REF alone, read from git by the edge."""
    ours_paths: frozenset[str] = frozenset()
    """Version files added or changed on this branch (not at REF), read from git by the edge."""
    base_ref_revisions: frozenset[str] = frozenset()
    """Every revision id declared at REF: a file this branch changed but REF declares is not new."""
    message: str | None = None
    """``--merge -m/--message``: the merge revision's message (default "merge heads"), as ``alembic merge -m``."""
    rev_id: str | None = None
    """``--merge --rev-id``: the merge revision's id, as ``alembic merge --rev-id``."""
    file_template: str | None = None
    """``--file-template``: the name pattern ``--renumber`` follows (else the project's, else learned)."""
    now: datetime = datetime(2000, 1, 1)
    """The clock, read by the CLI: archive folder date and merge Create Date."""
    archive_dir: str | None = None
    """``--archive-dir``; default ``<script_location>/archive/<YYYY-MM-DD>``."""
    applied_revisions: frozenset[str] = field(default_factory=frozenset)
    """Revisions a database has applied (from ``--database-url``): warned about, never silently archived."""
    database_current: tuple[str, ...] = ()
    """The database's current revision(s), for the ``alembic stamp`` hint."""
    alembic_config: str | None = None
    """The config file as the user would pass it to ``alembic -c`` (shown in the stamp command)."""
    alembic_section: str = "alembic"
    """The ini section (``alembic -n``), shown when it is not ``alembic``."""

    @property
    def strategies(self) -> tuple[str, ...]:
        chosen = []
        if self.is_relink:
            chosen.append("relink")
        if self.is_reid:
            chosen.append("reid")
        if self.is_rebase:
            chosen.append("rebase")
        if self.is_archive:
            chosen.append("archive")
        if self.is_merge:
            chosen.append("merge")
        if self.is_renumber:
            chosen.append("renumber")
        return tuple(chosen)
