"""MD031: the deployed schema against the schema the chain builds up to the database's stamp.

``check --database-url URL --drift``: the chain is upgraded (no stairway) from base to the
revision(s) the database is stamped at, on a throwaway database; both schemas are read
with the snapshot the stairway compares with (PostgreSQL's own deparsers), the deployed one
in a read-only transaction; every object that differs is one finding. The version table
is left out on both sides.

:func:`drift_changes` and :func:`drift_diagnostics` are pure; :func:`read_deployed_schema`
reads the deployed database; ``doctor.check_schema_drift`` runs the chain to the stamp.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from migdoc.dryrun.schema import SchemaChange, diff_snapshots, take_snapshot
from migdoc.model import CheckResult, Diagnostic, Severity
from migdoc.rules import code_named

SCHEMA_DRIFT = code_named("schema-drift")


@dataclass
class DriftReport:
    """What the comparison found, or why it was not made."""

    revisions: tuple[str, ...]
    changes: list[SchemaChange] = field(default_factory=list)
    diagnostics: list[Diagnostic] = field(default_factory=list)
    """MD031 findings, or MD021 when the chain could not be upgraded to the stamp."""
    skipped: str | None = None


def drift_changes(chain: dict, deployed: dict) -> list[SchemaChange]:
    """Object by object: ``added`` only the deployed database has it, ``removed`` only the
    chain builds it, ``changed`` both, defined differently."""
    return diff_snapshots(chain, deployed)


def describe(change: SchemaChange, at: str) -> str:
    if change.change == "added":
        return f"{change.kind} {change.name} exists in the deployed database but no revision up to {at} creates it: {change.after}"
    if change.change == "removed":
        return f"{change.kind} {change.name} is missing from the deployed database; the chain up to {at} creates it: {change.before}"
    return (
        f"{change.kind} {change.name} differs: the chain up to {at} builds {change.before}; "
        f"the deployed database has {change.after}"
    )


def drift_diagnostics(changes: Sequence[SchemaChange], revisions: Sequence[str]) -> list[Diagnostic]:
    at = ", ".join(revisions) if revisions else "base"
    revision = revisions[0] if len(revisions) == 1 else None
    return [
        Diagnostic(SCHEMA_DRIFT, "schema-drift", Severity.ERROR, describe(change, at), None, 0, revision)
        for change in changes
    ]


def with_diagnostics(check: CheckResult, extra: Sequence[Diagnostic]) -> CheckResult:
    """The check's result with ``extra`` added and counted."""
    return check.with_diagnostics([*check.diagnostics, *extra])


def _snapshot_of(url: str) -> dict:
    from sqlalchemy import create_engine
    from sqlalchemy.pool import NullPool

    engine = create_engine(url, poolclass=NullPool)
    try:
        with engine.connect() as connection:
            return take_snapshot(connection)
    finally:
        engine.dispose()


def snapshot_of(url: str) -> dict:
    """The schema snapshot of the database at ``url`` (the throwaway one, after the chain ran)."""
    return _snapshot_of(url)


def read_deployed_schema(database_url: str) -> tuple[tuple[str, ...], dict]:
    """The deployed database's stamped revisions and schema snapshot, read in one read-only
    transaction."""
    from migdoc.database.deployed_schema import read_only_connection, stamped_revisions

    with read_only_connection(database_url) as connection:
        return tuple(stamped_revisions(connection)), take_snapshot(connection)
