"""Rules about the revision ids themselves: MD024."""

from __future__ import annotations

from collections.abc import Iterator

from migdoc.project.naming import revision_id_problem
from migdoc.rules.registry import CheckContext, Finding, rule


@rule(
    "MD024",
    "illegal-revision-id",
    "error",
    summary=(
        "A revision id Alembic cannot use: it contains `@`, `-`, `+` or `:` (Alembic's own rule), "
        "or it is `base`, `head` or `heads`, which Alembic reads as symbols."
    ),
    why=(
        "Alembic raises `RevisionError: Character(s) '-' not allowed in revision identifier` while it "
        "loads the file, so every command fails; an id such as `head` loads, but `alembic upgrade head` "
        "never means that revision and it cannot be named on the command line."
    ),
    example="""
versions/0004_add_users.py
    revision = "add-users"     <- MD024: '-' is not allowed""",
    fix=(
        "`fix` never renames a revision id; choose a new id by hand and update every `down_revision` and "
        "`depends_on` that names it. `fix --merge --rev-id` refuses such an id."
    ),
)
def illegal_revision_id(context: CheckContext) -> Iterator[Finding]:
    for rf in context.graph.files:
        if rf.revision is None:
            continue
        problem = revision_id_problem(rf.revision)
        if problem is not None:
            yield Finding(rf, rf.line, f"revision id {rf.revision!r} cannot be used: {problem}", rf.revision)
