"""Dry-run reports: live progress lines, the final text report, and json. Pure formatting."""

from __future__ import annotations

import dataclasses
import json
import time
from collections.abc import Callable

from migdoc.output.text import Styler, plain, printable
from migdoc.util.filesystem import display_path, display_text

_PHASE_WORDS = {"upgrade": "up", "downgrade": "down", "consistency": "same", "re-upgrade": "up"}


def render_progress(label: str, steps: list, style: Styler = plain) -> str:
    """One line per revision once its steps are done: ``  ok  0001 create customers  up 12ms ...``."""
    failed = any(not step.ok for step in steps)
    mark = style("FAIL", "error") if failed else style(" ok ", "head")
    parts = []
    for step in steps:
        word = _PHASE_WORDS.get(step.phase, step.phase)
        parts.append(f"{word} {step.seconds * 1000:.0f}ms")
    return f"{mark} {printable(label)}  {style(' '.join(parts), 'dim')}\n"


def render_text(result, style: Styler = plain, is_lock_table: bool = False) -> str:
    """The final report: one summary line when it passed; every failure in full when not; the
    measured lock risks as finding lines; with ``is_lock_table`` the per-step lock table."""
    from migdoc.output import lock_report

    after = lock_report.render_risks(getattr(result, "lock_risks", ()), style)
    if is_lock_table:
        after += lock_report.render_table(result)
    return _render_text(result, style) + after


def _render_text(result, style: Styler) -> str:
    failure = result.failure
    database = result.database or "no database (the chain cannot be loaded)"
    notes = "".join(f"  note: {printable(note)}\n" for note in result.notes)
    if failure is None:
        checks = "upgrade, downgrade, consistency" if any(s.phase == "downgrade" for s in result.steps) else "upgrade"
        noun = "revision" if result.revisions == 1 else "revisions"
        ran = f"{result.revisions} {noun} ({checks}) in {result.seconds:.2f} s on {database}"
        if result.drift:  # every step passed, yet the run fails (exit 1): the verdict says so
            text = f"{style('dry-run failed', 'error')}: every step passed ({ran}), but the models drifted (MD020)\n"
        else:
            text = f"{style('dry-run passed', 'head')}: {ran}\n"
        return text + notes + render_drift(result.drift, style)
    failures = result.failures or [failure]
    parts = [_render_failure(one, database if number == 0 else None, style) for number, one in enumerate(failures)]
    if len(failures) > 1:
        parts.append(
            f"{len(failures)} failures; the run went on after each where it could (--fail-fast: stop at the first)\n"
        )
    if result.not_run:
        parts.append(f"not run (above a failed upgrade): {', '.join(printable(rev) for rev in result.not_run)}\n")
    return "".join(parts) + notes + render_drift(result.drift, style)


def _render_failure(failure, database: str | None, style: Styler) -> str:
    where = printable(failure.file or "?")
    if failure.line:
        where = f"{where}:{failure.line}"
    lines = [
        f"{style('dry-run failed', 'error')}: phase {failure.phase}"
        + (f" of revision {printable(failure.revision)}" if failure.revision else "")
        + f" ({style(where, 'path')})",
    ]
    if database is not None:
        lines.append(f"  database:  {database}")
    if failure.findings:
        lines.append("  the static reader finds the chain unrunnable:")
        for finding in failure.findings:
            place = f"{finding['file']}:{finding['line']}" if finding.get("line") else str(finding["file"])
            lines.append(f"    {finding['code']} {printable(place)}: {printable(finding['message'])}")
    else:
        lines.append(f"  error:     {failure.error}")
    if failure.statement:
        lines.append(f"  statement: {failure.statement}")
    if failure.schema_diff:
        lines.append("  schema after downgrade vs before upgrade:")
        lines.extend(f"    {change.describe()}" for change in failure.schema_diff)
    return "\n".join(lines) + "\n"


