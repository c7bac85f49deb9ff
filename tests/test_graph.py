"""The revision graph, built from literal records: no files, no disk."""

from __future__ import annotations

from migdoc.chain.graph import build_graph, missing_node
from migdoc.model import RevisionFile


def rev(revision, down=(), path=None, depends=(), labels=(), **kw):
    down = (down,) if isinstance(down, str) else tuple(down)
    depends = (depends,) if isinstance(depends, str) else tuple(depends)
    return RevisionFile(
        path=path or f"versions/{revision}.py",
        revision=revision,
        down_revisions=down,
        depends_on=depends,
        branch_labels=tuple(labels),
        **kw,
    )


def test_linear_chain_heads_bases():
    g = build_graph([rev("a"), rev("b", "a"), rev("c", "b")])
    assert g.heads == ("c",) and g.bases == ("a",) and g.merges == () and g.is_acyclic
    assert [g.files[i].revision for i in g.topological_indexes] == ["a", "b", "c"]


def test_branch_and_merge():
    g = build_graph([rev("a"), rev("b", "a"), rev("c", "a"), rev("m", ("b", "c"))])
    assert g.heads == ("m",) and g.merges == ("m",)
    assert build_graph([rev("a"), rev("b", "a"), rev("c", "a")]).heads == ("b", "c")


def test_duplicates_are_two_nodes_and_the_last_is_kept():
    g = build_graph([rev("a"), rev("b", "a", path="v/b1.py"), rev("b", "a", path="v/b2.py")])
    assert g.declarations["b"] == [1, 2] and g.kept["b"] == 2
    assert g.is_shadowed(1) and not g.is_shadowed(2)
    assert len([n for n in g.graph.nodes if g.index_of(n) is not None]) == 3
    # As Alembic's RevisionMap: the shadowed copy is still a head, so `upgrade head` fails.
    assert g.kept_heads == ("b",) and g.heads == ("b", "b")


def test_shadowed_copy_stays_a_head_and_base_below_a_child():
    # The kept copy of "a" has a child; the shadowed copy is never named by a down_revision.
    g = build_graph([rev("a", path="v/a1.py"), rev("a", path="v/a2.py"), rev("b", "a")])
    assert g.kept_heads == ("b",) and g.heads == ("a", "b") and g.bases == ("a", "a")


def test_missing_parent_is_a_node():
    g = build_graph([rev("a"), rev("c", "b")])
    assert g.missing == ("b",) and missing_node("b") in g.graph
    assert g.heads == ("a", "c") and g.bases == ("a",)


def test_cycle():
    g = build_graph([rev("a"), rev("b", "d"), rev("c", "b"), rev("d", "c")])
    assert g.cycles == (("b", "c", "d"),) and not g.is_acyclic


def test_unreadable_down_revision_is_neither_head_nor_base():
    g = build_graph([rev("a"), rev("b", "a"), rev("x", read_error="`down_revision` is not assigned")])
    assert g.heads == ("b",) and g.bases == ("a",)


def test_depends_on_by_id_and_label_but_not_prefix():
    files = [
        rev("1a2b3c4d5e6f"),
        rev("9f8e7d6c5b4a", labels=("billing",)),
        rev("aaaa", "1a2b3c4d5e6f", depends="billing"),
        rev("bbbb", "aaaa", depends="1a2b3c4d5e6f"),
        rev("cccc", "bbbb", depends="9f8e"),
        rev("dddd", "cccc", depends=("nothing", "1a2")),
    ]
    g = build_graph(files)
    resolved = {(g.files[d.child].revision, d.name): d.target for d in g.dependencies}
    assert resolved[("aaaa", "billing")] == 1
    assert resolved[("bbbb", "1a2b3c4d5e6f")] == 0
    # Alembic 1.20 raises KeyError for a partial id in depends_on: not resolved (MD002).
    assert resolved[("cccc", "9f8e")] is None
    assert g.resolve("9f8e") == 1  # ... though a database or command argument may use one
    assert resolved[("dddd", "nothing")] is None
    assert resolved[("dddd", "1a2")] is None
    assert g.graph.edges[("f:1", "f:2")]["kind"] == "depends"
    assert 1 in g.ancestors(2)


def test_ambiguous_prefix_and_label_do_not_resolve():
    g = build_graph([rev("abcd1"), rev("abcd2", labels=("x",)), rev("z", labels=("x",))])
    assert g.resolve("abcd") is None and g.resolve("x") is None and g.resolve("abcd1") == 0


def test_depends_on_the_down_revision_keeps_both_relations():
    # 0002 both descends from and depends on 0001: one edge, two relations, neither erased.
    g = build_graph([rev("0001"), rev("0002", "0001", depends="0001")])
    data = g.graph.get_edge_data("f:0", "f:1")
    assert data["kinds"] == ("down", "depends") and data["kind"] == "down"
    assert g.children(0) == [1] and g.children(0, kinds=("depends",)) == [1]


def test_a_dependency_alone_is_no_down_revision_child():
    g = build_graph([rev("0001"), rev("0002", "0001"), rev("0003", "0001", depends="0002")])
    assert g.children(1) == [] and g.children(1, kinds=("depends",)) == [2]
    assert g.graph.get_edge_data("f:1", "f:2")["kinds"] == ("depends",)
