"""Rules about files the reader cannot take whole: MD010 (unreadable), MD014 (a ``.py``
file that declares no revision), MD019 (a value computed at import time)."""

from __future__ import annotations

import re
from collections.abc import Iterator

from migdoc.model import Severity
from migdoc.rules.registry import CheckContext, Finding, rule


@rule(
    "MD010",
    "unreadable-revision",
    "error",
    summary=(
        "A version file cannot be read statically: syntax error, undecodable bytes, NUL bytes, "
        "`revision` or `down_revision` missing or not a literal, not a regular file or too large, "
        "or it declares a revision but no `upgrade()` (a file cut off mid-way)."
    ),
    why=(
        "Alembic imports every version file before any command: one such file makes every command fail "
        "with a traceback, and its revision is missing from the graph. A file without `upgrade()` loads, "
        "reads as healthy, and fails only when `alembic upgrade` reaches it, half-way through a deploy."
    ),
    example="""
versions/0004_add_users.py
    revision = make_id()     <- MD010: not a literal""",
    fix="`fix` never edits an unreadable file; repair it by hand, then run `migdoc check` again.",
)
def unreadable_revision(context: CheckContext) -> Iterator[Finding]:
    for rf in context.graph.files:
        if rf.read_error is not None:
            yield Finding(rf, rf.read_error_line, f"cannot be read statically: {rf.read_error}", rf.revision)
        elif rf.revision is not None and rf.upgrade is None:
            # the reader saw no binding of the name at all (see reader._bound_elsewhere)
            yield Finding(
                rf,
                rf.line,
                f"revision {rf.revision} has no upgrade() (is the file cut off?); "
                "Alembic fails with \"has no attribute 'upgrade'\" when it reaches it",
                rf.revision,
            )


_LEGACY_REVISION_FILE = re.compile(r"([a-f0-9]+)\.py$")
"""Alembic 0.1's file names: Alembic still takes the revision id from such a name."""


@rule(
    "MD014",
    "stray-file",
    "error",
    summary=(
        "A `.py` file in a versions folder that declares no revision (info only for Alembic's legacy "
        "hex file names, which it accepts)."
    ),
    why=(
        'Alembic imports every `.py` file of a versions folder and stops every command with "Could not '
        'determine revision id from filename" when one declares no `revision`: a helper module belongs '
        "outside the versions folder (`__init__.py` is skipped)."
    ),
    example="""
versions/helpers.py   (no `revision = ...`)   <- MD014""",
    fix="`fix` leaves it where it is; move a helper module out of the versions folder.",
)
def stray_file(context: CheckContext) -> Iterator[Finding]:
    for rf in context.graph.files:
        if not rf.is_stray:
            continue
        name = rf.path.rsplit("/", 1)[-1]
        if _LEGACY_REVISION_FILE.match(name):
            yield Finding(
                rf,
                1,
                "declares no revision; Alembic takes the id from this legacy file name (Alembic 0.1 style)",
                severity=Severity.INFO,
            )
        else:
            yield Finding(
                rf,
                1,
                'declares no revision; Alembic stops every command with "Could not determine revision id '
                f'from filename {name}": move it out of the versions folder',
            )


@rule(
    "MD019",
    "unresolved-value",
    "warning",
    summary="`branch_labels` or `depends_on` is computed when the module is imported, so it cannot be read statically.",
    why="migdoc's graph may miss that label or dependency, so its other findings may be incomplete.",
    example="""
branch_labels = tuple(LABELS)   <- MD019""",
    fix="`fix` leaves it; write the value as a literal so every tool can read it.",
)
def unresolved_value(context: CheckContext) -> Iterator[Finding]:
    for rf in context.graph.files:
        if rf.is_branch_labels_unresolved and rf.branch_labels_at:
            yield Finding(
                rf,
                rf.branch_labels_at.line,
                f"branch_labels {_why_unresolved(rf.branch_labels_unresolved_reason)}; migdoc cannot see these labels",
                rf.revision,
            )
        if rf.is_depends_on_unresolved and rf.depends_on_at:
            yield Finding(
                rf,
                rf.depends_on_at.line,
                f"depends_on {_why_unresolved(rf.depends_on_unresolved_reason)}; migdoc cannot see these dependencies",
                rf.revision,
            )


def _why_unresolved(reason: str | None) -> str:
    return f"is decided only when the module runs ({reason})" if reason else "is not a literal"
