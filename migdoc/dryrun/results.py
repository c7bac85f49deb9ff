"""A dry-run's records: the steps run, the first failure, the result; and the static gate
(a chain the reader finds unrunnable fails before any database). Pure data."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from migdoc.dryrun.locks import LockRisk, RelationLock
from migdoc.dryrun.schema import SchemaChange
from migdoc.rules import code_named

LOAD_CODES = tuple(
    code_named(name) for name in ("duplicate-revision", "missing-revision", "cycle", "unreadable-revision")
)
"""The static findings that make a chain unrunnable: the dry-run stops before any database."""
DEFAULT_STEP_TIMEOUT = 300.0  # seconds: far above any step of a real chain on an empty database


@dataclass(frozen=True)
class Step:
    revision: str
    phase: str
    ok: bool
    seconds: float
    locks: tuple[RelationLock, ...] | None = None
    """An upgrade step's measured locks on the relations that existed before it (``locks``)."""

    def to_dict(self) -> dict[str, object]:
        data: dict[str, object] = {
            "revision": self.revision,
            "phase": self.phase,
            "ok": self.ok,
            "seconds": round(self.seconds, 4),
        }
        if self.locks is not None:
            data["locks"] = [lock.to_dict() for lock in self.locks]
        return data


@dataclass(frozen=True)
class Failure:
    revision: str | None
    file: str | None
    phase: str  # upgrade, downgrade, consistency, re-upgrade, load, models
    error: str
    statement: str | None = None
    schema_diff: tuple[SchemaChange, ...] = ()
    findings: tuple[dict[str, object], ...] = ()
    line: int | None = None

    def to_dict(self) -> dict[str, object]:
        data: dict[str, object] = {
            "revision": self.revision,
            "file": self.file,
            "phase": self.phase,
            "error": self.error,
            "statement": self.statement,
            "schema_diff": [change.to_dict() for change in self.schema_diff],
        }
        if self.line is not None:
            data["line"] = self.line
        if self.findings:
            data["findings"] = list(self.findings)
        return data


@dataclass
class DryrunResult:
    database: str | None
    steps: list[Step] = field(default_factory=list)
    failure: Failure | None = None  # the first of ``failures``
    revisions: int = 0
    seconds: float = 0.0
    drift: list = field(default_factory=list)  # MD020 differences (``drift.Drift``)
    failures: list[Failure] = field(default_factory=list)  # every failure, in the order met
    not_run: list[str] = field(default_factory=list)  # revisions above a failed upgrade
    notes: list[str] = field(default_factory=list)  # how the run was made (a driver replaced...)
    driver: str | None = None  # the driver env.py was given (psycopg2, psycopg, asyncpg, pg8000)
    scope: object | None = None  # ``scope.Scope`` of --since / --base-ref; None: the whole chain
    fast_forward_seconds: float | None = None  # the one upgrade below the scope took this long
    deployed_sizes: dict[str, tuple[int, int]] | None = None
    """--from-database: relation name -> (rows, pages) as the deployed database estimates
    them (``pg_class.reltuples``, ``relpages``), for what a lock on it would cost there."""
    lock_risks: list[LockRisk] = field(default_factory=list)  # MD025-MD028 measured (``locks``)
    configure_options: dict = field(default_factory=dict, compare=False)
    """The keyword arguments env.py passed to ``context.configure`` (its last run): its
    ``target_metadata``, ``compare_type``, ``include_object``... Not part of any output."""

    def __post_init__(self) -> None:
        if self.failure is not None and not self.failures:
            self.failures = [self.failure]

    def add_failure(self, failure: Failure) -> None:
        self.failures.append(failure)
        if self.failure is None:
            self.failure = failure

    @property
    def ok(self) -> bool:
        return self.failure is None and not self.drift

    def to_dict(self) -> dict[str, object]:
        return {
            "ok": self.ok,
            "database": self.database,
            "steps": [step.to_dict() for step in self.steps],
            "failure": self.failure.to_dict() if self.failure else None,
            "failures": [failure.to_dict() for failure in self.failures],
            "not_run": list(self.not_run),
            "notes": list(self.notes),
            "driver": self.driver,
            "model_drift": [item.to_dict() for item in self.drift],
            "lock_risks": [risk.to_dict() for risk in self.lock_risks],
            **self._extras(),
        }

    def _extras(self) -> dict[str, object]:
        """Keys only a scoped or --from-database run has."""
        data: dict[str, object] = {}
        if self.scope is not None:
            data["scope"] = self.scope.to_dict(self.fast_forward_seconds)  # type: ignore[attr-defined]
        elif self.fast_forward_seconds is not None:
            data["fast_forward_seconds"] = round(self.fast_forward_seconds, 4)
        if self.deployed_sizes is not None:
            data["deployed_sizes"] = {
                name: {"rows": rows, "pages": pages} for name, (rows, pages) in sorted(self.deployed_sizes.items())
            }
        return data


ProgressFn = Callable[[str, Step], None]
"""Called after each step with the revision's label (id and message) and the step."""


def record_path(path: Path) -> str:
    """A path as records hold it: absolute, a relative one resolved against the project
    (the stairway runs in the project's folder); output shows it relative to the caller."""
    return str(path.resolve())


def static_failure(result) -> Failure | None:
    """A chain the static reader finds unrunnable fails with phase ``load``, before any database.

    ``result``: the static check with at least :data:`LOAD_CODES` selected (the caller runs it,
    so the dry-run never calls back up into the library)."""
    errors = [d for d in result.diagnostics if d.code in LOAD_CODES and d.severity.value == "error"]
    if not errors:
        return None
    first = errors[0]
    return Failure(
        revision=first.revision,
        file=record_path(Path(first.file)) if first.file else None,
        phase="load",
        error="; ".join(f"{d.code} {d.message}" for d in errors),
        line=first.line,
        findings=tuple(
            {
                "code": d.code,
                "file": record_path(Path(d.file)) if d.file else None,
                "line": d.line,
                "revision": d.revision,
                "message": d.message,
            }
            for d in errors
        ),
    )
