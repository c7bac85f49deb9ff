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

from migdoc.chain.graph import RevisionGraph, build_graph
from migdoc.errors import ConfigError, UsageError
from migdoc.model import CheckResult, FixOptions, Plan, RevisionFile
from migdoc.project.config import find_layout
from migdoc.project.layout import ProjectLayout
from migdoc.project.run_env import read_env_script
from migdoc.project.scan import folder_problems, gc_paused, read_archived, read_project_files
from migdoc.rules import CheckContext, run_checks, selected_codes
from migdoc.rules.run_safety import env_sets_lock_timeout
from migdoc.util.filesystem import display_path, project_path


@dataclass(frozen=True)
class Project:
    layout: ProjectLayout
    files: tuple[RevisionFile, ...]
    graph: RevisionGraph
    archived: dict[str, str]
    source: tuple = field(default=(), compare=False)
    """How it was found (path, config, name, version_locations): :func:`reload_project` reads it again."""
    archived_files: tuple[RevisionFile, ...] = field(default=(), compare=False)
    """The archive folder's files as read (what they created, for MD022)."""

    def context(self) -> CheckContext:
        template = self.layout.file_template if self.layout.has_explicit_file_template else None
        env_path, env_source = read_env_script(self.layout)
        return CheckContext(
            graph=self.graph,
            file_template=template,
            archived=self.archived,
            archived_files=self.archived_files,
            env_path=env_path,
            env_source=env_source,
            is_lock_timeout_set=self.layout.settings.lock_timeout_ms is not None or env_sets_lock_timeout(env_source),
        )


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
    archived_files = tuple(read_archived(layout))
    archived = {rf.revision: rf.path for rf in archived_files if rf.revision is not None}
    return Project(layout, files, graph, archived, source, archived_files)


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
    unlisted = "".join(f"; {problem}" for problem in folder_problems(layout))  # permission denied, said
    return (
        f"read 0 revisions in {looked} ({source}){stray}{unread}{unlisted}; point migdoc at the script folder "
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
    codes = chosen_codes(project, select, ignore)
    context = project.context()
    if database_url is not None or base_ref is not None:
        context = replace(context, **deployment_context(project, database_url, base_ref))
    with gc_paused():  # the rules make short-lived objects by the hundred thousand, none in cycles
        return run_checks(context, codes=codes, severity=settings.severity)


def chosen_codes(project: Project, select: Sequence[str] = (), ignore: Sequence[str] = ()) -> tuple[str, ...]:
    """The codes a run reports: command-line ``select`` replaces ``[tool.migdoc] select``,
    command-line ``ignore`` adds to ``[tool.migdoc] ignore``."""
    settings = project.layout.settings
    return selected_codes(select=tuple(select) or settings.select, ignore=tuple(settings.ignore) + tuple(ignore))


def deployment_context(project: Project, database_url: str | None, base_ref: str | None) -> dict:
    """The CheckContext fields MD016/MD017 need, read from the database and git."""
    fields: dict = {}
    if base_ref is not None:
        from migdoc.gitref import merge_with_ref

        fields["merged"] = merge_with_ref(project.layout, project.files, base_ref)
    if database_url is not None:
        from migdoc.database.deployed import read_deployed_revisions
        from migdoc.gitref import find_lost_revisions

        deployed = read_deployed_revisions(database_url).revisions
        fields["deployed"] = deployed
        unknown = [r for r in deployed if project.graph.resolve(r) is None and r not in project.archived]
        fields["lost_revisions"] = find_lost_revisions(project.layout, unknown)
        fields["squashed"] = _squashed_revisions(project, [r for r in deployed if project.graph.resolve(r) is None])
    return fields


def _squashed_revisions(project: Project, revisions: Sequence[str]) -> dict[str, str]:
    """Archived revision -> the baseline a squash put in its place, read from the README the
    squash left in the revision's archive folder."""
    from migdoc.fix.squash import squashed_into

    found = {}
    for revision in revisions:
        if revision not in project.archived:
            continue
        folder = Path(project.layout.root, project.archived[revision]).parent
        for readme in sorted(folder.glob("README*.md")):  # README-2.md: a second fix on the same day
            try:
                text = readme.read_text(encoding="utf-8")
            except (OSError, UnicodeDecodeError):
                continue
            baseline = squashed_into(text)
            if baseline is not None and f"(revision {revision}," in text:
                found[revision] = baseline
                break
    return found


def project_status(project: Project, database_url: str | None):
    """``migdoc status``: the database's revisions against the chain (read-only).

    ``database_url`` ``None``: the project's own ``sqlalchemy.url``, as ``alembic current``
    would use it; neither given: UsageError.

    Returns the masked :class:`DeployedState`, the :class:`DeploymentStatus`,
    and for each revision no file declares, where it went (archive or git).
    """
    from migdoc.database.deployed import configured_database_url, read_deployed_revisions
    from migdoc.database.upgrades import compute_status
    from migdoc.gitref import find_lost_revisions

    if database_url is None:
        database_url = configured_database_url(project.layout.config_file, project.layout.ini_section)
    if database_url is None:
        raise UsageError(
            "status needs a database: --database-url URL (or MIGDOC_DATABASE_URL); the configuration sets "
            "no sqlalchemy.url (env.py may build the URL itself)",
            option="--database-url",
        )
    state = read_deployed_revisions(database_url)
    status = compute_status(project.graph, state.revisions)
    lost = [r for r in status.unknown if r not in project.archived]
    whereabouts = {r: f"it is in the archive: {project.archived[r]}" for r in status.unknown if r in project.archived}
    for revision, baseline in _squashed_revisions(project, status.unknown).items():
        whereabouts[revision] = (
            f"`migdoc squash` archived it ({project.archived[revision]}) into the baseline {baseline}: "
            f"upgrade this database to {baseline} with the old chain before taking the squash"
        )
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
    from migdoc.util.filesystem import repository_root as holding

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
    recommended: str | None = None
    """With no strategy chosen: the name of the overview's plan that ``fix`` recommends
    (and ``fix --apply`` applies), or None when no plan qualifies."""
    not_recommended: dict[str, str] = field(default_factory=dict)
    """Overview plan name -> why it is not the recommendation (plans that could be are absent)."""


def plan_fix(
    project: Project, options: FixOptions, database_url: str | None = None, base_ref: str | None = None
) -> FixProposal:
    """Plan repairs with ``options`` (nothing is written). Refuses to plan on top of a
    half-applied fix. ``options.now`` at its default means: the clock now.

    ``database_url``: the deployed database is read (read-only) so that applied revisions
    are warned about and the ``alembic stamp`` it needs afterwards is named."""
    from migdoc.fix import apply as applying
    from migdoc.fix.planner import not_recommended, plan_overview, plan_repairs, recommend

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
        from migdoc.database.deployed import read_deployed_revisions
        from migdoc.database.upgrades import applied_revisions

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
            base_ref_revisions=merged.ref_revisions,
            ours_paths=frozenset(path for path, origin in merged.origins.items() if origin == OURS),
        )
    before = check_project(project)
    context = read_plan_inputs(project, before.diagnostics, archive_dir=archive_dir, now=now)
    if not options.strategies:
        planned = {name: _proved(project, context, plan) for name, plan in plan_overview(context, options).items()}
        recommended = recommend(context, options, planned, is_proved=_is_proved)
        why_not = {
            name: said for name, plan in planned.items() if (said := not_recommended(context, options, name, plan))
        }
        overview = {name: _readable_notes(plan, project.layout.root) for name, plan in planned.items()}
        return FixProposal(before, options, overview=overview, recommended=recommended, not_recommended=why_not)
    plan = _proved(project, context, plan_repairs(context, options))
    return FixProposal(before, options, plan=_readable_notes(plan, project.layout.root))


