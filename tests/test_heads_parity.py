"""One definition of heads, Alembic's, checked against Alembic's own RevisionMap on
literal graphs (no files): the graph's heads and bases, the head count and list of
``check``'s summary, whether MD003 fires, and the heads the planner merges.

The graphs are written out below (the shapes issues were filed about) and drawn at
random from a fixed seed (many small shapes: branches, merges, ``depends_on`` on a
revision of another branch or on a parent, duplicated ids), so a failure names a
graph that can be pasted into a literal case."""

from __future__ import annotations

import json
import random
import shutil
import warnings

import pytest
from alembic.script.revision import Revision, RevisionMap

from migdoc.chain.graph import build_graph
from migdoc.fix.planner.context import PlanContext, PlanState
from migdoc.fix.planner.merge import plan_merge
from migdoc.model import FixOptions, RevisionFile
from migdoc.rules import CheckContext, run_checks
from tests.conftest import FIXTURES

Spec = tuple[str, tuple[str, ...], tuple[str, ...]]
"""(revision, down_revisions, depends_on), in load order."""


def alembic_heads_bases(specs: list[Spec]) -> tuple[list[str], list[str]]:
    revisions = [Revision(rev, down or None, dependencies=deps or None) for rev, down, deps in specs]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "present more than once": the duplicated ids are wanted
        revision_map = RevisionMap(lambda: revisions)
        return sorted(revision_map.heads), sorted(revision_map.bases)


def files_of(specs: list[Spec]) -> list[RevisionFile]:
    return [
        RevisionFile(path=f"versions/{position:02d}_{rev}.py", revision=rev, down_revisions=down, depends_on=deps)
        for position, (rev, down, deps) in enumerate(specs)
    ]


LITERAL_GRAPHS: dict[str, list[Spec]] = {
    "linear": [("0001", (), ()), ("0002", ("0001",), ()), ("0003", ("0002",), ())],
    # issue 18: a revision named only by another's depends_on stays a head
    "depends_on_a_sibling": [("0001", (), ()), ("0002", ("0001",), ()), ("0003", ("0001",), ("0002",))],
    "depends_on_the_parent": [("0001", (), ()), ("0002", ("0001",), ("0001",))],
    "depends_on_another_base": [("a1", (), ()), ("b1", (), ()), ("a2", ("a1",), ("b1",))],
    "branch_and_merge": [("a", (), ()), ("b", ("a",), ()), ("c", ("a",), ()), ("m", ("b", "c"), ())],
    # issue 22: a duplicated id that is a head twice is one head
    "duplicated_head": [("a", (), ()), ("b", ("a",), ()), ("c", ("a",), ()), ("c", ("a",), ()), ("d", ("a",), ())],
    "duplicated_below_a_child": [("a", (), ()), ("b", ("a",), ()), ("b", ("a",), ()), ("c", ("b",), ())],
    "duplicated_with_other_parents": [("a", (), ()), ("b", ("a",), ()), ("c", ("b",), ()), ("c", ("a",), ())],
}


def random_graph(seed: int) -> list[Spec]:
    chooser = random.Random(seed)
    specs: list[Spec] = []
    for position in range(chooser.randint(1, 9)):
        earlier = [rev for rev, _, _ in specs]
        rev = f"r{position}"
        if earlier and chooser.random() < 0.15:  # a second file declaring an earlier id
            first = earlier.index(chooser.choice(earlier))
            rev, earlier = specs[first][0], earlier[:first]
        down = tuple(sorted(set(chooser.sample(earlier, min(len(earlier), chooser.choice((0, 1, 1, 1, 2)))))))
        if earlier and not down and chooser.random() < 0.7:
            down = (chooser.choice(earlier),)
        deps = (chooser.choice(earlier),) if earlier and chooser.random() < 0.3 else ()
        specs.append((rev, down, tuple(d for d in deps if d not in down) or deps))
    return specs


GRAPHS = list(LITERAL_GRAPHS.items()) + [(f"random_{seed}", random_graph(seed)) for seed in range(300)]


