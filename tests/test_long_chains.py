"""Issue 11, item 1: plans on chains far longer than Python's recursion limit."""

from __future__ import annotations

import sys
from datetime import datetime

from migdoc.chain.graph import build_graph
from migdoc.fix.planner import PlanContext, plan_overview, plan_repairs
from migdoc.model import FixOptions, FunctionBody, Header, MoveFile, Operation, RevisionFile
from migdoc.rules import CheckContext, run_checks

NOW = datetime(2025, 12, 20, 10, 0, 0)


def _file(n: int, parent: str | None, folder: str = "v") -> RevisionFile:
    rev = f"r{n:05d}"
    body = FunctionBody(
        line=10,
        fingerprint=f"add col_{n}",
        does_work=True,
        only_raises=False,
        operations=(Operation("add_column", 10, table=f"t{n % 50}", name=f"col_{n}"),),
    )
    return RevisionFile(
        path=f"{folder}/{rev}_step.py",
        revision=rev,
        down_revisions=(parent,) if parent else (),
        header=Header(revision_id=rev, revises=(parent,) if parent else None, message="step"),
        upgrade=body,
        downgrade=FunctionBody(line=20, fingerprint=f"drop col_{n}", does_work=True, only_raises=False),
        sha256=f"{n:064x}",
    )


def _context(files: list[RevisionFile]) -> PlanContext:
    graph = build_graph(files)
    diagnostics = run_checks(CheckContext(graph=graph)).diagnostics
    return PlanContext(
        graph=graph,
        diagnostics=diagnostics,
        sources={},
        version_dirs=("v",),
        archive_root="archive",
        # a merge is planned only from the project's own template (rendered at --apply)
        script_template_path="script.py.mako",
    )


def test_fix_plans_a_20000_revision_chain_without_recursion():
    # 17,000 on the main line, a dead branch of 3,000 off its sixth revision: both far
    # deeper than the recursion limit, which a recursive walk of the line graph hit at ~1,000
    assert sys.getrecursionlimit() < 17_000
    files = [_file(n, f"r{n - 1:05d}" if n else None) for n in range(17_000)]
    files += [_file(n, "r00005" if n == 17_000 else f"r{n - 1:05d}") for n in range(17_000, 20_000)]
    context = _context(files)
    assert {d.code for d in context.diagnostics if d.severity.value == "error"} == {"MD003"}

    plan = plan_repairs(context, FixOptions(is_archive=True, now=NOW))
    moved = [a for a in plan.actions if isinstance(a, MoveFile)]
    assert len(moved) == 3_000
    assert {a.revision for a in moved} == {f"r{n:05d}" for n in range(17_000, 20_000)}
    assert plan.main_head == "r16999"

    merged = plan_repairs(context, FixOptions(is_merge=True, now=NOW))
    assert len(merged.actions) == 1 and not merged.unresolved

    # `migdoc fix` with no strategy tries every strategy; a healthy chain needs none
    healthy = _context(files[:17_000])
    assert plan_overview(healthy, FixOptions(now=NOW)) == {}
    assert plan_repairs(healthy, FixOptions(is_archive=True, now=NOW)).is_empty
