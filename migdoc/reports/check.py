"""``check`` and ``dryrun`` as one call each: the options in, the rendered report and the
exit code out. Reads disk (through :mod:`migdoc.doctor`).

The command line parses, hands over the callbacks that print (layout notes, the dry-run's
live progress, a finished part of the report), prints what comes back and exits with it.

A ``check`` that reads nothing but files (no ``--database-url``, ``--base-ref`` or
``--dryrun``) is answered from :mod:`migdoc.cache.results` when nothing it depends on has
changed. This module is on that path, so it imports nothing heavy at the top: the graph,
the rules, the outputs and the dry-run are imported only when an answer is computed.
"""

from __future__ import annotations

from collections.abc import Callable

from migdoc.options import Answer, CheckRequest, DryrunOptions, DryrunPrinters, Styler

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
                from migdoc.output import dryrun_text
                from migdoc.util.masking import mask_secrets

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


def _run_dryrun(project, options: DryrunOptions, printers: DryrunPrinters):
    """The dry-run with its live printers; the result as displayed, and its exit code."""
    from migdoc.doctor import dryrun_project
    from migdoc.dryrun.base_schema import BaseSchema
    from migdoc.output import dryrun_text

    scope = _scope(project, options)
    base = BaseSchema(options.base_sql, options.setup, options.setup_stamp)
    deployed = None
    if options.from_database:
        deployed, base = _from_database(project, options)
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
        base=base,
        python=options.python,
        fast_forward=scope.fast_forward if scope is not None else (),
    )
    result.scope = scope
    if deployed is not None:
        result.deployed_sizes = deployed.sizes
    if printers.progress is not None:
        printers.progress.flush()
    result = dryrun_text.displayed(result)
    return result, EXIT_OK if result.ok else EXIT_FINDINGS


def _scope(project, options: DryrunOptions):
    """``--since`` / ``--base-ref``: which revisions the stairway proves; None: all."""
    from migdoc.errors import UsageError

    if options.since is None and options.base_ref is None:
        return None
    from migdoc.dryrun.scope import ref_scope, since_scope

    if options.since is not None and options.base_ref is not None:
        raise UsageError("--since and --base-ref both choose where the dry-run starts: give one", option="--since")
    if options.since is not None:
        return since_scope(project.graph, options.since)
    from migdoc.gitref import OURS, merge_with_ref

    view = merge_with_ref(project.layout, project.files, options.base_ref)
    changed = {str(rf.revision) for rf in view.files if view.origins.get(rf.path) == OURS and rf.revision}
    return ref_scope(project.graph, options.base_ref, view.ref_revisions, changed)


def _from_database(project, options: DryrunOptions):
    """``--from-database URL``: the deployed schema (no rows), stamped where the database is."""
    from migdoc.database.deployed_schema import read_deployed_schema
    from migdoc.dryrun.base_schema import BaseSchema
    from migdoc.errors import UsageError

    if options.base_sql or options.setup or options.setup_stamp:
        raise UsageError(
            "--from-database starts from the deployed schema: leave out --base-sql, --setup and --setup-stamp",
            option="--from-database",
        )
    deployed = read_deployed_schema(options.from_database, options.pg_bindir)
    unknown = [r for r in deployed.revisions if project.graph.resolve(r) is None]
    if unknown:
        raise UsageError(
            f"--from-database {deployed.url}: the database is stamped at {', '.join(unknown)}, which no version "
            "file declares (see MD016): nothing to run from there",
            option="--from-database",
        )
    base = BaseSchema(
        sql_file=f"the schema of {deployed.url}",
        stamp=" ".join(deployed.revisions) or None,
        sql_text=deployed.sql,
    )
    return deployed, base


def dryrun_report(
    project, fmt: str, options: DryrunOptions, printers: DryrunPrinters, is_lock_table: bool = False
) -> tuple[str, int]:
    """Run the dry-run on a loaded project; its report (text or json, passwords masked) and
    exit code (0 passed, 1 a step failed). ``is_lock_table``: text ends with the per-step lock table."""
    from migdoc.output import dryrun_text
    from migdoc.output.text import plain
    from migdoc.util.masking import mask_secrets

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
