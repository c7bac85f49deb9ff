"""The static replay behind MD012, on graphs built from literal records."""

from __future__ import annotations

from migdoc.chain.graph import build_graph
from migdoc.chain.replay import find_redundancies
from migdoc.model import FunctionBody, Operation, RevisionFile


def revision(rev, down=(), *ops: Operation) -> RevisionFile:
    body = FunctionBody(line=1, fingerprint=rev, does_work=bool(ops), only_raises=False, operations=tuple(ops))
    return RevisionFile(path=f"v/{rev}.py", revision=rev, down_revisions=tuple(down), upgrade=body)


def add_column(table, column, certain=True):
    return Operation("add_column", 10, table=table, name=column, is_certain=certain)


def found(*files):
    graph = build_graph(files)
    return [(graph.files[r.index].revision, r.description) for r in find_redundancies(graph)]


def test_re_adding_a_column_is_found_with_the_earlier_revision():
    files = [revision("a", (), add_column("t", "c")), revision("b", ("a",), add_column("t", "c"))]
    graph = build_graph(files)
    [redundancy] = list(find_redundancies(graph))
    assert graph.files[redundancy.index].revision == "b"
    assert graph.files[redundancy.earlier].revision == "a"


def test_drop_then_add_is_fine():
    drop = Operation("drop_column", 11, table="t", name="c")
    assert (
        found(
            revision("a", (), add_column("t", "c")),
            revision("b", ("a",), drop),
            revision("c", ("b",), add_column("t", "c")),
        )
        == []
    )


def test_uncertain_operation_silences_the_table():
    unknown = Operation("unknown", 12, is_certain=False)
    assert (
        found(
            revision("a", (), add_column("t", "c")),
            revision("b", ("a",), unknown),
            revision("c", ("b",), add_column("t", "c")),
        )
        == []
    )


def test_raw_ddl_mentioning_the_table_makes_it_uncertain_but_dml_does_not():
    ddl = Operation("execute", 12, name="ALTER TABLE t DROP COLUMN c", is_certain=False)
    dml = Operation("execute", 12, name="UPDATE t SET c = 1", is_certain=False)
    assert (
        found(
            revision("a", (), add_column("t", "c")),
            revision("b", ("a",), ddl),
            revision("c", ("b",), add_column("t", "c")),
        )
        == []
    )
    assert found(
        revision("a", (), add_column("t", "c")), revision("b", ("a",), dml), revision("c", ("b",), add_column("t", "c"))
    ) == [("c", "adds column t.c, which already exists")]


def test_a_column_added_on_one_branch_exists_after_the_merge():
    # a -> b (adds t.c) and a -> x (does nothing); merge m; then n re-adds t.c.
    files = [
        revision("a", (), Operation("create_table", 1, table="t", columns=("id",))),
        revision("b", ("a",), add_column("t", "c")),
        revision("x", ("a",)),
        revision("m", ("b", "x")),
        revision("n", ("m",), add_column("t", "c")),
    ]
    assert found(*files) == [("n", "adds column t.c, which already exists")]


def test_branches_that_disagree_make_the_merge_uncertain():
    drop = Operation("drop_column", 11, table="t", name="c")
    files = [
        revision("a", (), add_column("t", "c")),
        revision("b", ("a",), drop),
        revision("x", ("a",), drop, add_column("t", "c")),
        revision("m", ("b", "x")),
        revision("n", ("m",), add_column("t", "c")),
    ]
    assert found(*files) == []


def test_dropping_a_column_a_created_table_never_had():
    files = [
        revision("a", (), Operation("create_table", 1, table="t", columns=("id",))),
        revision("b", ("a",), Operation("drop_column", 2, table="t", name="ghost")),
    ]
    assert found(*files) == [("b", "drops column t.ghost, which is not there")]
