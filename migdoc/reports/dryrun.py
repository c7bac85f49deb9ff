"""``dryrun`` as one call: the options in, the scope (``--since``, ``--base-ref``) and the start
(``--from-database``, a base schema) settled, the stairway run, and the rendered report and
exit code out. ``check --dryrun`` runs the same call. Reads disk and databases (through
:mod:`migdoc.doctor`)."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence

from migdoc.options import DryrunOptions, DryrunPrinters

EXIT_OK, EXIT_FINDINGS = 0, 1


def run_dryrun(
    project, options: DryrunOptions, printers: DryrunPrinters, select: Sequence[str] = (), ignore: Sequence[str] = ()
):
    """The dry-run with its live printers; the result as displayed, and its exit code. The
    measured lock risks are those ``select``/``ignore`` (and the project's choices) keep."""
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
    result.lock_risks = chosen_lock_risks(project, result.lock_risks, select, ignore)
    if deployed is not None:
        from migdoc.dryrun.locks import sized_risks

        result.deployed_sizes = deployed.sizes
        result.lock_risks = sized_risks(result.lock_risks, deployed.sizes)
    if printers.progress is not None:
        printers.progress.flush()
    result = dryrun_text.displayed(result)
    return result, EXIT_OK if result.ok else EXIT_FINDINGS


def chosen_lock_risks(project, lock_risks, select: Sequence[str] = (), ignore: Sequence[str] = ()) -> list:
    """The measured lock risks the project's choices keep, as for every static finding:
    ``--select``/``--ignore``, ``[tool.migdoc]`` select/ignore (MD025-MD028 by code or name), and
    a ``# migdoc: ignore[MD028]`` comment in the revision's file."""
    from migdoc.doctor import chosen_codes

    codes = set(chosen_codes(project, select, ignore))
    graph = project.graph
    kept = []
    for risk in lock_risks:
        index = graph.kept.get(risk.revision)
        if risk.code not in codes or (index is not None and risk.code in graph.files[index].ignored_codes):
            continue
        kept.append(risk)
    return kept


def not_yet_shown(lock_risks, shown: Iterable) -> list:
    """The measured lock risks but those a static finding already printed: same code, revision
    and line (the measurement confirmed it)."""
    printed = {(d.code, d.revision, d.line) for d in shown}
    return [risk for risk in lock_risks if (risk.code, risk.revision, risk.line) not in printed]


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
    project,
    fmt: str,
    options: DryrunOptions,
    printers: DryrunPrinters,
    is_lock_table: bool = False,
    shown: Iterable = (),
    select: Sequence[str] = (),
    ignore: Sequence[str] = (),
) -> tuple[str, int]:
    """Run the dry-run on a loaded project; its report (text or json, passwords masked) and
    exit code (0 passed, 1 a step failed). ``is_lock_table``: text ends with the per-step lock
    table. ``shown``: diagnostics already printed (``check --dryrun``'s text): a measured lock
    risk that says what one of them said is not printed twice."""
    from migdoc.output import dryrun_text
    from migdoc.output.text import plain
    from migdoc.util.masking import mask_secrets

    result, code = run_dryrun(project, options, printers, select, ignore)
    result.lock_risks = not_yet_shown(result.lock_risks, shown)
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
