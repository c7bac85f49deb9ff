"""``check`` and ``dryrun`` as one call each: the options in, the rendered report and the
exit code out. Reads disk (through :mod:`migdoc.doctor`).

The command line parses, hands over the callbacks that print (layout notes, the dry-run's
live progress, a finished part of the report), prints what comes back and exits with it.

A ``check`` that reads nothing but files (no ``--database-url``, ``--base-ref`` or
``--dryrun``) is answered from :mod:`migdoc.result_cache` when nothing it depends on has
changed. This module is on that path, so it imports nothing heavy at the top: the graph,
the rules, the outputs and the dry-run are imported only when an answer is computed.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

EXIT_OK, EXIT_FINDINGS = 0, 1

Styler = Callable[[str, str], str]


@dataclass(frozen=True)
class DryrunOptions:
    """The dry-run's options (of ``dryrun`` and of ``check --dryrun``)."""

    server_url: str | None = None
    pg_bindir: str | None = None
    url_env: tuple[str, ...] = ()
    x_arguments: tuple[str, ...] = ()
    no_downgrade: bool = False
    to_revision: str | None = None
    step_timeout: float | None = None
    run_as_server_role: bool = False
    fail_fast: bool = False
    setup: str | None = None
    setup_stamp: str | None = None
    base_sql: str | None = None
    python: str | None = None


@dataclass(frozen=True)
class DryrunPrinters:
    """What shows a dry-run as it runs: the progress printer (None: nothing live), the
    "dry-run on ..." line, and the style of the final report."""

    progress: object | None = None
    on_database: Callable[[str], None] | None = None
    style: Styler | None = None


@dataclass(frozen=True)
class CheckRequest:
    """Every option of ``check``; each one that shapes the answer is part of its cache key."""

    paths: tuple[str, ...] = (".",)
    config: str | None = None
    name: str = "alembic"
    version_locations: tuple[str, ...] = ()
    fmt: str = "text"
    select: tuple[str, ...] = ()
    ignore: tuple[str, ...] = ()
    database_url: str | None = None
    base_ref: str | None = None
    is_statistics: bool = False
    is_exit_zero: bool = False
    is_quiet: bool = False
    is_colour: bool = False
    is_snippets: bool = True
    """text: the source line under each finding (``--no-snippets``: none)."""
    is_to_file: bool = False
    """The report goes to ``-o FILE``: no live dry-run (the report is written whole)."""
    dryrun: DryrunOptions | None = None

    @property
    def is_cacheable(self) -> bool:
        """Only an answer made of files alone: a database, git or a dry-run may say otherwise next time."""
        return self.dryrun is None and self.database_url is None and self.base_ref is None


@dataclass(frozen=True)
class Answer:
    """A rendered report and the exit code that goes with it."""

    report: str
    code: int
    is_cached: bool = field(default=False, compare=False)


def check_paths(
    request: CheckRequest,
    styler: Callable[[], Styler],
    on_note: Callable[[str], None] = lambda note: None,
    show: Callable[[str], None] | None = None,
    dryrun_printers: Callable[[bool], DryrunPrinters] | None = None,
) -> Answer:
    """``migdoc check``: every PATH read and checked, one report, the worst exit code.

    ``styler()`` makes what colours the report (keyed by ``request.is_colour``; called only
    when a report is rendered: a cached answer imports no output module); ``on_note`` gets each
    layout note (how a project was found) unless ``-q``; ``show`` prints a finished part of
    the report at once (used before a live dry-run); ``dryrun_printers(is_downgrade)``
    makes what shows a dry-run live."""
    if request.is_cacheable:
        from migdoc import result_cache

        cache = result_cache.open_for(request)
        if cache is not None:
            if cache.answer is not None:
                # the notes come from the layouts found just now, as a miss prints them
                for note in () if request.is_quiet else (n for layout in cache.layouts for n in layout.notes):
                    on_note(note)
                return cache.answer
            answer, projects = _check(request, styler(), cache.layouts, show, dryrun_printers, on_note)
            cache.store(answer, projects)
            return answer
    return _check(request, styler(), None, show, dryrun_printers, on_note)[0]


