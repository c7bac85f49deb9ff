"""A repair plan as data: moves, renames, text edits and new files.

Everything here is frozen and free of I/O. ``planner`` builds a :class:`Plan`,
``output.plan`` shows it, ``apply`` carries it out. Paths are as the project's
files were read (relative to the current directory when under it).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime


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


@dataclass(frozen=True, kw_only=True)
class CreateFile(_ActionBase):
    """Write a new file; refused when something already exists at ``path``."""

    path: str
    content: str
    kind: str = "create"


Action = MoveFile | RenameFile | EditText | CreateFile


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

    @property
    def is_empty(self) -> bool:
        return not self.actions


@dataclass(frozen=True)
class FixOptions:
    """What the edges decide for the planner, so that planning stays pure."""

    is_renumber: bool = False
    is_archive: bool = False
    is_merge: bool = False
    head: str | None = None
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
        if self.is_archive:
            chosen.append("archive")
        if self.is_merge:
            chosen.append("merge")
        if self.is_renumber:
            chosen.append("renumber")
        return tuple(chosen)
