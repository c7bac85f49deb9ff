"""Rules about names, headers and dates: MD006, MD007, MD009."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import datetime

from migdoc.project.naming import (
    carries_revision,
    filename_revision,
    parse_create_date,
    starts_at_template_rev,
    template_regex,
)
from migdoc.rules.registry import CheckContext, Finding, rule


def _shape(token: str) -> tuple[int, str]:
    kind = "digits" if token.isdigit() else "hex" if all(c in "0123456789abcdef" for c in token) else "other"
    return len(token), kind


def _id_lookalike(stem: str, revision: str) -> str | None:
    """The token of a file name that reads as a revision id, when it is not ``revision``:
    same length and alphabet (``0001`` for ``0005``), or a leading prefix of it
    (``0006`` for ``0006b``)."""
    tokens = [t for t in re.split(r"[_\-.]+", stem) if t]
    wanted = _shape(revision)
    for position, token in enumerate(tokens):
        if wanted[1] != "other" and _shape(token) == wanted:
            return token
        if position == 0 and len(token) >= 2 and revision.startswith(token) and token != revision:
            return token
    return None


@rule(
    "MD006",
    "filename-mismatch",
    "warning",
    summary=(
        "The file name disagrees with the revision id inside it, judged by `file_template` when the "
        "project sets one, else by the naming pattern most of its files follow."
    ),
    why=(
        "People find migrations by file name: a file called `..._0001_...` that holds revision 0008 "
        "sends the reader of an incident to the wrong file."
    ),
    example="""
versions/20251217_0001_notification_settings.py
    revision = "0008"   <- MD006""",
    fix=(
        "`fix --renumber` renames the file so its name carries its revision (date prefix and slug "
        "kept). Revision ids are never changed: databases may hold them."
    ),
)
def filename_mismatch(context: CheckContext) -> Iterator[Finding]:
    files = [(rf, rf.stem) for rf in context.graph.files if rf.revision is not None]
    if not files:
        return
    carrying = sum(1 for rf, stem in files if carries_revision(stem, rf.revision or ""))
    explicit = template_regex(context.file_template) if context.file_template else None
    if explicit is None and carrying * 2 < len(files):
        # Most files do not name their revision: that is this project's convention.
        return
    for rf, stem in files:
        assert rf.revision is not None
        claimed = filename_revision(stem, context.file_template)
        if claimed is not None and claimed != rf.revision and carries_revision(claimed, rf.revision):
            # The template's slug swallowed part of a multi-token id: the name is fine.
            continue
        if claimed is not None and starts_at_template_rev(stem, context.file_template, rf.revision):
            # A word id (`add_task_credentials`) where the template expects one token: the
            # template reads `add` as the rev and the rest as the slug, yet the name carries it.
            continue
        if claimed is not None and claimed != rf.revision:
            message = f"file name says revision {claimed!r} but the file declares {rf.revision!r}"
        elif claimed is None and not carries_revision(stem, rf.revision):
            lookalike = _id_lookalike(stem, rf.revision)
            if lookalike is not None:
                message = f"file name says revision {lookalike!r} but the file declares {rf.revision!r}"
            else:
                message = f"file name does not carry its revision {rf.revision!r}"
        else:
            continue
        yield Finding(rf, rf.line, message, rf.revision)


@rule(
    "MD007",
    "header-mismatch",
    "warning",
    summary="The docstring's `Revision ID:` / `Revises:` lines disagree with the variables.",
    why=(
        "The header is what people read; after a hand rebase it often keeps the old parent, so the "
        "history a reviewer sees is not the one Alembic runs."
    ),
    example='''
"""add index
Revision ID: 0007
Revises: 0005            <- MD007: down_revision = "0006"
"""''',
    fix="`fix` rewrites the `Revises:` line whenever it relinks a revision; otherwise edit it by hand.",
)
def header_mismatch(context: CheckContext) -> Iterator[Finding]:
    for rf in context.graph.files:
        if rf.revision is None or rf.read_error:
            continue
        header = rf.header
        if header.revision_id is not None and header.revision_id != rf.revision:
            yield Finding(
                rf,
                header.revision_id_line,
                f"header says 'Revision ID: {header.revision_id}' but revision = {rf.revision!r}",
                rf.revision,
            )
        if header.revises is not None and _header_ids(header.revises) != set(rf.down_revisions):
            shown = ", ".join(rf.down_revisions) or "None"
            yield Finding(
                rf,
                header.revises_line,
                f"header says 'Revises: {', '.join(header.revises)}' but down_revision is {shown}",
                rf.revision,
            )


def _header_ids(revises: tuple[str, ...]) -> set[str]:
    """The ids a ``Revises:`` line names: ``None`` is none, and a tuple written out as
    ``('a', 'b')`` (templates that print ``${down_revision}``) is its ids."""
    ids = {part.strip("()[]'\" ") for part in revises}
    # `None`, or `(none)` as buildbot's template writes a base
    return {i for i in ids if i and i.lower() != "none"}


@rule(
    "MD009",
    "date-order",
    "info",
    summary="A revision's `Create Date` is earlier than its parent's.",
    why=(
        "A child older than its parent is the trace of a file copied or rebased by hand; the chain "
        "order and the order people wrote things in disagree. Info by default: every branch rebased "
        "onto a newer head leaves one, and Alembic orders by down_revision, never by date."
    ),
    example="""
0007  Create Date: 2025-03-01
0008  Create Date: 2025-02-10   (down_revision = "0007")   <- MD009""",
    fix="`fix` leaves dates alone: they record history.",
)
def date_order(context: CheckContext) -> Iterator[Finding]:
    graph = context.graph
    dates: dict[int, datetime | None] = {}  # each date is a parent's too: parse it once

    def date_of(index: int) -> datetime | None:
        if index not in dates:
            dates[index] = parse_create_date(graph.files[index].header.create_date)
        return dates[index]

    for index in graph.kept_indexes:
        rf = graph.files[index]
        mine = date_of(index)
        if mine is None:
            continue
        for parent in rf.down_revisions:
            if parent not in graph.kept:
                continue
            parent_file = graph.files[graph.kept[parent]]
            theirs = date_of(graph.kept[parent])
            if theirs is not None and mine < theirs:
                yield Finding(
                    rf,
                    rf.line,
                    f"Create Date {rf.header.create_date} is earlier than its parent {parent}'s "
                    f"({parent_file.header.create_date})",
                    rf.revision,
                    (parent_file.path,),
                )