def _is_proved(plan: Plan) -> bool:
    """A plan may be recommended only when no proof of its planned tree failed."""
    return not any(proof.is_failed for proof in plan.proofs)


def _proved(project: Project, context, plan: Plan) -> Plan:
    """``plan`` with the static proofs on its planned tree (a failed one refuses it), judged by
    the project's own rule selection and severities."""
    from migdoc.fix.planner.verify import prove_statically

    settings = project.layout.settings
    codes = selected_codes(select=settings.select, ignore=settings.ignore)
    return prove_statically(context, plan, codes, settings.severity)


_SERVER_BINARIES = ("initdb and postgres", "initdb", "postgres")


def prove_fix(
    project: Project,
    proposal: FixProposal,
    *,
    is_database_proof: bool = True,
    server_url: str | None = None,
    pg_bindir: str | None = None,
    url_env: Sequence[str] = ("DATABASE_URL",),
    x_arguments: Sequence[str] = (),
    on_database: Callable[[str], None] | None = None,
) -> FixProposal:
    """Before ``--apply`` writes: the proposal's plan with its new files rendered from the
    project's template (``ApplyError`` when that cannot be done, nothing written), the static
    proofs run again on what will really be written, then, when they pass and
    ``is_database_proof``, the upgrade from base to heads of the planned tree on a throwaway
    PostgreSQL (found as the dry-run finds one; not run, and said so, where there is none).
    Nothing of the project is written; :func:`apply_fix` refuses a plan a proof failed."""
    from migdoc.errors import EnvironmentProblem
    from migdoc.fix import plan_proof
    from migdoc.fix.planner.verify import with_proofs

    assert proposal.plan is not None
    plan = plan_proof.render_templates(project.layout, replace(proposal.plan, proofs=()))
    context = read_plan_inputs(project, proposal.before.diagnostics, proposal.options.archive_dir, proposal.options.now)
    plan = _proved(project, context, plan)
    if plan.is_empty or any(p.is_failed for p in plan.proofs):
        return replace(proposal, plan=plan)
    if not is_database_proof:
        return replace(proposal, plan=with_proofs(plan, [plan_proof.skipped()]))
    with plan_proof.planned_copy(project.layout, plan) as layout:
        copy = load_project(layout=layout, is_read_only=True)
        try:
            result = dryrun_project(
                copy,
                server_url=server_url,
                pg_bindir=pg_bindir,
                downgrade=False,
                url_env=url_env,
                x_arguments=x_arguments,
                on_database=on_database,
            )
        except EnvironmentProblem as exc:
            if pg_bindir and exc.needs in _SERVER_BINARIES:  # binaries the user named and that are not there
                raise
            return replace(proposal, plan=with_proofs(plan, [plan_proof.not_run(exc, layout, project.layout)]))
        proof = plan_proof.upgrade_proof(result, plan, layout, project.layout)
    return replace(proposal, plan=with_proofs(plan, [proof]))


