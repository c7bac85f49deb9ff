"""The library surface the CLI calls: load a project, check it.

This module composes the edges (``project``) with the pure core (``graph``,
``rules``); all logic is reachable from here without the CLI.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, replace

from migdoc.errors import ConfigError
from migdoc.graph import RevisionGraph, build_graph
from migdoc.model import CheckResult, RevisionFile
from migdoc.project import ProjectLayout, display_path, find_archived, find_layout, gc_paused, read_project_files
from migdoc.rules import CheckContext, run_checks, selected_codes


@dataclass(frozen=True)
class Project:
    layout: ProjectLayout
    files: tuple[RevisionFile, ...]
    graph: RevisionGraph
    archived: dict[str, str]

    def context(self) -> CheckContext:
        template = self.layout.file_template if self.layout.has_explicit_file_template else None
        return CheckContext(graph=self.graph, file_template=template, archived=self.archived)


def load_project(
    path: str | os.PathLike[str] = ".",
    config: str | None = None,
    name: str = "alembic",
    version_locations: Sequence[str] = (),
    is_read_only: bool = False,
) -> Project:
    """Find the configuration, read every version file, build the graph.

    ``is_read_only``: write nothing anywhere, not even the read cache (``fix``
    without ``--apply`` promises that).
    """
    try:
        layout = find_layout(path, config=config, name=name, version_locations=version_locations)
    except (ValueError, OSError) as exc:
        # a path no system call accepts (a NUL byte, too long), given or found
        raise ConfigError(f"cannot use the project's paths: {_path_problem(exc)}") from None
    with gc_paused():  # building the graph of thousands of records would set it off again and again
        files = tuple(read_project_files(layout, write_cache=not is_read_only))
        if not any(rf.revision is not None or rf.read_error is not None for rf in files):
            raise ConfigError(_nothing_read(layout, files))
        graph = build_graph(files)
    return Project(layout, files, graph, find_archived(layout))


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
        from migdoc.database import read_deployed_revisions
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
    from migdoc.database import read_deployed_revisions
    from migdoc.gitref import find_lost_revisions
    from migdoc.status import compute_status

    state = read_deployed_revisions(database_url)
    status = compute_status(project.graph, state.revisions)
    lost = [r for r in status.unknown if r not in project.archived]
    whereabouts = {r: f"it is in the archive: {project.archived[r]}" for r in status.unknown if r in project.archived}
    whereabouts.update(find_lost_revisions(project.layout, lost))
    return state, status, whereabouts
