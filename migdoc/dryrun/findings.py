"""A dry-run's result as diagnostics (MD021 for a failed step, MD020 for model drift,
MD025-MD028 for the lock risks it measured), so that ``check --dryrun`` reports it in every
format. Pure."""

from __future__ import annotations

from migdoc.model import CheckResult, Diagnostic, Severity
from migdoc.rules import code_named
from migdoc.rules.locks import LOCK_CODES

DRYRUN_FAILED, MODEL_DRIFT = code_named("dryrun-failed"), code_named("model-drift")


def dryrun_diagnostics(result) -> list[Diagnostic]:
    """One MD021 for every failure of the run (it goes on after a failure), one MD020 for every drift."""
    found = []
    failures = getattr(result, "failures", None) or ([result.failure] if result.failure is not None else [])
    for failure in failures:
        if failure.findings:
            # a chain the static reader finds unrunnable: its findings are the check's own
            # diagnostics already; one line says the dry-run never ran (so -q and concise say it too)
            codes = ", ".join(sorted({str(finding["code"]) for finding in failure.findings}))
            first = failure.findings[0]
            found.append(
                Diagnostic(
                    DRYRUN_FAILED,
                    "dryrun-failed",
                    Severity.ERROR,
                    f"dry-run did not run: the chain cannot be loaded ({codes}); nothing was run on a database",
                    first.get("file"),
                    first.get("line") or 1,
                    first.get("revision"),
                )
            )
            continue
        message = f"dry-run failed: phase {failure.phase}"
        if failure.revision:
            message += f" of revision {failure.revision}"
        message += f": {failure.error}"
        if failure.statement:
            message += f"; statement: {failure.statement}"
        if failure.schema_diff:
            message += "; schema after downgrade vs before upgrade: " + "; ".join(
                change.describe() for change in failure.schema_diff
            )
        found.append(
            Diagnostic(
                DRYRUN_FAILED,
                "dryrun-failed",
                Severity.ERROR,
                message,
                failure.file,
                failure.line or 1,
                failure.revision,
            )
        )
    for risk in getattr(result, "lock_risks", ()):
        found.append(
            Diagnostic(
                risk.code,
                code_name(risk.code),
                Severity.WARNING,
                risk.message,
                risk.file,
                risk.line,
                risk.revision,
            )
        )
    for drift in getattr(result, "drift", ()):
        found.append(
            Diagnostic(
                MODEL_DRIFT, "model-drift", Severity.ERROR, drift.message, drift.file, drift.line, drift.revision
            )
        )
    return found


def code_name(code: str) -> str:
    from migdoc.rules import RULES

    return RULES[code].name


def measured_locks(result) -> dict[str, tuple]:
    """Revision -> the lock risks measured in its upgrade step, for every revision whose
    upgrade the dry-run measured (an empty tuple when the step was safe)."""
    measured: dict[str, tuple] = {
        step.revision: ()
        for step in getattr(result, "steps", ())
        if step.phase == "upgrade" and step.ok and step.locks is not None
    }
    for risk in getattr(result, "lock_risks", ()):
        measured[risk.revision] = (*measured.get(risk.revision, ()), risk)
    return measured


def with_dryrun(check: CheckResult, result) -> CheckResult:
    """The check's result with the dry-run's diagnostics added and counted. For the lock
    codes, measured wins per revision (as in ``migdoc.rules.locks``): a static lock finding
    on a revision the dry-run measured gives way to what was measured."""
    measured = measured_locks(result)
    kept = [d for d in check.diagnostics if not (d.code in LOCK_CODES and d.revision in measured)]
    return check.with_diagnostics([*kept, *dryrun_diagnostics(result)], dryrun=result)
