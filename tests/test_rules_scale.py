"""Issue 13: the rules rewritten to stay linear give the answers of their plain
definitions. Each fast path is compared with the quadratic walk it replaced, on
random revision graphs (seeded, so a failure reproduces), and the replay's
per-table indexes are checked across a fork. No timing here: the figures are
benchmarks/bench_scan.py --shape, quoted in the README."""

from __future__ import annotations

import random

import pytest
from rulekit import findings, revision

from migdoc.chain.graph import build_graph
from migdoc.chain.replay import find_redundancies
from migdoc.chain.walks import count_descendants, down_ancestry, proper_ancestors_among, sole_heads
from migdoc.model import FunctionBody, Operation, RevisionFile


def random_files(seed: int, count: int = 40) -> list[RevisionFile]:
    """A random DAG of revisions: one or two parents among the earlier ones, some
    parents that no file declares, some open heads."""
    rng = random.Random(seed)
    files = []
    for n in range(count):
        rev = f"r{n:03d}"
        if n == 0 or rng.random() < 0.08:
            down: tuple[str, ...] = () if rng.random() < 0.5 else (f"gone{n}",)
        else:
            parents = {f"r{rng.randrange(n):03d}" for _ in range(rng.choice((1, 1, 1, 2, 3)))}
            down = tuple(sorted(parents))
        files.append(revision(rev, down if len(down) != 1 else down[0]) if down else revision(rev, None))
    return files


SEEDS = range(12)


@pytest.mark.parametrize("seed", SEEDS)
def test_cut_off_counts_are_the_descendant_counts(seed):
    graph = build_graph(random_files(seed))
    wanted = set(graph.kept_indexes)
    assert count_descendants(graph, wanted) == {i: len(graph.descendants(i)) for i in wanted}


@pytest.mark.parametrize("seed", SEEDS)
def test_one_walk_finds_exactly_the_parents_under_another_parent(seed):
    graph = build_graph(random_files(seed))
    rng = random.Random(seed)
    for _ in range(20):
        picked = rng.sample(list(graph.kept_indexes), 4)
        below = proper_ancestors_among(graph, picked)
        naive = {p for p in picked if any(o != p and graph.is_ancestor(p, o) for o in picked)}
        assert {p for p in picked if p in below} == naive


@pytest.mark.parametrize("seed", SEEDS)
def test_sole_heads_agree_with_one_ancestry_per_head(seed):
    graph = build_graph(random_files(seed))
    counted: dict[str, list[str]] = {}
    for head in graph.kept_heads:
        for rev in down_ancestry(graph, head):
            if rev in graph.kept:
                counted.setdefault(rev, []).append(head)
    assert sole_heads(graph) == {rev: heads[0] if len(heads) == 1 else None for rev, heads in counted.items()}


def test_md018_names_the_first_parent_the_redundant_one_lies_under():
    files = [
        revision("0001", None),
        revision("0002", "0001"),
        revision("0003", "0002"),
        revision("0004", ("0003", "0001", "0002")),
    ]
    messages = sorted(d.message for d in findings("MD018", files))
    assert len(messages) == 2
    assert "'0001' is already an ancestor of parent '0003'" in messages[0]
    assert "'0002' is already an ancestor of parent '0003'" in messages[1]


def test_md002_suggests_the_first_file_whose_id_starts_with_the_missing_prefix():
    files = [revision("ab12", None), revision("ab34", "ab12"), revision("cd56", "ab")]
    (d,) = findings("MD002", files)
    assert "did you mean 'ab12'" in d.message


def _body(rev, *ops):
    return FunctionBody(line=1, fingerprint=rev, does_work=bool(ops), only_raises=False, operations=tuple(ops))


def _rev(rev, down, *ops):
    return RevisionFile(path=f"v/{rev}.py", revision=rev, down_revisions=tuple(down), upgrade=_body(rev, *ops))


def test_each_branch_of_a_fork_keeps_its_own_table_index():
    """Both branches add a different column to the table the fork inherited, then drop
    the table: each branch's drop must reach its own column (the index sets are shared
    at the fork and copied on first write), and not the other branch's."""
    add = lambda c: Operation("add_column", 10, table="t", name=c)  # noqa: E731
    drop_table = Operation("drop_table", 11, table="t")
    drop = lambda c: Operation("drop_column", 12, table="t", name=c)  # noqa: E731
    files = [
        _rev("base", (), Operation("create_table", 9, table="t", columns=("id",))),
        _rev("a1", ("base",), add("a")),
        _rev("b1", ("base",), add("b")),
        _rev("a2", ("a1",), drop_table),
        _rev("b2", ("b1",), drop_table),
        _rev("a3", ("a2",), drop("a")),
        _rev("b3", ("b2",), drop("b")),
    ]
    graph = build_graph(files)
    found = sorted((graph.files[r.index].revision, r.description) for r in find_redundancies(graph))
    assert found == [
        ("a3", "drops column t.a, which is not there"),
        ("b3", "drops column t.b, which is not there"),
    ]
