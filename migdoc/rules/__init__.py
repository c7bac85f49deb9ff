"""The diagnostic catalogue. Importing this package registers every rule."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from migdoc.errors import UsageError
from migdoc.model import CheckResult, Diagnostic, Severity, Summary
from migdoc.rules import (  # noqa: F401 - registers the rules
    content,
    deployment,
    dryrun,
    files,
    identity,
    locks,
    naming,
    revision_ids,
    run_safety,
    schema,
    schema_drift,
    topology,
)
from migdoc.rules.registry import RULES, CheckContext, Finding, Rule, code_named, diagnostics_of

__all__ = ["RULES", "CheckContext", "Finding", "Rule", "code_named", "run_checks", "selected_codes", "STATIC_CODES"]

# Listed by code wherever they are listed, whichever module registered them first.
_BY_CODE = dict(sorted(RULES.items()))
RULES.clear()
RULES.update(_BY_CODE)

STATIC_CODES = tuple(code for code, r in RULES.items() if r.enabled_by_default)
"""The codes a check runs when nothing is selected: a rule off by default (MD029, MD030) runs
only when ``--select`` / ``[tool.migdoc] select`` names it by its code or name, or ``ALL``."""


def selected_codes(select: Iterable[str] = (), ignore: Iterable[str] = ()) -> tuple[str, ...]:
    """Codes to run: all, or ``select``, minus ``ignore``. Prefixes (``MD01``) match the rules on by
    default; a rule off by default is selected by its full code or name, or ``ALL``."""

    def expand(patterns: Iterable[str]) -> set[str]:
        chosen: set[str] = set()
        for pattern in patterns:
            pattern = pattern.strip().upper()
            if not pattern:
                continue
            if pattern == "ALL":
                chosen |= set(RULES)
                continue
            matched = {
                code
                for code, r in RULES.items()
                if code.startswith(pattern) and (r.enabled_by_default or code == pattern)
            } | {code for code, r in RULES.items() if r.name == pattern.lower()}
            if not matched:
                raise UsageError(
                    f"unknown rule {pattern!r}; see `migdoc explain` for the list",
                    option="--select/--ignore",
                    value=pattern,
                )
            chosen |= matched
        return chosen

    select = list(select)
    chosen = expand(select) if select else set(STATIC_CODES)
    return tuple(sorted(chosen - expand(ignore)))


def _severity_overrides(raw: Mapping[str, str]) -> dict[str, Severity]:
    overrides = {}
    for code, level in raw.items():
        if code.upper() not in RULES:
            raise UsageError(
                f"[tool.migdoc] severity: unknown rule {code!r}", option="[tool.migdoc] severity", value=code
            )
        try:
            overrides[code.upper()] = Severity(level.lower())
        except ValueError as exc:
            raise UsageError(
                f"[tool.migdoc] severity for {code}: {level!r} is not one of error, warning, info",
                option="[tool.migdoc] severity",
                value=level,
            ) from exc
    return overrides


def run_checks(
    context: CheckContext,
    codes: Iterable[str] | None = None,
    severity: Mapping[str, str] | None = None,
    extra: Iterable[Diagnostic] = (),
) -> CheckResult:
    """Run the chosen rules; honour ``# migdoc: ignore[...]``; sort; summarise."""
    overrides = _severity_overrides(severity or {})
    chosen = tuple(codes) if codes is not None else STATIC_CODES
    ignored_by_file = {rf.path: rf.ignored_codes for rf in context.graph.files}
    found: list[Diagnostic] = list(extra)
    for code in chosen:
        rule_ = RULES[code]
        for diagnostic in diagnostics_of(rule_, context, overrides.get(code)):
            if diagnostic.file and code in ignored_by_file.get(diagnostic.file, frozenset()):
                continue
            found.append(diagnostic)
    found.sort(key=Diagnostic.sort_key)
    graph = context.graph
    summary = Summary(
        files=len(graph.files),
        revisions=len(graph.kept),
        heads=len(graph.head_revisions),
        errors=sum(d.severity is Severity.ERROR for d in found),
        warnings=sum(d.severity is Severity.WARNING for d in found),
        info=sum(d.severity is Severity.INFO for d in found),
        head_revisions=graph.head_revisions,
    )
    return CheckResult(tuple(found), summary)
