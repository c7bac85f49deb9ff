"""The library surface the CLI calls: load, check, graph problems, plan a fix, apply it,
undo it, status, dry-run. Each command of the CLI is one call here.

This module composes the edges (``project``, ``deployed``, ``gitref``, ``apply``,
``dryrun``) with the pure core (``graph``, ``rules``, ``planner``); all logic is
reachable from here without the CLI, which never reads a database or the disk itself.

Over ~400 lines for a reason: it is the whole public surface, one short function per
command plus the reading each needs (the deployed database, git history); a reader who
wants to know what the library offers reads one file.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path

from migdoc.config import ProjectLayout, find_layout
from migdoc.errors import ConfigError, UsageError
from migdoc.filesystem import display_path, project_path
from migdoc.graph import RevisionGraph, build_graph
from migdoc.model import CheckResult, FixOptions, Plan, RevisionFile
from migdoc.rules import CheckContext, run_checks, selected_codes
from migdoc.scan import find_archived, gc_paused, read_project_files


@dataclass(frozen=True)
class Project:
    layout: ProjectLayout
    files: tuple[RevisionFile, ...]
    graph: RevisionGraph
    archived: dict[str, str]
    source: tuple = field(default=(), compare=False)
    """How it was found (path, config, name, version_locations): :func:`reload_project` reads it again."""

    def context(self) -> CheckContext:
        template = self.layout.file_template if self.layout.has_explicit_file_template else None
        return CheckContext(graph=self.graph, file_template=template, archived=self.archived)


def load_project(
    path: str | os.PathLike[str] = ".",
    config: str | None = None,
    name: str = "alembic",
    version_locations: Sequence[str] = (),
    is_read_only: bool = False,
    layout: ProjectLayout | None = None,
) -> Project:
    """Find the configuration, read every version file, build the graph.

    ``is_read_only``: write nothing anywhere, not even the read cache (``fix``
    without ``--apply`` promises that). ``layout``: the one these arguments find,
    already found (by the result cache's key), so it is not looked for twice.
    """
    try:
        if layout is None:
            layout = find_layout(path, config=config, name=name, version_locations=version_locations)
    except (ValueError, OSError) as exc:
        # a path no system call accepts (a NUL byte, too long), given or found
        raise ConfigError(f"cannot use the project's paths: {_path_problem(exc)}") from None
    with gc_paused():  # building the graph of thousands of records would set it off again and again
        files = tuple(read_project_files(layout, write_cache=not is_read_only))
        if not any(rf.revision is not None or rf.read_error is not None for rf in files):
            raise ConfigError(_nothing_read(layout, files))
        graph = build_graph(files)
    # as given, made absolute: reloaded after a fix, from whatever folder the process is in then
    source = (_absolute(path), _absolute(config), name, tuple(_absolute(v) for v in version_locations))
    return Project(layout, files, graph, find_archived(layout), source)


def _absolute(path):
    return None if path is None else os.path.abspath(path)


def reload_project(project: Project) -> Project:
    """The same project read again from the disk (after a fix wrote to it)."""
    path, config, name, version_locations = project.source
    return load_project(path, config=config, name=name, version_locations=version_locations)


def _nothing_read(layout: ProjectLayout, files: Sequence[RevisionFile]) -> str:
    """One line: zero revisions is never a clean result; say where migdoc looked and what to do."""
    looked = ", ".join(display_path(v) for v in layout.version_locations)
    source = f"from {display_path(layout.config_file)}" if layout.config_file else "given directly"
    stray = f" ({len(files)} .py file{'s' if len(files) != 1 else ''} without a revision)" if files else ""
    unread = f"; {layout.notes[-1]}" if layout.unread_subfolder_files else ""
    return (
        f"read 0 revisions in {looked} ({source}){stray}{unread}; point migdoc at the script folder "
        "(env.py + versions/), a versions folder, or pass --version-location DIR or -c FILE"
    )


def _path_problem(exc: ValueError | OSError) -> str:
    """One short line: the OS error without a path that may run to thousands of characters."""
    if isinstance(exc, OSError) and exc.strerror:
        name = str(exc.filename or "")
        return f"{exc.strerror}" + (f" ({name[:60]}...)" if len(name) > 60 else f" ({name})" if name else "")
    text = " ".join(str(exc).split())
    return "a path holds a NUL byte" if "null" in text.lower() else text


def check_project(
    project: Project,
    select: Sequence[str] = (),
    ignore: Sequence[str] = (),
    database_url: str | None = None,
    base_ref: str | None = None,
) -> CheckResult:
    """Static diagnosis. Command-line ``select``/``ignore`` add to ``[tool.migdoc]``.

    ``database_url`` adds MD016 (read-only read of ``alembic_version``);
    ``base_ref`` adds MD017 (the version files at that git ref, read from git).
    """
    settings = project.layout.settings
    codes = selected_codes(select=tuple(select) or settings.select, ignore=tuple(settings.ignore) + tuple(ignore))
    context = project.context()
    if database_url is not None or base_ref is not None:
        context = replace(context, **deployment_context(project, database_url, base_ref))
    with gc_paused():  # the rules make short-lived objects by the hundred thousand, none in cycles
        return run_checks(context, codes=codes, severity=settings.severity)


def deployment_context(project: Project, database_url: str | None, base_ref: str | None) -> dict:
    """The CheckContext fields MD016/MD017 need, read from the database and git."""
    fields: dict = {}
    if base_ref is not None:
        from migdoc.gitref import merge_with_ref

        fields["merged"] = merge_with_ref(project.layout, project.files, base_ref)
    if database_url is not None:
        from migdoc.deployed import read_deployed_revisions
        from migdoc.gitref import find_lost_revisions

        deployed = read_deployed_revisions(database_url).revisions
        fields["deployed"] = deployed
        unknown = [r for r in deployed if project.graph.resolve(r) is None and r not in project.archived]
        fields["lost_revisions"] = find_lost_revisions(project.layout, unknown)
    return fields


def project_status(project: Project, database_url: str):
    """``migdoc status``: the database's revisions against the chain (read-only).

    Returns the masked :class:`DeployedState`, the :class:`DeploymentStatus`,
    and for each revision no file declares, where it went (archive or git).
    """
    from migdoc.deployed import read_deployed_revisions
    from migdoc.gitref import find_lost_revisions
    from migdoc.upgrades import compute_status

    state = read_deployed_revisions(database_url)
    status = compute_status(project.graph, state.revisions)
    lost = [r for r in status.unknown if r not in project.archived]
    whereabouts = {r: f"it is in the archive: {project.archived[r]}" for r in status.unknown if r in project.archived}
    whereabouts.update(find_lost_revisions(project.layout, lost))
    return state, status, whereabouts


def graph_problems(project: Project) -> dict[str, list[str]]:
    """File -> the codes of its warnings and errors, for the graph's problem flags.

    A finding that names many revisions once flags each of them, not only the file it is
    reported on: every file in a loop (MD005), every head of a multiple-heads finding (MD003)."""
    from migdoc.rules import code_named

    naming_many = {code_named("cycle"), code_named("multiple-heads")}
    problems: dict[str, list[str]] = {}
    for d in check_project(project).diagnostics:
        if d.file and d.severity.value != "info":
            problems.setdefault(d.file, []).append(d.code)
            if d.code in naming_many:
                for path in d.related:
                    problems.setdefault(path, []).append(d.code)
    return problems


def repository_root(project: Project) -> Path:
    """The folder SARIF paths are relative to: the repository holding the project (the
    nearest folder upward with ``.git``), else the project's own folder."""
    from migdoc.filesystem import repository_root as holding

    return holding(project.layout.root)


def graph_findings(project: Project) -> dict[str, list[tuple[str, str, str]]]:
    """File -> its findings as (code, severity, message), for the html graph's details."""
    findings: dict[str, list[tuple[str, str, str]]] = {}
    for d in check_project(project).diagnostics:
        if d.file:
            findings.setdefault(d.file, []).append((d.code, d.severity.value, d.message))
    return findings


def graph_paths(project: Project, mode: str = "short") -> dict[str, str]:
    """File -> how the graph shows it: ``short`` relative to its versions folder (the part
    that tells revisions apart), ``name`` the file name alone, ``full`` as in findings."""
    if mode == "full":
        return {}
    folders = sorted((str(folder) for folder in project.layout.version_locations), key=len, reverse=True)
    shown = {}
    for rf in project.files:
        if mode == "name":
            shown[rf.path] = rf.path.rsplit("/", 1)[-1]
            continue
        for folder in folders:
            if rf.path.startswith(folder.rstrip("/") + "/"):
                shown[rf.path] = rf.path[len(folder.rstrip("/")) + 1 :]
                break
    return shown


# -- fix -------------------------------------------------------------------------------


@dataclass(frozen=True)
class FixProposal:
    """What ``fix`` found: the check it planned from, and either the overview of every
    strategy (none chosen) or the plan of the chosen ones."""

    before: CheckResult
    options: FixOptions
    overview: dict[str, Plan] | None = None
    plan: Plan | None = None


def plan_fix(
    project: Project, options: FixOptions, database_url: str | None = None, base_ref: str | None = None
) -> FixProposal:
    """Plan repairs with ``options`` (nothing is written). Refuses to plan on top of a
    half-applied fix. ``options.now`` at its default means: the clock now.

    ``database_url``: the deployed database is read (read-only) so that applied revisions
    are warned about and the ``alembic stamp`` it needs afterwards is named."""
    from migdoc import apply as applying
    from migdoc.planner import plan_overview, plan_repairs

    folders = applying.project_folders(project.layout)
    unfinished = applying.unfinished_journal(project.layout.root, folders)
    if unfinished is not None:
        raise UsageError(unfinished)  # never plan on top of a half-applied fix
    if options.now == FixOptions.now:
        options = replace(options, now=datetime.now().replace(microsecond=0))
    if options.archive_dir:
        options = replace(options, archive_dir=project_path(options.archive_dir))
    now, archive_dir = options.now, options.archive_dir
    if database_url:
        from migdoc.deployed import read_deployed_revisions
        from migdoc.upgrades import applied_revisions

        current = read_deployed_revisions(database_url).revisions  # read-only; raises before anything is planned
        config_file = project.layout.config_file
        options = replace(
            options,
            applied_revisions=applied_revisions(project.graph, current),
            database_current=current,
            alembic_config=display_path(config_file) if config_file is not None else None,
            # -n names an ini section; a pyproject.toml config has none
            alembic_section=project.layout.ini_section if config_file and config_file.suffix == ".ini" else "alembic",
        )
    if base_ref is not None:
        from migdoc.gitref import OURS, merge_with_ref

        merged = merge_with_ref(project.layout, project.files, base_ref)  # read-only git plumbing
        options = replace(
            options,
            base_ref=base_ref,
            base_ref_heads=merged.ref_heads,
            ours_paths=frozenset(path for path, origin in merged.origins.items() if origin == OURS),
        )
    before = check_project(project)
    context = read_plan_inputs(project, before.diagnostics, archive_dir=archive_dir, now=now)
    if not options.strategies:
        overview = {name: _readable_notes(plan) for name, plan in plan_overview(context, options).items()}
        return FixProposal(before, options, overview=overview)
    return FixProposal(before, options, plan=_readable_notes(plan_repairs(context, options)))


def _readable_notes(plan: Plan) -> Plan:
    """The plan with the notes it writes into the project (the archive README) naming files
    as the person who planned it reads them, as ``--diff`` shows them; its own paths stay
    absolute, so it applies from any folder."""
    from migdoc.filesystem import display_text
    from migdoc.model import CreateFile

    actions = tuple(
        replace(a, content=display_text(a.content)) if isinstance(a, CreateFile) else a for a in plan.actions
    )
    return replace(plan, actions=actions)


def apply_fix(project: Project, proposal: FixProposal, recheck: Callable[[], CheckResult] | None = None):
    """Write the proposal's plan (journalled, kept only if the re-read project is healthier).

    The first SIGINT/SIGTERM while writing rolls back and raises ``ApplyInterrupted``.
    ``recheck``: how to check the written project (default: read it again, check it)."""
    from migdoc import apply as applying
    from migdoc.dryrun.signals import first_signal_guarded

    assert proposal.plan is not None
    with first_signal_guarded():  # SIGINT/SIGTERM while writing: roll back, then one line
        return applying.apply_plan(
            proposal.plan,
            project.layout.root,
            recheck=recheck or (lambda: check_project(reload_project(project))),
            before=proposal.before,
            now=proposal.options.now,
            folders=applying.project_folders(project.layout),
        )


def undo_fix(project: Project) -> tuple[Path, list[str]]:
    """Restore the files of the last applied fix: its journal, and what could not be restored."""
    from migdoc import apply as applying

    return applying.undo_last(project.layout.root, applying.project_folders(project.layout))


def read_plan_inputs(project: Project, diagnostics, archive_dir: str | None = None, now: datetime | None = None):
    """Read the texts and folder listings the pure planner needs (the edge of ``fix``)."""
    from migdoc.planner import PlanContext
    from migdoc.reader import decode_source

    layout = project.layout
    sources: dict[str, str] = {}
    for rf in project.files:
        if rf.revision is None or rf.read_error is not None:
            continue
        try:
            sources[rf.path] = decode_source(Path(rf.path).read_bytes())
        except (OSError, ValueError, SyntaxError, UnicodeDecodeError):
            continue
    version_dirs = tuple(str(p) for p in layout.version_locations)
    archive_root = str(layout.archive_root)
    folders = set(version_dirs)
    if archive_dir:
        folders.add(archive_dir)
    if now is not None:
        folders.add(f"{archive_root}/{now:%Y-%m-%d}")
    existing = {}
    for folder in folders:
        try:
            existing[folder] = frozenset(os.listdir(folder))
        except OSError:
            existing[folder] = frozenset()
    script = None
    if layout.script_location is not None and (layout.script_location / "script.py.mako").is_file():
        try:
            script = (layout.script_location / "script.py.mako").read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError):
            script = None
    return PlanContext(
        graph=project.graph,
        diagnostics=tuple(diagnostics),
        sources=sources,
        version_dirs=version_dirs,
        archive_root=archive_root,
        existing_names=existing,
        file_template=layout.file_template,
        is_template_explicit=layout.has_explicit_file_template,
        script_template=script,
        archived=dict(project.archived),
        added=_git_added(project),
    )


