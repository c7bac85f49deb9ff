"""``fix`` and ``squash`` as one call each: the request in, the plan rendered, proved, applied or undone, and the
exit code out. Reads and writes disk (through :mod:`migdoc.doctor`).

The command line parses, hands over what prints (standard output and standard error, in the
order a person reads them: the plan first, then what happened to it), and exits with the code.

Exit codes: 0 nothing to do or applied, 1 a plan shown but not applied (not asked to, a proof
failed, or the result was not healthier), 128 + the signal's number when a signal stopped the
writing. Refusals and usage errors are raised (:class:`~migdoc.errors.MigdocError`), as
everywhere else, for the command line to turn into one line and exit 2.
"""

from __future__ import annotations

import dataclasses
import signal
from collections.abc import Callable
from dataclasses import dataclass

from migdoc.model import FixOptions

EXIT_OK, EXIT_FINDINGS = 0, 1

Styler = Callable[[str, str], str]


@dataclass(frozen=True)
class FixRequest:
    """Every option of ``fix`` but the project's location."""

    options: FixOptions = FixOptions()
    fmt: str = "text"
    database_url: str | None = None
    base_ref: str | None = None
    show_diff: bool = False
    is_apply: bool = False
    is_no_verify: bool = False
    """With ``--apply``: skip the upgrade of the planned tree on a throwaway PostgreSQL."""
    server_url: str | None = None
    pg_bindir: str | None = None
    url_env: tuple[str, ...] = ("DATABASE_URL",)
    x_arguments: tuple[str, ...] = ()


@dataclass(frozen=True)
class FixPrinters:
    """Where the report goes: ``out`` takes text as it is (standard output), ``err`` one line
    (standard error); ``style`` colours the plan."""

    out: Callable[[str], None]
    err: Callable[[str], None]
    style: Styler


def undo_report(project, printers: FixPrinters) -> int:
    """``fix --undo``: restore the files of the last applied fix and say what was kept."""
    from migdoc import doctor
    from migdoc.util.filesystem import display_path, display_text

    undone = doctor.undo_fix(project)
    shown_journal = display_path(undone.journal)
    if not undone.kept and not undone.failed:
        printers.out(f"restored the files of {shown_journal}\n")
    elif undone.is_closed:
        printers.out(
            f"restored the files of {shown_journal} except {len(undone.kept)}, kept as they were changed "
            "after the fix; the journal is closed\n"
        )
    else:
        printers.out(
            f"partly restored the files of {shown_journal}; the journal stays open: "
            "`migdoc fix --undo` again finishes the restore\n"
        )
    for problem in undone.kept:
        printers.err(f"migdoc: kept: {display_text(problem)}")
    for problem in undone.failed:
        printers.err(f"migdoc: not restored: {display_text(problem)}")
    return EXIT_FINDINGS if undone.kept or undone.failed else EXIT_OK


def fix_report(project, request: FixRequest, printers: FixPrinters) -> int:
    """``migdoc fix``: the recommended plan and the alternatives, or the plan of the strategy
    named; proved, then applied when asked. Nothing is written unless every proof passed."""
    from migdoc import doctor
    from migdoc.errors import FixRefused, UsageError
    from migdoc.output import fix as shown

    try:
        proposal = doctor.plan_fix(project, request.options, request.database_url, base_ref=request.base_ref)
    except FixRefused as exc:
        if request.fmt == "json":  # the refusal's data on stdout; its one line still goes to stderr, exit 2
            printers.out(shown.render_refusal_json(exc))
        raise
    if proposal.plan is None and request.is_apply and proposal.overview:
        if proposal.recommended is None:
            raise UsageError(
                "--apply: no plan can be recommended here (`migdoc fix` shows why); choose a strategy: "
                + ", ".join(" ".join(f"--{s}" for s in plan.strategies) for plan in proposal.overview.values())
            )
        proposal = dataclasses.replace(proposal, plan=proposal.overview[proposal.recommended])
    if proposal.plan is None:
        return _show_overview(proposal, request, printers)
    if request.is_apply and not proposal.plan.is_empty:
        # proved before anything is written: the static proofs on what will be written, then the upgrade
        proposal = doctor.prove_fix(
            project,
            proposal,
            is_database_proof=not request.is_no_verify,
            server_url=request.server_url,
            pg_bindir=request.pg_bindir,
            url_env=request.url_env,
            x_arguments=request.x_arguments,
        )
    _show_plan(proposal.plan, request, printers)
    if not request.is_apply or proposal.plan.is_empty:
        return EXIT_FINDINGS if proposal.plan.actions or proposal.plan.unresolved else EXIT_OK
    return _apply(project, proposal, printers)


def _show_overview(proposal, request: FixRequest, printers: FixPrinters) -> int:
    from migdoc.output import fix as shown

    proposals = proposal.overview or {}
    if request.fmt == "json":
        printers.out(shown.render_overview_json(proposals, proposal.recommended, proposal.not_recommended))
    elif request.show_diff:  # the recommended plan's diff (one plan, so `git apply` takes it), else each
        chosen = [proposals[proposal.recommended]] if proposal.recommended else list(proposals.values())
        printers.out("".join(shown.render_diff(p) for p in chosen))
    else:
        printers.out(shown.render_overview(proposals, printers.style, proposal.recommended, proposal.not_recommended))
    return EXIT_FINDINGS if proposals else EXIT_OK