@pytest.mark.parametrize(("name", "specs"), GRAPHS, ids=[name for name, _ in GRAPHS])
def test_heads_and_bases_are_alembics(name, specs):
    alembic_heads, alembic_bases = alembic_heads_bases(specs)
    graph = build_graph(files_of(specs))
    assert list(graph.heads) == alembic_heads, specs
    assert list(graph.bases) == alembic_bases, specs
    assert list(graph.head_revisions) == sorted(set(alembic_heads)), specs


@pytest.mark.parametrize(("name", "specs"), GRAPHS, ids=[name for name, _ in GRAPHS])
def test_check_counts_and_lists_alembics_heads_and_md003_agrees(name, specs):
    alembic_heads, _ = alembic_heads_bases(specs)
    distinct = sorted(set(alembic_heads))
    result = run_checks(CheckContext(build_graph(files_of(specs))), codes=["MD003"])
    assert result.summary.heads == len(distinct) and list(result.summary.head_revisions) == distinct
    for diagnostic in result.diagnostics:  # the finding's count is the summary's
        assert diagnostic.message.startswith(f"{len(distinct)} heads"), (diagnostic.message, specs)
    duplicated = len({rev for rev, _, _ in specs}) != len(specs)
    if not duplicated:  # without MD001 in the way, MD003 fires exactly when Alembic sees two heads
        assert bool(result.diagnostics) == (len(distinct) > 1), specs


@pytest.mark.parametrize(("name", "specs"), GRAPHS, ids=[name for name, _ in GRAPHS])
def test_the_planner_merges_alembics_heads(name, specs):
    if len({rev for rev, _, _ in specs}) != len(specs):
        return  # a duplicated id is archived (MD001) before anything is merged
    alembic_heads, _ = alembic_heads_bases(specs)
    graph = build_graph(files_of(specs))
    diagnostics = run_checks(CheckContext(graph)).diagnostics  # --merge acts on an error-level second head
    context = PlanContext(
        graph=graph,
        diagnostics=diagnostics,
        sources={},
        version_dirs=("versions",),
        archive_root="archive",
        script_template_path="script.py.mako",  # a merge is planned only from the project's template
    )
    assert PlanState.initial(context).heads(context) == alembic_heads
    partial = plan_merge(context, FixOptions(is_merge=True), PlanState.initial(context))
    if len(alembic_heads) > 1:
        assert len(partial.actions) == 1 and all(h in partial.actions[0].reason for h in alembic_heads)
    else:
        assert partial.actions == ()


def test_a_revision_named_only_by_depends_on_is_merged_end_to_end(tmp_path, monkeypatch):
    """The issue's chain on disk: `check` names two heads (as `alembic heads` does) and
    `fix --merge --apply` leaves the one head Alembic then sees."""
    from click.testing import CliRunner
    from fixhelp import alembic_heads
    from rulekit import source

    from migdoc.cli import cli

    versions = tmp_path / "migrations" / "versions"
    versions.mkdir(parents=True)
    (tmp_path / "alembic.ini").write_text("[alembic]\nscript_location = %(here)s/migrations\n")
    shutil.copy(FIXTURES / "fix_merge" / "migrations" / "script.py.mako", tmp_path / "migrations")
    (versions / "0001_base.py").write_text(source("0001", None))
    (versions / "0002_side.py").write_text(source("0002", "0001"))
    (versions / "0003_main.py").write_text(source("0003", "0001", depends_on="0002"))
    assert alembic_heads(tmp_path) == ["0002", "0003"]
    monkeypatch.chdir(tmp_path)
    checked = CliRunner().invoke(cli, ["check", "--format", "json", "."])
    summary = json.loads(checked.output)["summary"]
    assert summary["heads"] == 2 and summary["head_revisions"] == ["0002", "0003"]
    applied = CliRunner().invoke(cli, ["fix", "--merge", "--apply", "."])
    assert applied.exit_code == 0, applied.output
    (merge,) = alembic_heads(tmp_path)
    assert merge not in ("0002", "0003")