def _git_added(project: Project) -> dict[str, tuple[int, str]]:
    """When git added each file of a duplicated id, and every file when the chain has several
    heads (which branch came first), the evidence ``--archive`` weighs; nothing is asked of
    git when no id is duplicated and there is one head."""
    if len(project.graph.heads) > 1:
        copies = [rf.path for rf in project.files if rf.revision is not None]
    else:
        copies = [
            rf.path
            for rev, indexes in project.graph.declarations.items()
            if len(indexes) > 1
            for rf in (project.files[i] for i in indexes)
        ]
    if not copies:
        return {}
    from migdoc.gitref import first_added

    return first_added(project.layout, copies)


# -- dry-run -----------------------------------------------------------------------------


def dryrun_project(
    project: Project,
    *,
    server_url: str | None = None,
    pg_bindir: str | None = None,
    downgrade: bool = True,
    to: str | None = None,
    url_env=("DATABASE_URL",),
    progress=None,
    on_database: Callable[[str], None] | None = None,
    step_timeout: float | None = None,
    x_arguments=(),
    **more,
):
    """The dry-run: the static gate, a throwaway database, every step, the clean-up.

    The first SIGINT/SIGTERM unwinds through the clean-up; later ones wait for it."""
    from migdoc.dryrun import results, runner
    from migdoc.dryrun.signals import first_signal_guarded

    load_check = check_project(project, select=results.LOAD_CODES)
    with first_signal_guarded():
        return runner.dryrun_project(
            project,
            load_check,
            server_url=server_url,
            pg_bindir=pg_bindir,
            downgrade=downgrade,
            to=to,
            url_env=url_env,
            progress=progress,
            on_database=on_database,
            step_timeout=results.DEFAULT_STEP_TIMEOUT if step_timeout is None else step_timeout,
            x_arguments=x_arguments,
            **more,  # the dry-run's own further options (fail_fast...), as the runner names them
        )
