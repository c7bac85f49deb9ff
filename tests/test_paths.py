"""Issue 10: records hold paths resolved against the project, never against the current
directory; only what a person reads shows them relative to the current directory (SPEC:
"Paths in every output are relative to the current working directory when they lie under
it"). Load in one folder, render in another; plan in one folder, apply and undo in another."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from fixhelp import NOW, snapshot

from migdoc import doctor
from migdoc.output import concise, dot, github, html, json_format, mermaid, sarif, text
from migdoc.output import fix as fix_output
from migdoc.util.filesystem import display_path, display_text

INVOICES = "migrations/versions/0006_add_invoices.py"
"""A demo file MD003 names (in its message and as a finding's file or related file)."""


def every_path(result) -> list[str]:
    return [p for d in result.diagnostics for p in (d.file, *d.related) if p]


def renderings(project, result) -> dict[str, str]:
    """Every format of ``check`` and ``graph``, rendered with the current directory as it is now."""
    graph = project.graph
    problems = doctor.graph_problems(project)
    return {
        "text": text.render_check(result),
        "concise": concise.render_check(result),
        "json": json_format.render_check(result),
        "github": github.render_check(result),
        "sarif": sarif.render_check(result, None, Path.cwd()),
        "graph text": text.render_graph(graph, shown_paths=doctor.graph_paths(project, "full")),
        "graph json": json_format.render_graph(graph),
        "graph dot": dot.render_graph(graph, problems),
        "graph mermaid": mermaid.render_graph(graph, problems),
        "graph html": html.render_graph(graph, problems, doctor.graph_findings(project)),
    }


@pytest.fixture
def demo(copy_fixture):
    return copy_fixture("demo").resolve()


def test_library_records_hold_absolute_paths_whatever_the_current_directory(demo, tmp_path, monkeypatch):
    first = doctor.check_project(doctor.load_project("demo"))
    monkeypatch.chdir(demo / "migrations" / "versions")
    second = doctor.check_project(doctor.load_project("../.."))
    assert first == second  # the same records, paths and messages included
    paths = every_path(first)
    assert paths and all(os.path.isabs(p) and Path(p).is_file() for p in paths)
    md003 = next(d for d in first.diagnostics if d.code == "MD003")
    assert f"({demo}/{INVOICES})" in md003.message


def test_rendered_after_a_chdir_paths_are_shown_from_the_new_folder(demo, tmp_path, monkeypatch):
    project = doctor.load_project("demo")  # loaded from tmp_path
    result = doctor.check_project(project)
    monkeypatch.chdir(demo)  # rendered from inside the project
    inside = renderings(project, result)
    for name, output in inside.items():
        assert str(demo) not in output, f"{name} shows an absolute path of the project"
    assert f"{INVOICES}:11:1: MD003" in inside["concise"]
    assert f"({INVOICES})" in inside["text"] and f"file={INVOICES},line=11" in inside["github"]
    payload = json.loads(inside["json"])
    md003 = next(d for d in payload["diagnostics"] if d["code"] == "MD003")
    assert md003["file"] == INVOICES and f"({INVOICES})" in md003["message"]
    assert all(not r["file"].startswith("/") for r in json.loads(inside["graph json"])["revisions"])
    assert json.loads(inside["sarif"])["runs"][0]["results"][0]["locations"][0]["physicalLocation"]["artifactLocation"][
        "uri"
    ].startswith("migrations/versions/")

    monkeypatch.chdir(tmp_path.parent)  # from above the copy: relative, one folder deeper
    above = concise.render_check(result)
    assert f"{tmp_path.name}/demo/{INVOICES}:11:1: MD003" in above

    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)  # the project does not lie under it: absolute paths
    outside = concise.render_check(result)
    assert f"{demo}/{INVOICES}:11:1: MD003" in outside


