"""One line per finding, ``path:line:col: CODE [revision] message``: the shape editors,
terminals and CI logs turn into links (as ruff's and flake8's default output)."""

from __future__ import annotations

from collections import Counter

from migdoc.model import CheckResult
from migdoc.output.text import Styler, plain, printable, printable_path
from migdoc.util.filesystem import display_path, display_text


def render_check(result: CheckResult, style: Styler = plain) -> str:
    lines = []
    for d in result.diagnostics:
        # migdoc's findings are about a whole statement, so the column is always 1;
        # it is printed anyway so tools that expect path:line:col parse every line.
        where = f"{printable_path(display_path(d.file))}:{max(d.line, 1)}:1" if d.file else "(project):1:1"
        revision = f" [{printable(d.revision)}]" if d.revision else ""
        code = style(d.code, d.severity.value)
        lines.append(f"{style(where, 'path')}: {code}{revision} {printable(display_text(d.message))}")
    return "".join(line + "\n" for line in lines)


def render_statistics(results: list[CheckResult], style: Styler = plain) -> str:
    """Count per code, most frequent first, as ``ruff --statistics``: count, code, name."""
    counts: Counter[str] = Counter()
    names: dict[str, tuple[str, str]] = {}
    for result in results:
        for d in result.diagnostics:
            counts[d.code] += 1
            names[d.code] = (d.name, d.severity.value)
    if not counts:
        return ""
    width = len(str(max(counts.values())))
    lines = []
    for code, count in sorted(counts.items(), key=lambda item: (-item[1], item[0])):
        name, severity = names[code]
        lines.append(f"{count:>{width}}\t{style(code, severity)}\t{name}")
    return "".join(line + "\n" for line in lines)
