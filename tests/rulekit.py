"""Build revision records from literal source text and run one rule on them.

The rule tests (``tests/test_rules_*.py``) never read a fixture folder: each
case writes its revisions inline, so the case says exactly what the rule sees.
Records come from the static reader (``read_revision``) rather than being
assembled field by field, so a case is also proof that the reader and the rule
agree on what a revision file written that way means.
"""

from __future__ import annotations

from collections.abc import Iterable

from migdoc.chain.graph import build_graph
from migdoc.model import Diagnostic, RevisionFile, Severity
from migdoc.project.reader import read_revision
from migdoc.rules import RULES, CheckContext, run_checks

UNSET = object()
"""Leave a variable out of the generated file entirely."""


def _python(value) -> str:
    return "None" if value is None else repr(value)


def source(
    rev: str | None,
    down=None,
    *,
    upgrade: str | None = None,
    downgrade: str | None = None,
    labels=None,
    depends_on=None,
    create_date: str | None = "2025-03-01 09:00:00.000000",
    revises_line: str | None = UNSET,  # type: ignore[assignment]
    revision_id_line: str | None = UNSET,  # type: ignore[assignment]
    prelude: str = "",
    down_literal: str | None = None,
    labels_literal: str | None = None,
    depends_literal: str | None = None,
) -> str:
    """A version file in Alembic's template style.

    ``upgrade`` / ``downgrade`` are body lines (indented here); the defaults
    create and drop a table named after the revision, so two revisions never
    do the same work by accident. ``*_literal`` writes the right-hand side
    verbatim (computed values, ``""``...)."""
    table = f"t_{rev}" if rev else "t_none"
    upgrade = f"op.create_table({table!r}, sa.Column('id', sa.Integer()))" if upgrade is None else upgrade
    downgrade = f"op.drop_table({table!r})" if downgrade is None else downgrade
    if isinstance(down, (tuple, list)):
        revises_default = ", ".join(down)
    else:
        revises_default = down if down is not None else ""
    revises = revises_default if revises_line is UNSET else revises_line
    revision_id = rev if revision_id_line is UNSET else revision_id_line
    header = ["add things", ""]
    if revision_id is not None:
        header.append(f"Revision ID: {revision_id}")
    if revises is not None:
        header.append(f"Revises: {revises}")
    if create_date is not None:
        header.append(f"Create Date: {create_date}")
    lines = ['"""' + "\n".join(header) + "\n\n" + '"""', "from alembic import op", "import sqlalchemy as sa", ""]
    if prelude:
        lines += [prelude, ""]
    if rev is not None:
        lines.append(f"revision = {rev!r}")
    down_text = down_literal if down_literal is not None else _python(tuple(down) if isinstance(down, list) else down)
    lines.append(f"down_revision = {down_text}")
    lines.append(f"branch_labels = {labels_literal if labels_literal is not None else _python(labels)}")
    lines.append(f"depends_on = {depends_literal if depends_literal is not None else _python(depends_on)}")
    lines += ["", "", "def upgrade():"]
    lines += ["    " + line for line in upgrade.splitlines()]
    if downgrade is not UNSET:
        lines += ["", "", "def downgrade():"]
        lines += ["    " + line for line in downgrade.splitlines()]
    return "\n".join(lines) + "\n"


def revision(rev: str | None, down=None, *, path: str | None = None, **options) -> RevisionFile:
    """One record, read from :func:`source`; the path defaults to ``versions/<rev>_change.py``."""
    return from_source(path or f"versions/{rev}_change.py", source(rev, down, **options))


def from_source(path: str, text: str | bytes) -> RevisionFile:
    data = text if isinstance(text, bytes) else text.encode("utf-8")
    return read_revision(path, data)


def chain(*revs: str) -> list[RevisionFile]:
    """A straight line: each revision's down_revision is the one before."""
    files = []
    for position, rev in enumerate(revs):
        files.append(revision(rev, revs[position - 1] if position else None))
    return files


def findings(code: str, files: Iterable[RevisionFile], **context) -> list[Diagnostic]:
    """Run only ``code`` on the graph of ``files``; ``context`` fills :class:`CheckContext`."""
    result = run_checks(CheckContext(build_graph(list(files)), **context), codes=[code])
    assert all(d.code == code for d in result.diagnostics)
    return list(result.diagnostics)


def default_severity(code: str) -> Severity:
    return RULES[code].severity


def where(diagnostics: Iterable[Diagnostic]) -> list[tuple[str | None, Severity]]:
    """(revision, severity) pairs, sorted: what most cases pin."""
    return sorted(((d.revision, d.severity) for d in diagnostics), key=lambda pair: (pair[0] or "", pair[1].value))


def assert_mentions(diagnostic: Diagnostic, *facts: str) -> None:
    """The message names every key fact (an id, a path, a count), whatever its wording."""
    for fact in facts:
        assert fact in diagnostic.message, f"{fact!r} not in {diagnostic.message!r}"