def _readable_notes(plan: Plan, root: Path) -> Plan:
    """The plan with the notes it writes into the project (the archive README) naming files
    relative to the project ``root``: the same README whichever folder ``fix`` ran from, and
    one that still reads right from the project's root (an absolute path outside it stays
    as it is). The plan's own paths stay absolute, so it applies from any folder. A file still
    to be rendered from the project's template keeps its preview as the diff shows it."""
    from migdoc.model import CreateFile
    from migdoc.util.filesystem import display_text

    def readable(action):
        if not isinstance(action, CreateFile):
            return action
        if action.template is not None:  # a preview, never written: as the diff shows paths
            return replace(action, content=display_text(action.content))
        return replace(action, content=display_text(action.content, cwd=root))

    actions = tuple(readable(a) for a in plan.actions)
    return replace(plan, actions=actions)


def apply_fix(project: Project, proposal: FixProposal, recheck: Callable[[], CheckResult] | None = None):
    """Write the proposal's plan (journalled, kept only if the re-read project is healthier).

    The first SIGINT/SIGTERM while writing rolls back and raises ``ApplyInterrupted``.
    ``recheck``: how to check the written project (default: read it again, check it)."""
    from migdoc.fix import apply as applying
    from migdoc.util.signals import first_signal_guarded

    assert proposal.plan is not None
    failed = [p for p in proposal.plan.proofs if p.is_failed]
    if failed:  # the gate: a plan its own proof refutes is never written
        from migdoc.errors import ApplyError

        raise ApplyError(f"not applied: the {failed[0].name} proof failed: {failed[0].why}; nothing changed")
    from migdoc.fix.plan_proof import render_templates

    # a file still to be rendered from the project's template is rendered now (never its preview written)
    plan = render_templates(project.layout, proposal.plan)
    with first_signal_guarded():  # SIGINT/SIGTERM while writing: roll back, then one line
        return applying.apply_plan(
            plan,
            project.layout.root,
            recheck=recheck or (lambda: check_project(reload_project(project))),
            before=proposal.before,
            now=proposal.options.now,
            folders=applying.project_folders(project.layout),
        )


