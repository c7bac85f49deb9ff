"""The dry-run's lock report in text: the measured risks as finding lines (always), and the
per-step table of ``dryrun --locks``. Pure formatting."""

from __future__ import annotations

from migdoc.output.text import Styler, plain, printable

_NAMES = {
    "MD025": "blocking-index",
    "MD026": "table-rewrite",
    "MD027": "validated-constraint",
    "MD028": "exclusive-lock",
}
_NOTEWORTHY = ("ShareUpdateExclusiveLock", "ShareLock", "ShareRowExclusiveLock", "ExclusiveLock", "AccessExclusiveLock")
"""Locks that block more than other migrations: the table shows these (and any rewrite,
index build or validation); ``--format json`` has every lock."""


def render_risks(risks, style: Styler = plain) -> str:
    """``file:line: warning MD025 blocking-index [rev]: message``, one line per risk."""
    lines = []
    for risk in risks:
        where = f"{risk.file or '?'}:{risk.line}"
        name = _NAMES.get(risk.code, "")
        lines.append(
            f"{style(printable(where), 'path')}: {style('warning', 'warning')} {risk.code} {name} "
            f"[{printable(risk.revision)}]: {printable(risk.message)}"
        )
    return "".join(line + "\n" for line in lines)


def render_table(result) -> str:
    """Per upgrade step: each pre-existing relation it locked noticeably, rewrote, indexed or
    validated. A step with nothing of the kind is one line saying so."""
    rows = [("revision", "relation", "strongest lock", "rewrite", "index / validation")]
    for step in result.steps:
        if step.phase != "upgrade" or step.locks is None:
            continue
        shown = [
            lock
            for lock in step.locks
            if lock.mode in _NOTEWORTHY or lock.rewritten or lock.index_built or lock.validated
        ]
        if not shown:
            rows.append((step.revision, "-", "-", "", ""))
        for lock in shown:
            what = [f"index {lock.index_built}"] if lock.index_built else []
            what.extend(lock.validated)
            rows.append(
                (
                    step.revision,
                    lock.relation,
                    (lock.mode or "-") + (" (no lock_timeout)" if lock.is_unguarded else ""),
                    "rewritten" if lock.rewritten else "",
                    "; ".join(what),
                )
            )
    if len(rows) == 1:
        return "lock report: no upgrade step was measured\n"
    widths = [max(len(printable(row[i])) for row in rows) for i in range(len(rows[0]))]
    out = ["lock report (upgrade steps; relations that existed before the step):"]
    for row in rows:
        out.append(
            "  " + "  ".join(printable(cell).ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        )
    return "\n".join(out) + "\n"