def _check(request, style, layouts, show, dryrun_printers, on_note) -> tuple[Answer, list]:
    """The answer computed, and the projects it was computed from."""
    from pathlib import Path

    from migdoc.doctor import check_project, load_project, repository_root
    from migdoc.output import concise, github, json_format, sarif, text

    fmt, paths = request.fmt, request.paths
    # the dry-run's live progress only when the report goes straight to stdout
    is_live_dryrun = request.dryrun is not None and fmt == "text" and not request.is_to_file
    is_live_dryrun = is_live_dryrun and not request.is_statistics
    parts: list[str] = []
    results, roots, projects = [], [], []
    code = EXIT_OK
    for number, path in enumerate(paths):
        project = load_project(
            path,
            config=request.config,
            name=request.name,
            version_locations=request.version_locations,
            layout=layouts[number] if layouts is not None else None,
        )
        projects.append(project)
        # How the layout was found goes to stderr: stdout stays the report (json, sarif...).
        for note in () if request.is_quiet else project.layout.notes:
            on_note(note)
        result = check_project(
            project,
            select=request.select,
            ignore=request.ignore,
            database_url=request.database_url,
            base_ref=request.base_ref,
        )
        dryrun_result = None
        if request.dryrun is not None and not is_live_dryrun:  # one report in the check's format
            from migdoc.output.text import plain

            dryrun_result, dryrun_code = _run_dryrun(project, request.dryrun, DryrunPrinters(style=plain))
            code = max(code, dryrun_code)
            if fmt != "text":
                from migdoc.dryrun.findings import with_dryrun

                result = with_dryrun(result, dryrun_result)
        results.append(result)
        roots.append(repository_root(project))
        code = max(code, EXIT_FINDINGS if result.has_errors else EXIT_OK)
        if request.is_statistics:
            continue
        heading = f"{text.printable_path(path)}:\n" if len(paths) > 1 and fmt in ("text",) else ""
        if fmt == "text":
            snippets = source_lines(result.diagnostics) if request.is_snippets else None
            parts.append(heading + text.render_check(result, style, is_summary=not request.is_quiet, snippets=snippets))
            if dryrun_result is not None:
                from migdoc.masking import mask_secrets
                from migdoc.output import dryrun_text

                parts.append("\n" + mask_secrets(dryrun_text.render_text(dryrun_result, style)))
        elif fmt == "concise":
            parts.append(concise.render_check(result, style))
        elif fmt == "github":
            parts.append(github.render_check(result))
        if is_live_dryrun:
            assert show is not None
            show("".join(parts))
            parts.clear()
            show("\n")
            printers = dryrun_printers(not request.dryrun.no_downgrade) if dryrun_printers else DryrunPrinters()
            report, dryrun_code = dryrun_report(project, "text", request.dryrun, printers)
            show(report)
            code = max(code, dryrun_code)
    if request.is_statistics:
        parts = [concise.render_statistics(results, style)]
    elif fmt == "json":
        parts = [json_format.render_check(results[0]) if len(paths) == 1 else json_format.render_checks(paths, results)]
    elif fmt == "sarif":
        parts = [sarif.render_checks(results, roots, Path.cwd())]
    answer = Answer("".join(parts), EXIT_OK if request.is_exit_zero and code == EXIT_FINDINGS else code)
    return answer, projects


def source_lines(diagnostics) -> dict[tuple[str, int], str]:
    """(file, line) -> that line of the file, for the findings shown in text (a file that
    cannot be read now, or a line past its end, shows none)."""
    from migdoc.filesystem import read_regular_file

    wanted: dict[str, set[int]] = {}
    for d in diagnostics:
        if d.file and d.line:
            wanted.setdefault(d.file, set()).add(d.line)
    found: dict[tuple[str, int], str] = {}
    for file, numbers in wanted.items():
        try:
            lines = read_regular_file(file).decode("utf-8", errors="replace").splitlines()
        except (OSError, ValueError):
            continue
        for number in numbers:
            if 0 < number <= len(lines) and lines[number - 1].strip():
                found[(file, number)] = lines[number - 1]
    return found


def _run_dryrun(project, options: DryrunOptions, printers: DryrunPrinters):
    """The dry-run with its live printers; the result as displayed, and its exit code."""
    from migdoc.doctor import dryrun_project
    from migdoc.dryrun.base_schema import BaseSchema
    from migdoc.output import dryrun_text

    result = dryrun_project(
        project,
        server_url=options.server_url or None,
        pg_bindir=options.pg_bindir,
        downgrade=not options.no_downgrade,
        to=options.to_revision,
        url_env=options.url_env or ("DATABASE_URL",),
        progress=printers.progress,
        on_database=printers.on_database,
        step_timeout=options.step_timeout,
        x_arguments=options.x_arguments,
        run_as_server_role=options.run_as_server_role,
        fail_fast=options.fail_fast,
        base=BaseSchema(options.base_sql, options.setup, options.setup_stamp),
        python=options.python,
    )
    if printers.progress is not None:
        printers.progress.flush()
    result = dryrun_text.displayed(result)
    return result, EXIT_OK if result.ok else EXIT_FINDINGS


def dryrun_report(
    project, fmt: str, options: DryrunOptions, printers: DryrunPrinters, is_lock_table: bool = False
) -> tuple[str, int]:
    """Run the dry-run on a loaded project; its report (text or json, passwords masked) and
    exit code (0 passed, 1 a step failed). ``is_lock_table``: text ends with the per-step lock table."""
    from migdoc.masking import mask_secrets
    from migdoc.output import dryrun_text
    from migdoc.output.text import plain

    result, code = _run_dryrun(project, options, printers)
    style = printers.style or plain
    if fmt == "json":
        report = dryrun_text.render_json(result)
    else:
        report = dryrun_text.render_text(result, style, is_lock_table=is_lock_table)
    return mask_secrets(report), code


def dryrun_path(
    path: str,
    fmt: str,
    options: DryrunOptions,
    printers: DryrunPrinters,
    config: str | None = None,
    name: str = "alembic",
    version_locations: tuple[str, ...] = (),
    on_note: Callable[[str], None] = lambda note: None,
    is_lock_table: bool = False,
) -> tuple[str, int]:
    """``migdoc dryrun``: find and read the project, then :func:`dryrun_report`."""
    from migdoc.doctor import load_project

    project = load_project(path, config=config, name=name, version_locations=version_locations)
    for note in project.layout.notes:
        on_note(note)
    return dryrun_report(project, fmt, options, printers, is_lock_table=is_lock_table)
