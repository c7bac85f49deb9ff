"""``check`` as one call: the options in, the rendered report and the exit code out. Reads
disk (through :mod:`migdoc.doctor`).

The command line parses, hands over the callbacks that print (layout notes, the dry-run's
live progress, a finished part of the report), prints what comes back and exits with it.

A ``check`` that reads nothing but files (no ``--database-url``, ``--base-ref`` or
``--dryrun``) is answered from :mod:`migdoc.cache.results` when nothing it depends on has
changed. This module is on that path, so it imports nothing heavy at the top: the graph,
the rules, the outputs and the dry-run are imported only when an answer is computed.
"""

from __future__ import annotations

from collections.abc import Callable

from migdoc.options import Answer, CheckRequest, DryrunPrinters, Styler

EXIT_OK, EXIT_FINDINGS = 0, 1


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
        from migdoc.cache import results as result_cache

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
        if request.drift is not None:
            result = _with_drift(project, request, result, on_note)
        dryrun_result = None
        if request.dryrun is not None and not is_live_dryrun:  # one report in the check's format
            from migdoc.output.text import plain
            from migdoc.reports.dryrun import run_dryrun

            dryrun_result, dryrun_code = run_dryrun(
                project, request.dryrun, DryrunPrinters(style=plain), request.select, request.ignore
            )
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
                from migdoc.output import dryrun_text
                from migdoc.reports.dryrun import not_yet_shown
                from migdoc.util.masking import mask_secrets

                dryrun_result.lock_risks = not_yet_shown(dryrun_result.lock_risks, result.diagnostics)
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
            from migdoc.reports.dryrun import dryrun_report

            report, dryrun_code = dryrun_report(
                project,
                "text",
                request.dryrun,
                printers,
                shown=result.diagnostics,
                select=request.select,
                ignore=request.ignore,
            )
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


def _with_drift(project, request: CheckRequest, result, on_note: Callable[[str], None]):
    """MD031 findings (or why the comparison was not made, as a note) added to the check's."""
    from migdoc.database.schema_drift import with_diagnostics
    from migdoc.doctor import check_schema_drift
    from migdoc.errors import UsageError

    if request.database_url is None:
        raise UsageError(
            "--drift compares a deployed database with the chain: name it with --database-url URL "
            "(or MIGDOC_DATABASE_URL)",
            option="--drift",
        )
    assert request.drift is not None
    report = check_schema_drift(project, request.database_url, request.drift)
    if report.skipped:
        on_note(report.skipped)
    return with_diagnostics(result, report.diagnostics)


def source_lines(diagnostics) -> dict[tuple[str, int], str]:
    """(file, line) -> that line of the file, for the findings shown in text (a file that
    cannot be read now, or a line past its end, shows none)."""
    from migdoc.util.filesystem import read_regular_file

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
