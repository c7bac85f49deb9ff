"""The rule registry: one definition per code, its documentation beside it."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from migdoc.model import Diagnostic, RevisionFile, Severity

if TYPE_CHECKING:
    from migdoc.chain.graph import RevisionGraph
    from migdoc.gitref import MergedView


@dataclass(frozen=True)
class CheckContext:
    """Everything a rule may look at. Pure data: the edges fill it in."""

    graph: RevisionGraph
    file_template: str | None = None
    """The project's ``file_template`` when it sets one explicitly."""
    archived: Mapping[str, str] = field(default_factory=dict)
    """Revision id -> archived file path, for "did you mean" hints."""
    archived_files: tuple[RevisionFile, ...] = ()
    """The archive folder's files as read: what they created no longer exists for Alembic (MD022)."""
    deployed: tuple[str, ...] | None = None
    """The database's ``alembic_version`` rows (MD016); ``None``: no database was read."""
    lost_revisions: Mapping[str, str] = field(default_factory=dict)
    """Revision id -> where git history last saw it (MD016 hints)."""
    squashed: Mapping[str, str] = field(default_factory=dict)
    """Archived revision id -> the baseline revision ``migdoc squash`` replaced it with (MD016)."""
    merged: MergedView | None = None
    """The version files after merging into ``--base-ref`` (MD017); ``None``: no ref given."""
    env_path: str | None = None
    """The project's env.py (MD029, MD030 point at it)."""
    env_source: str | None = None
    """The text of the project's env.py, read by the edge (MD029, MD030); ``None``: none found."""
    is_lock_timeout_set: bool = False
    """env.py or ``[tool.migdoc] lock_timeout`` sets a lock_timeout for every migration (MD028 is quiet)."""


@dataclass(frozen=True)
class Finding:
    """What a rule reports; the registry turns it into a :class:`Diagnostic`."""

    file: RevisionFile | None
    line: int
    message: str
    revision: str | None = None
    related: tuple[str, ...] = ()
    severity: Severity | None = None
    """Overrides the rule's default where the rule itself decides (MD003)."""


@dataclass(frozen=True)
class Rule:
    code: str
    name: str
    severity: Severity
    summary: str
    why: str
    example: str
    fix: str
    check: Callable[[CheckContext], Iterable[Finding]]
    enabled_by_default: bool = True
    """False: runs only when selected by its code or name (``--select MD029``, ``[tool.migdoc] select``)."""

    def documentation(self) -> str:
        return (
            f"{self.code} {self.name} (default severity: {self.severity.value})\n\n"
            f"What it finds\n  {self.summary}\n\n"
            f"Why it is bad\n  {self.why}\n\n"
            f"Example\n{_indent(self.example)}\n\n"
            f"How `migdoc fix` treats it\n  {self.fix}\n"
        )


RULES: dict[str, Rule] = {}


def rule(
    code: str,
    name: str,
    severity: str,
    *,
    summary: str,
    why: str,
    example: str,
    fix: str,
    enabled_by_default: bool = True,
) -> Callable[[Callable[[CheckContext], Iterable[Finding]]], Callable[[CheckContext], Iterable[Finding]]]:
    def register(check: Callable[[CheckContext], Iterable[Finding]]):
        if code in RULES:
            raise ValueError(f"rule {code} registered twice")
        RULES[code] = Rule(
            code, name, Severity(severity), summary, why, example.strip("\n"), fix, check, enabled_by_default
        )
        return check

    return register


def code_named(name: str) -> str:
    """The code of the rule called ``name`` (``"cycle"`` -> ``"MD005"``): code elsewhere
    names a rule through the registry, so a renumbered or removed rule fails loudly."""
    for rule_ in RULES.values():
        if rule_.name == name:
            return rule_.code
    raise KeyError(f"no rule named {name!r}")


def _indent(text: str) -> str:
    return "\n".join("    " + line if line else "" for line in text.splitlines())


def diagnostics_of(rule_: Rule, context: CheckContext, override: Severity | None) -> Iterator[Diagnostic]:
    """The rule's findings as diagnostics; a configured severity beats the rule's own."""
    for finding in rule_.check(context):
        yield Diagnostic(
            code=rule_.code,
            name=rule_.name,
            severity=override or finding.severity or rule_.severity,
            message=finding.message,
            file=finding.file.path if finding.file else None,
            line=finding.line,
            revision=finding.revision,
            related=tuple(sorted(set(finding.related))),
        )
