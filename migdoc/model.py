"""Immutable records that flow through migdoc: files read, findings, plans.

Everything here is plain data. Nothing in this module touches the disk.
"""

from __future__ import annotations

import posixpath
from dataclasses import dataclass, field
from enum import Enum


class Severity(str, Enum):
    ERROR = "error"
    WARNING = "warning"
    INFO = "info"

    @property
    def rank(self) -> int:
        return {"error": 2, "warning": 1, "info": 0}[self.value]


@dataclass(frozen=True)
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


@dataclass(frozen=True)
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


@dataclass(frozen=True)
class Header:
    """The docstring header Alembic's template writes."""

    revision_id: str | None = None
    revision_id_line: int = 0
    revises: tuple[str, ...] | None = None
    revises_line: int = 0
    create_date: str | None = None
    message: str | None = None


@dataclass(frozen=True)
class Assignment:
    """Where a module-level variable was assigned, and how it was spelled."""

    line: int
    end_line: int
    col: int
    end_col: int
    is_literal: bool = True


@dataclass(frozen=True)
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


@dataclass(frozen=True)
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
    errors: int
    warnings: int
    info: int


@dataclass(frozen=True)
class CheckResult:
    diagnostics: tuple[Diagnostic, ...]
    summary: Summary
    dryrun: object | None = None
    """``check --dryrun``: the dry-run's result (``DryrunResult``), for the formats that carry it whole."""

    @property
    def has_errors(self) -> bool:
        return self.summary.errors > 0
