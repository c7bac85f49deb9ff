"""GitHub Actions workflow annotations, one line per diagnostic."""

from __future__ import annotations

from migdoc.model import CheckResult, Severity
from migdoc.output.text import printable
from migdoc.util.filesystem import display_path, display_text

_LEVEL = {Severity.ERROR: "error", Severity.WARNING: "warning", Severity.INFO: "notice"}


def _escape_data(text: str) -> str:
    # other control characters (ESC, U+2028...) shown as escapes, as in every human-facing format
    return printable(text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A"))


def _escape_property(text: str) -> str:
    return _escape_data(text).replace(":", "%3A").replace(",", "%2C")


def render_check(result: CheckResult) -> str:
    lines = []
    for d in result.diagnostics:
        location = f"file={_escape_property(display_path(d.file))},line={d.line}," if d.file else ""
        title = _escape_property(f"{d.code} {d.name}")
        lines.append(f"::{_LEVEL[d.severity]} {location}title={title}::{_escape_data(display_text(d.message))}")
    return "".join(line + "\n" for line in lines)