def undo_fix(project: Project):
    """Restore the files of the last applied fix (an ``apply.UndoResult``: its journal, the
    files kept as changed since the fix, the restores that failed)."""
    from migdoc.fix import apply as applying

    return applying.undo_last(project.layout.root, applying.project_folders(project.layout))


def read_plan_inputs(project: Project, diagnostics, archive_dir: str | None = None, now: datetime | None = None):
    """Read the texts and folder listings the pure planner needs (the edge of ``fix``)."""
    from migdoc.fix.planner import PlanContext
    from migdoc.project.reader import decode_source

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
    script = script_path = None
    if layout.script_location is not None and (layout.script_location / "script.py.mako").is_file():
        script_path = str(layout.script_location / "script.py.mako")
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
        script_template_path=script_path,
        archived=dict(project.archived),
        added=_git_added(project),
        arrived=_git_arrived(project),
    )


def _git_added(project: Project) -> dict[str, tuple[int, str]]:
    """When git added each file of a duplicated id, and every file when the chain has several
    heads (which branch came first), the evidence ``--archive`` weighs; nothing is asked of
    git when no id is duplicated and there is one head."""
    if len(project.graph.head_revisions) > 1:
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


def _git_arrived(project: Project) -> dict[str, tuple[int, str, bool]]:
    """When each file reached the checked-out line (the merge that brought it), the evidence
    ``--rebase`` weighs for which branch is newer; asked of git only with several heads."""
    if len(project.graph.heads) < 2:
        return {}
    from migdoc.gitref import first_arrived

    return first_arrived(project.layout, [rf.path for rf in project.files if rf.revision is not None])


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
    run_as_server_role: bool = False,
    **more,
):
    """The dry-run: the static gate, a throwaway database, every step, the clean-up.

    The first SIGINT/SIGTERM unwinds through the clean-up; later ones wait for it."""
    from migdoc.dryrun import results, runner
    from migdoc.util.signals import first_signal_guarded

    load_check = check_project(project, select=results.LOAD_CODES)
    with first_signal_guarded():
        return runner.run_stairway(
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
            run_as_server_role=run_as_server_role,
            **more,  # the dry-run's own further options (fail_fast...), as the runner names them
        )


def check_schema_drift(project: Project, database_url: str, options):
    """MD031 for ``check --drift``: the chain upgraded to the deployed database's stamp on a
    throwaway database, and both schemas compared. ``options``: the dry-run's (``DryrunOptions``)."""
    from migdoc.database.schema_drift import (
        DriftReport,
        drift_changes,
        drift_diagnostics,
        read_deployed_schema,
        snapshot_of,
    )
    from migdoc.dryrun.base_schema import BaseSchema
    from migdoc.dryrun.findings import dryrun_diagnostics

    revisions, deployed = read_deployed_schema(database_url)
    unknown = [r for r in revisions if project.graph.resolve(r) is None]
    if unknown:
        return DriftReport(
            revisions,
            skipped=f"schema drift not compared: the database is stamped at {', '.join(unknown)}, "
            "which the chain does not declare (MD016)",
        )
    chain: dict = {}
    if revisions:
        taken: list[dict] = []
        result = dryrun_project(
            project,
            server_url=options.server_url or None,
            pg_bindir=options.pg_bindir,
            downgrade=False,
            to=" ".join(revisions),
            url_env=options.url_env or ("DATABASE_URL",),
            step_timeout=options.step_timeout,
            x_arguments=options.x_arguments,
            run_as_server_role=options.run_as_server_role,
            fail_fast=True,
            python=options.python,
            # a chain that starts from a schema the application builds (--setup, --base-sql)
            base=BaseSchema(options.base_sql, options.setup, options.setup_stamp),
            after_run=lambda url: taken.append(snapshot_of(url)),
        )
        if result.failure is not None:
            return DriftReport(revisions, diagnostics=dryrun_diagnostics(result))
        chain = taken[0]
    changes = drift_changes(chain, deployed)
    return DriftReport(revisions, changes, drift_diagnostics(changes, revisions))


# -- squash ------------------------------------------------------------------------------


@dataclass(frozen=True)
class SquashProposal:
    """What ``squash`` planned: the check it planned from, the options, and the plan with its
    proofs (run on the throwaway database before it is shown)."""

    before: CheckResult
    options: object  # migdoc.fix.squash.SquashOptions
    plan: Plan
    database: str | None = None


