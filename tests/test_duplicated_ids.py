"""A duplicated revision id (MD001) told truly outside `check`: `status` never claims the
database is at one copy, what a database at that id has applied is only what every copy's
ancestry holds, and a window (`--around`, `--last`) shows every copy of an id in range.
Pure: literal records, a status made by hand (no database)."""

from __future__ import annotations

import json

from migdoc.chain.graph import build_graph
from migdoc.chain.window import Window, cut_graph
from migdoc.database.upgrades import applied_revisions, compute_status
from migdoc.model import RevisionFile
from migdoc.output.status import render_status, render_status_json
from migdoc.output.text import render_graph


def _chain():
    """0001 <- 0002 <- 0003 (v/0003_a.py) and 0001 <- 0003 (v/0003_b.py, kept: loaded last)."""
    return build_graph(
        [
            RevisionFile(path="v/0001.py", revision="0001", header=_message("init")),
            RevisionFile(path="v/0002.py", revision="0002", down_revisions=("0001",)),
            RevisionFile(path="v/0003_a.py", revision="0003", down_revisions=("0002",)),
            RevisionFile(path="v/0003_b.py", revision="0003", down_revisions=("0001",)),
            RevisionFile(path="v/0004.py", revision="0004", down_revisions=("0001",)),
        ]
    )


def _message(text):
    from migdoc.model import Header

    return Header(message=text)


def test_status_says_a_duplicated_id_is_ambiguous_and_names_both_files():
    graph = _chain()
    status = compute_status(graph, ["0003"])
    text = render_status("db", graph, status)
    current = text.split("heads:")[0]
    assert "ambiguous" in current and "v/0003_a.py" in current and "v/0003_b.py" in current
    entry = json.loads(render_status_json("db", graph, status))["current"][0]
    assert entry["file"] is None and entry["files"] == ["v/0003_a.py", "v/0003_b.py"]


def test_status_names_the_one_file_of_an_ordinary_id():
    graph = _chain()
    entry = json.loads(render_status_json("db", graph, compute_status(graph, ["0002"])))["current"][0]
    assert entry["file"] == "v/0002.py" and entry["files"] == ["v/0002.py"]
    current = render_status("db", graph, compute_status(graph, ["0002"])).split("heads:")[0]
    assert "ambiguous" not in current and "v/0002.py" in current


def test_a_database_at_a_duplicated_id_has_applied_only_what_every_copy_needs():
    # 0002 lies under copy a only: the database at 0003 may have run copy b, so 0002 is not proven.
    graph = _chain()
    assert applied_revisions(graph, ["0003"]) == {"0003", "0001"}
    assert applied_revisions(graph, ["0002"]) == {"0002", "0001"}


def test_last_window_shows_every_copy_of_an_id_in_range():
    graph = _chain()
    cut = cut_graph(graph, Window(last=2))
    shown = sorted(graph.files[i].path for i in (cut.index_of(n) for n in cut.graph.nodes) if i is not None)
    assert "v/0003_a.py" in shown and "v/0003_b.py" in shown


def test_around_a_duplicated_id_shows_every_copy():
    graph = _chain()
    cut = cut_graph(graph, Window(around="0003", depth=0))
    lines = render_graph(cut)
    assert "v/0003_a.py" in lines and "v/0003_b.py" in lines


def test_status_heads_name_only_the_copies_that_are_heads():
    # the kept 0003 (v/0003_b.py) is a head; so is the shadowed v/0003_a.py, which nothing can name
    graph = _chain()
    heads = render_status("db", graph, compute_status(graph, ["0001"])).split("heads:")[1].split("upgrade")[0]
    (row,) = [line for line in heads.splitlines() if line.strip().startswith("0003")]
    assert "v/0003_a.py" in row and "v/0003_b.py" in row
    above = build_graph([*graph.files, RevisionFile(path="v/0005.py", revision="0005", down_revisions=("0003",))])
    heads = render_status("db", above, compute_status(above, ["0001"])).split("heads:")[1].split("upgrade")[0]
    (row,) = [line for line in heads.splitlines() if line.strip().startswith("0003")]
    assert "v/0003_a.py" in row and "v/0003_b.py" not in row
