"""`migdoc explain`: the list of rules, and one rule's documentation."""

from __future__ import annotations

from collections.abc import Iterable

from migdoc.rules.registry import Rule


def render_rule_list(rules: Iterable[Rule]) -> str:
    """One line per rule, sorted by code, columns as wide as their longest entry, with the
    summary's first sentence (`migdoc explain CODE` has the rest)."""
    ordered = sorted(rules, key=lambda r: r.code)
    name_width = max(len(r.name) for r in ordered)
    severity_width = max(len(r.severity.value) for r in ordered)
    lines = []
    for rule in ordered:
        summary = rule.summary.split(". ", 1)[0].rstrip(".") + "."
        lines.append(f"{rule.code}  {rule.name:<{name_width}}  {rule.severity.value:<{severity_width}}  {summary}\n")
    return "".join(lines)


def find_rule(rules: Iterable[Rule], wanted: str) -> Rule | None:
    """The rule whose code (any case) or kebab-case name is ``wanted``."""
    code, name = wanted.strip().upper(), wanted.strip().lower()
    return next((r for r in rules if r.code == code or r.name == name), None)
