"""The library surface the CLI calls: load a project, check it.

This module composes the edges (``project``) with the pure core (``graph``,
``rules``); all logic is reachable from here without the CLI.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass

from migdoc.graph import RevisionGraph, build_graph
from migdoc.model import CheckResult, RevisionFile
from migdoc.project import ProjectLayout, find_archived, find_layout, read_project_files
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
) -> Project:
    """Find the configuration, read every version file, build the graph."""
    layout = find_layout(path, config=config, name=name, version_locations=version_locations)
    files = tuple(read_project_files(layout))
    return Project(layout, files, build_graph(files), find_archived(layout))


def check_project(project: Project, select: Sequence[str] = (), ignore: Sequence[str] = ()) -> CheckResult:
    """Static diagnosis. Command-line ``select``/``ignore`` add to ``[tool.migdoc]``."""
    settings = project.layout.settings
    codes = selected_codes(select=tuple(select) or settings.select, ignore=tuple(settings.ignore) + tuple(ignore))
    return run_checks(project.context(), codes=codes, severity=settings.severity)