def plan_squash(
    project: Project,
    options,
    database_url: str | None = None,
    *,
    server_url: str | None = None,
    pg_bindir: str | None = None,
    python: str | None = None,
    url_env: Sequence[str] = ("DATABASE_URL",),
    x_arguments: Sequence[str] = (),
    on_database: Callable[[str], None] | None = None,
) -> SquashProposal:
    """Plan ``migdoc squash --to REV`` (``options``: a ``SquashOptions``) and prove it on a
    throwaway PostgreSQL; nothing of the project is written. Raises ``FixRefused`` when the
    range cannot be squashed or no baseline builds REV's schema; a plan whose proof failed
    comes back refused (see ``verify.with_proofs``), never applied."""
    from migdoc.fix import apply as applying
    from migdoc.fix import plan_proof, squash
    from migdoc.fix.planner.verify import with_proofs
    from migdoc.fix.squash_schema import SquashDatabase
    from migdoc.model import CreateFile

    folders = applying.project_folders(project.layout)
    unfinished = applying.unfinished_journal(project.layout.root, folders)
    if unfinished is not None:
        raise UsageError(unfinished)
    if options.now == squash.SquashOptions.now:
        options = replace(options, now=datetime.now().replace(microsecond=0))
    if options.archive_dir:
        options = replace(options, archive_dir=project_path(options.archive_dir))
    if database_url:
        from migdoc.database.deployed import read_deployed_revisions
        from migdoc.database.upgrades import applied_revisions

        current = read_deployed_revisions(database_url).revisions  # read-only
        options = replace(
            options, database_current=tuple(current), applied=frozenset(applied_revisions(project.graph, current))
        )
    before = check_project(project)
    context = read_plan_inputs(project, before.diagnostics, archive_dir=options.archive_dir, now=options.now)
    squashed = squash.plan_range(context, options.to)
    data = squash.data_statements(squashed, options)
    with SquashDatabase(
        server_url=server_url, pg_bindir=pg_bindir, python=python, url_env=url_env, x_arguments=x_arguments
    ) as database:
        if on_database is not None:
            on_database(database.description)
        baseline = database.build_baseline(project, squashed.revision, data, has_descendants=bool(squashed.descendants))
        render = squash.baseline_render(
            context, squashed, options, baseline.upgrades, baseline.downgrades, baseline.imports
        )
        content = plan_proof.render_template(render, plan_proof.alembic_config(project.layout))
        create = CreateFile(
            path=squash.baseline_path(context, squashed, options),
            content=content,
            reason=f"the baseline: the schema the chain has at {squashed.revision}, in one revision with its id",
        )
        plan = squash.plan_squash(context, squashed, options, create, baseline.explicit, data)
        plan = _proved(project, context, plan)
        if not any(p.is_failed for p in plan.proofs):
            with plan_proof.planned_copy(project.layout, plan) as layout:
                copy = load_project(layout=layout, is_read_only=True)
                plan = with_proofs(plan, database.prove(copy, squashed.revision, baseline))
        description = database.description
    return SquashProposal(before, options, _readable_notes(plan, project.layout.root), description)


def apply_squash(project: Project, proposal: SquashProposal, recheck: Callable[[], CheckResult] | None = None):
    """Write the squash (journalled; ``migdoc squash --undo`` restores it). Kept when the
    re-read project has no error the original did not; refused when a proof failed."""
    from migdoc.errors import ApplyError
    from migdoc.fix import apply as applying
    from migdoc.util.signals import first_signal_guarded

    failed = [p for p in proposal.plan.proofs if p.is_failed]
    if failed or proposal.plan.refusal is not None:
        why = f"the {failed[0].name} proof failed: {failed[0].why}" if failed else proposal.plan.refusal.message
        raise ApplyError(f"not applied: {why}; nothing changed")

    def is_acceptable(before: CheckResult, after: CheckResult) -> bool:
        return after.summary.errors <= before.summary.errors

    with first_signal_guarded():
        return applying.apply_plan(
            proposal.plan,
            project.layout.root,
            recheck=recheck or (lambda: check_project(reload_project(project))),
            before=proposal.before,
            now=proposal.options.now,
            folders=applying.project_folders(project.layout),
            accept=is_acceptable,
        )
