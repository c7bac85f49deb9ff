"""mkdocs hook: pages made from the code, so they cannot drift from it.

- ``rules/MDxxx.md``: one page per registered rule, the text ``migdoc explain CODE`` prints;
- the rule table in ``rules.md`` (the marker ``<!-- rule-table -->``);
- ``changelog.md``: the repository's ``CHANGELOG.md``.
"""

from __future__ import annotations

from pathlib import Path

from mkdocs.structure.files import File, Files

from migdoc.rules import RULES

ROOT = Path(__file__).resolve().parents[2]
MARKER = "<!-- rule-table -->"


def _rule_page(rule) -> str:
    return (
        f"# {rule.code} {rule.name}\n\n"
        f"Default severity: **{rule.severity.value}**. The same text: `migdoc explain {rule.code}`.\n\n"
        f"## What it finds\n\n{rule.summary}\n\n"
        f"## Why it is bad\n\n{rule.why}\n\n"
        f"## Example\n\n```\n{rule.example}\n```\n\n"
        f"## How `migdoc fix` treats it\n\n{rule.fix}\n\n"
        f"[All rules](../rules.md)\n"
    )


def rule_table() -> str:
    rows = ["| code | name | default | what it finds |", "|---|---|---|---|"]
    for code in sorted(RULES):
        rule = RULES[code]
        summary = rule.summary.split(". ", 1)[0].rstrip(".").replace("|", "\\|") + "."
        rows.append(f"| [{code}](rules/{code}.md) | {rule.name} | {rule.severity.value} | {summary} |")
    return "\n".join(rows) + "\n"


def on_files(files: Files, config) -> Files:
    for code in sorted(RULES):
        files.append(File.generated(config, f"rules/{code}.md", content=_rule_page(RULES[code])))
    files.append(File.generated(config, "changelog.md", content=(ROOT / "CHANGELOG.md").read_text()))
    return files


def on_page_markdown(markdown: str, page, config, files) -> str:
    if MARKER in markdown:
        return markdown.replace(MARKER, rule_table())
    return markdown