def render_drift(drift, style: Styler = plain) -> str:
    """MD020: the models differ from the schema the migrations build at the heads."""
    if not drift:
        return ""
    noun = "difference" if len(drift) == 1 else "differences"
    lines = [
        f"{style('MD020 model-drift', 'error')}: the models (env.py's target_metadata) differ from the schema "
        f"at the heads ({len(drift)} {noun}; the models changed without a migration, or the reverse):"
    ]
    lines.extend(f"  {style(item.file or '?', 'path')}: {item.message}" for item in drift)
    return "\n".join(lines) + "\n"


def displayed(result):
    """The result with every path as the caller sees it (relative to the current directory
    when under it): records hold absolute paths, resolved against the project."""

    def shown(path: str | None) -> str | None:
        return display_path(path) if path else path

    def failure_shown(failure):
        findings = tuple(
            {**finding, "file": shown(finding.get("file")), "message": display_text(str(finding.get("message", "")))}
            for finding in failure.findings
        )
        return dataclasses.replace(
            failure, file=shown(failure.file), error=display_text(failure.error), findings=findings
        )

    failures = [failure_shown(failure) for failure in result.failures]
    failure = None
    if result.failure is not None:
        failure = failures[result.failures.index(result.failure)] if result.failure in result.failures else None
        failure = failure or failure_shown(result.failure)
    drift = [dataclasses.replace(item, file=shown(item.file)) for item in result.drift]
    risks = [dataclasses.replace(risk, file=shown(risk.file)) for risk in result.lock_risks]
    return dataclasses.replace(result, failure=failure, failures=failures, drift=drift, lock_risks=risks)


def render_json(result) -> str:
    return json.dumps(result.to_dict(), indent=2) + "\n"


class ProgressPrinter:
    """Collects a revision's steps and writes its line as soon as its last step is done
    (the re-upgrade; the upgrade with ``is_downgrade=False``), or a step fails.

    Writing it then, not when the next revision starts, keeps the screen current
    while a slow migration runs."""

    def __init__(self, echo: Callable[[str], None], style: Styler = plain, *, is_downgrade: bool = True) -> None:
        self.echo = echo
        self.style = style
        self.is_downgrade = is_downgrade
        self.label: str | None = None
        self.steps: list = []

    def __call__(self, label: str, step) -> None:
        if self.label is not None and label != self.label:
            self.flush()
        self.label = label
        self.steps.append(step)
        if not step.ok or self._is_complete():
            self.flush()

    def _is_complete(self) -> bool:
        last = self.steps[-1].phase
        return last == "re-upgrade" or (last == "upgrade" and not self.is_downgrade)

    def flush(self) -> None:
        if self.label is not None and self.steps:
            self.echo(render_progress(self.label, self.steps, self.style))
        self.label, self.steps = None, []


class PeriodicProgress:
    """Progress for a log, not a terminal (CI): one line every ``every`` revisions or
    ``seconds``, whichever comes first, so a long run is never silent for minutes.
    A revision counts as done when its last step is (as :class:`ProgressPrinter` decides)."""

    def __init__(
        self,
        echo: Callable[[str], None],
        *,
        is_downgrade: bool = True,
        every: int = 25,
        seconds: float = 10.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.echo = echo
        self.is_downgrade = is_downgrade
        self.every = every
        self.seconds = seconds
        self.clock = clock
        self.started = self.last = clock()
        self.done = self.failed = self.reported = 0

    def __call__(self, label: str, step) -> None:
        if not step.ok:
            self.failed += 1
        last = "re-upgrade" if self.is_downgrade else "upgrade"
        if step.phase == last or not step.ok:
            self.done += 1
            now = self.clock()
            if self.done - self.reported >= self.every or now - self.last >= self.seconds:
                self._line(f"{printable(label)} done")

    def _line(self, where: str) -> None:
        now = self.clock()
        failed = f", {self.failed} failed" if self.failed else ""
        noun = "revision" if self.done == 1 else "revisions"
        self.echo(f"migdoc: dry-run: {self.done} {noun} done{failed} in {now - self.started:.0f} s ({where})\n")
        self.last, self.reported = now, self.done

    def flush(self) -> None:
        """Nothing: the report that follows says how the run ended (a short run stays quiet)."""