def test_plan_made_in_one_folder_applies_and_undoes_from_others(copy_fixture, tmp_path, monkeypatch):
    root = copy_fixture("fix_story").resolve()
    before = snapshot(root)
    project = doctor.load_project("fix_story")
    proposal = doctor.plan_fix(project, doctor.FixOptions(now=NOW, is_archive=True))
    plan = proposal.plan
    for action in plan.actions:
        for path in (getattr(action, "source", None), getattr(action, "target", None), getattr(action, "path", None)):
            assert path is None or (os.path.isabs(path) and path.startswith(f"{root}/"))

    monkeypatch.chdir(root / "migrations")  # shown from where it is applied
    shown = fix_output.render_plan(plan)
    assert "-> archive/2025-12-20/0024b_add_invoice_discount.py" in shown and str(root) not in shown

    result = doctor.apply_fix(project, proposal)
    assert not result.is_rolled_back and result.errors_after == 0
    assert (root / "migrations" / "archive" / "2025-12-20" / "0024b_add_invoice_discount.py").is_file()

    monkeypatch.chdir("/")
    undone = doctor.undo_fix(doctor.load_project(str(root)))
    assert (undone.kept, undone.failed) == ((), ()) and undone.journal.is_absolute()
    after = {k: v for k, v in snapshot(root).items() if not k.startswith(".migdoc")}
    assert after == before


def test_the_archive_readme_names_files_as_the_diff_shows_them(copy_fixture, monkeypatch):
    """What ``--diff`` shows is what ``--apply`` writes, byte for byte; the README names
    files from the project root, wherever fix ran (issue 23)."""
    root = copy_fixture("fix_story").resolve()
    project = doctor.load_project("fix_story")
    plan = doctor.plan_fix(project, doctor.FixOptions(now=NOW, is_archive=True)).plan
    (readme,) = [a for a in plan.actions if a.kind == "create"]
    assert "from `migrations/versions/`" in readme.content and str(root) not in readme.content
    monkeypatch.chdir(root)
    assert readme.content.splitlines()[5] in fix_output.render_diff(plan).replace("\n+", "\n")


@pytest.mark.parametrize(
    ("text_in", "cwd", "shown"),
    [
        ("2 heads: a (/w/p/v/1.py), b (/w/p/v/2.py)", "/w/p", "2 heads: a (v/1.py), b (v/2.py)"),
        ("in /w/p; done", "/w/p", "in .; done"),
        ("kept /w/pq/v/1.py", "/w/p", "kept /w/pq/v/1.py"),  # a longer folder name is another folder
        ("kept /x/w/p/v/1.py", "/w/p", "kept /x/w/p/v/1.py"),  # not at the path's start
        ("from `/w/p/v/`", "/w/p", "from `v/`"),
        ("a /w/p/v/1.py b", "/", "a /w/p/v/1.py b"),  # from the root, nothing is rewritten
    ],
)
def test_display_text_shows_the_paths_in_a_sentence_as_display_path_does(text_in, cwd, shown, monkeypatch):
    monkeypatch.setattr(os.path, "realpath", lambda p: p)  # the folders above do not exist
    assert display_text(text_in, cwd) == shown


@pytest.mark.parametrize(
    ("path", "cwd", "shown"),
    [("/w/p/v/1.py", "/w/p", "v/1.py"), ("/w/p", "/w/p", "."), ("/w/pq/1.py", "/w/p", "/w/pq/1.py"), ("/a", "/", "a")],
)
def test_display_path(path, cwd, shown, monkeypatch):
    monkeypatch.setattr(os.path, "realpath", lambda p: p)
    assert display_path(path, cwd) == shown


def test_layout_notes_name_absolute_folders_and_the_cli_shows_them_from_here(copy_fixture):
    from click.testing import CliRunner

    from migdoc.cli import cli

    root = copy_fixture("layout_flask_migrate").resolve()
    (note,) = doctor.load_project("layout_flask_migrate").layout.notes
    assert f"reading its own folder {root} " in note
    shown = CliRunner().invoke(cli, ["check", "layout_flask_migrate"]).stderr
    assert "reading its own folder layout_flask_migrate " in shown and str(root) not in shown