def _show_plan(plan, request: FixRequest, printers: FixPrinters) -> None:
    from migdoc.output import fix as shown
    from migdoc.util.filesystem import display_text

    if request.fmt == "json":
        printers.out(shown.render_plan_json(plan))
    elif request.show_diff:
        printers.out(shown.render_diff(plan))
        # A diff has no place for these, and they must not go unseen.
        for action in plan.actions:
            for warning in action.warnings:
                printers.err(f"warning: {shown.printable(display_text(warning))}")
        for line in shown.proof_lines(dataclasses.replace(plan, proofs=tuple(p for p in plan.proofs if not p.ok))):
            printers.err(line.strip())
        if plan.realign is not None:
            printers.err(f"after applying, stamp the database: {shown.printable(display_text(plan.realign.command))}")
    else:
        printers.out(shown.render_plan(plan, printers.style))


def _apply(project, proposal, printers: FixPrinters) -> int:
    from migdoc import doctor
    from migdoc.output import fix as shown
    from migdoc.util.filesystem import display_text

    plan = proposal.plan
    failed = [proof for proof in plan.proofs if proof.is_failed]
    if failed:
        skip = " (--no-verify skips the database proof)" if failed[0].name == "upgrade" else ""
        statement = f" [SQL: {' '.join(failed[0].statement.split())}]" if failed[0].statement else ""
        printers.err(
            f"migdoc: not applied: the {failed[0].name} proof failed: "
            f"{shown.printable(display_text(failed[0].why + statement))}; nothing changed{skip}"
        )
        return EXIT_FINDINGS
    code = _write(
        lambda: doctor.apply_fix(project, proposal),
        plan,
        printers,
        rolled_back="the result was not healthier",
        command="fix",
    )
    if code != EXIT_OK:
        return code
    if plan.realign is not None:
        # Never run by migdoc: the database is only ever read.
        printers.err(f"now stamp the database (migdoc did not): {shown.printable(display_text(plan.realign.command))}")
    return EXIT_FINDINGS if plan.unresolved else EXIT_OK


@dataclass(frozen=True)
class SquashRequest:
    """Every option of ``squash`` but the project's location."""

    options: object  # migdoc.fix.squash.SquashOptions
    fmt: str = "text"
    database_url: str | None = None
    show_diff: bool = False
    is_apply: bool = False
    server_url: str | None = None
    pg_bindir: str | None = None
    python: str | None = None
    url_env: tuple[str, ...] = ("DATABASE_URL",)
    x_arguments: tuple[str, ...] = ()


def squash_undo_report(project, printers: FixPrinters) -> int:
    """``squash --undo``: the files of the last applied squash restored."""
    from migdoc import doctor
    from migdoc.util.filesystem import display_path, display_text

    undone = doctor.undo_fix(project)
    printers.out(f"restored the files of {display_path(undone.journal)}\n")
    for problem in (*undone.kept, *undone.failed):
        printers.err(f"migdoc: not restored: {display_text(problem)}")
    return EXIT_FINDINGS if undone.kept or undone.failed else EXIT_OK


def squash_report(project, request: SquashRequest, printers: FixPrinters) -> int:
    """``migdoc squash --to REV``: the plan, proved on a throwaway PostgreSQL, shown, and
    applied when asked and every proof passed."""
    from migdoc import doctor
    from migdoc.errors import FixRefused
    from migdoc.output import fix as shown
    from migdoc.util.filesystem import display_text

    options = request.options
    try:
        proposal = doctor.plan_squash(
            project,
            options,
            request.database_url,
            server_url=request.server_url,
            pg_bindir=request.pg_bindir,
            python=request.python,
            url_env=request.url_env,
            x_arguments=request.x_arguments,
        )
    except FixRefused as exc:
        if request.fmt == "json":  # the refusal's data on stdout; its one line still goes to stderr, exit 2
            printers.out(shown.render_refusal_json(exc))
        raise
    plan = proposal.plan
    if request.fmt == "json":
        printers.out(shown.render_plan_json(plan))
    elif request.show_diff:
        printers.out(shown.render_diff(plan))
        for line in shown.proof_lines(plan):  # a diff has no place for them, and they must not go unseen
            printers.err(line.strip())
        for note in plan.notes:
            printers.err(f"note: {shown.printable(display_text(note))}")
    else:
        heading = f"migdoc squash --to {options.to}: {len(plan.actions)} actions"
        printers.out(shown.render_plan(plan, printers.style, heading=heading))
    failed = [proof for proof in plan.proofs if proof.is_failed]
    if not request.is_apply:
        return EXIT_FINDINGS if plan.actions else EXIT_OK
    if failed:
        printers.err(
            f"migdoc: not applied: the {failed[0].name} proof failed: {shown.printable(display_text(failed[0].why))}; "
            "nothing changed"
        )
        return EXIT_FINDINGS
    return _write(
        lambda: doctor.apply_squash(project, proposal),
        plan,
        printers,
        rolled_back="the squashed chain has new errors",
        command="squash",
    )


def _write(apply: Callable, plan, printers: FixPrinters, *, rolled_back: str, command: str) -> int:
    """Carry a proved plan out and say what became of it: applied (with its journal), rolled
    back (``rolled_back`` says why), or stopped by a signal (128 + its number)."""
    from migdoc.errors import ApplyInterrupted
    from migdoc.util.filesystem import display_path

    try:
        result = apply()
    except ApplyInterrupted as exc:
        word = "terminated" if exc.signum == signal.SIGTERM else "interrupted"
        printers.err(f"migdoc: {word} ({signal.Signals(exc.signum).name}) while applying; {exc.note}")
        return 128 + exc.signum
    counts = (
        f"errors {result.errors_before} -> {result.errors_after}, "
        f"warnings {result.warnings_before} -> {result.warnings_after}"
    )
    if result.is_rolled_back:
        printers.err(f"migdoc: not applied: {rolled_back} ({counts}); every file was restored")
        return EXIT_FINDINGS
    printers.err(
        f"applied {len(plan.actions)} actions ({counts}); journal {display_path(result.journal)}; "
        f"`migdoc {command} --undo` reverts"
    )
    return EXIT_OK
