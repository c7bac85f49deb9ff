"""graph's formats at real sizes: DOT a DOT parser reads with the right labels, windows
(--around/--depth, --since, --last) for every format, mermaid's edge limit said on stderr,
short paths and terminal-wide lines in text, and the html page rendered by a real headless
browser (Chromium), which checks its own DOM."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import warnings
from pathlib import Path

import pydot
import pytest
from click.testing import CliRunner
from environment import is_ci

from migdoc.chain.graph import build_graph
from migdoc.chain.window import Window, cut_graph
from migdoc.cli import cli
from migdoc.model import Header, RevisionFile
from migdoc.output import dot, html, mermaid, text

with warnings.catch_warnings():
    # pydot's grammar still calls pyparsing's old camelCase names, once, when its parser loads
    warnings.simplefilter("ignore", DeprecationWarning)
    import pydot.dot_parser  # noqa: F401

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
FORMATS = ("text", "dot", "mermaid", "json", "html")


@pytest.fixture
def demo(tmp_path, monkeypatch):
    shutil.copytree(FIXTURES / "demo", tmp_path / "demo")
    monkeypatch.chdir(tmp_path)
    return tmp_path / "demo"


def run(*args: str):
    return CliRunner().invoke(cli, list(args))


def revision(n: int, parents: tuple[str, ...], message: str = "step") -> RevisionFile:
    rev = f"r{n:05d}"
    return RevisionFile(
        path=f"migrations/versions/{rev}_step.py",
        revision=rev,
        down_revisions=parents,
        header=Header(revision_id=rev, message=message, create_date="2025-12-17 18:00:00"),
    )


def long_chain(count: int) -> list[RevisionFile]:
    """A line with a short side branch merged back every 50 revisions."""
    files = [revision(0, ())]
    n = 1
    while n < count:
        parent = files[-1].revision
        if n % 50 == 0 and n + 2 < count:
            files.append(revision(n, (parent,), "side"))
            files.append(revision(n + 1, (parent,), "main"))
            files.append(revision(n + 2, (files[-2].revision, files[-1].revision), "merge"))
            n += 3
        else:
            files.append(revision(n, (parent,)))
            n += 1
    return files


# -- dot ---------------------------------------------------------------------------------


def test_dot_parses_and_labels_break_lines_instead_of_showing_backslash_n(demo):
    result = run("graph", "demo", "--format", "dot")
    (parsed,) = pydot.graph_from_dot_data(result.stdout)
    labels = {node.get_name().strip('"'): node.get_label() for node in parsed.get_nodes() if node.get_label()}
    assert len(labels) == 8
    for label in labels.values():
        inner = label[1:-1]
        assert "\\\\n" not in inner  # an escaped backslash before n: renders a literal \n
        assert inner.count("\\n") >= 1  # DOT's own line break between id and message
    assert any(label[1:-1].split("\\n") == ["0006b", "add invoices", "MD003 MD006"] for label in labels.values())
    assert len(parsed.get_edges()) == 7  # 8 revisions, 2 heads from one branch point


def test_dot_escapes_quotes_and_backslashes_from_files():
    files = [revision(0, (), 'say "hi" \\ there')]
    (parsed,) = pydot.graph_from_dot_data(dot.render_graph(build_graph(files)))
    (node,) = [n for n in parsed.get_nodes() if n.get_label()]
    assert node.get_label() == '"r00000\\nsay \\"hi\\" \\\\ there"'


# -- windows -----------------------------------------------------------------------------


def revisions_in(fmt: str, output: str) -> set[str]:
    if fmt == "json":
        return {r["revision"] for r in json.loads(output)["revisions"]}
    if fmt == "html":  # the drawn nodes (findings in the details name other revisions)
        return set(re.findall(r'data-rev="([^"]+)"', output))
    return set(re.findall(r"\b(000[0-9]b?)\b", output))


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--last", "3"], {"0007", "0006", "0006b"}),
        (["--since", "0005"], {"0005", "0006", "0006b", "0007"}),
        (["--around", "0003", "--depth", "1"], {"0002", "0003", "0004"}),
        (["--around", "0006b", "--depth", "0"], {"0006b"}),
    ],
)
def test_every_format_is_cut_to_the_window(demo, fmt, args, expected):
    result = run("graph", "demo", "--format", fmt, *args)
    assert result.exit_code == 0, result.output
    assert revisions_in(fmt, result.stdout) == expected


def test_window_keeps_the_whole_chains_markings():
    files = long_chain(10)
    cut = cut_graph(build_graph(files), Window(last=2))
    assert text.render_graph(cut).count("(base)") == 0  # the base lies outside the window
    assert "(head)" in text.render_graph(cut)


@pytest.mark.parametrize(
    "args", [["--around", "nope"], ["--since", "zzzz"], ["--depth", "2"], ["--last", "0"]], ids=str
)
def test_window_errors_are_one_line_and_exit_2(demo, args):
    result = run("graph", "demo", *args)
    assert result.exit_code == 2
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith(("migdoc: error: ", "Error: ")) and "Traceback" not in result.stderr


# -- mermaid -----------------------------------------------------------------------------


def test_mermaid_above_its_edge_limit_says_so_and_suggests_a_window(tmp_path):
    graph = build_graph(long_chain(mermaid.DEFAULT_MAX_EDGES + 40))
    assert graph.graph.number_of_edges() > mermaid.DEFAULT_MAX_EDGES
    project = tmp_path / "big" / "versions"
    project.mkdir(parents=True)
    for rf in long_chain(mermaid.DEFAULT_MAX_EDGES + 40):
        parents = rf.down_revisions
        down = repr(parents[0]) if len(parents) == 1 else repr(parents) if parents else "None"
        (project / Path(rf.path).name).write_text(
            f'"""{rf.header.message}"""\nrevision = {rf.revision!r}\ndown_revision = {down}\n'
        )
    big = run("graph", str(project), "--format", "mermaid")
    assert big.exit_code == 0
    assert "maxEdges of 500" in big.stderr and "--last N" in big.stderr
    small = run("graph", str(project), "--format", "mermaid", "--last", "100")
    assert small.exit_code == 0 and small.stderr == ""


# -- text --------------------------------------------------------------------------------


def test_text_paths_are_short_by_default_with_name_and_full_on_request(demo):
    short = run("graph", "demo").stdout
    full = run("graph", "demo", "--paths", "full").stdout
    name = run("graph", "demo", "--paths", "name").stdout
    assert "  0001_create_customers.py" in short and "migrations/versions/" not in short
    assert "demo/migrations/versions/0001_create_customers.py" in full
    assert "  0001_create_customers.py" in name
    assert max(map(len, short.splitlines())) < max(map(len, full.splitlines()))


def test_text_keeps_subfolders_below_the_versions_folder(tmp_path, monkeypatch):
    shutil.copytree(FIXTURES / "healthy_recursive_date_folders", tmp_path / "p")
    monkeypatch.chdir(tmp_path)
    short = run("graph", "p").stdout
    assert re.search(r"  \d{4}/", short), short  # the year folder tells files apart


def test_fit_cuts_to_the_width_and_keeps_colour_codes_whole():
    assert text.fit("abcdef", 10) == "abcdef"
    assert text.fit("abcdefghij", 5) == "abcd…"
    styled = "\x1b[31mabcdefgh\x1b[0m"
    cut = text.fit(styled, 4)
    assert re.sub(r"\x1b\[[0-9;]*m", "", cut) == "abc…" and cut.startswith("\x1b[31m") and "\x1b[0m" in cut


def test_text_lines_fit_the_width_given():
    graph = build_graph(long_chain(60))
    for line in text.render_graph(graph, width=40).splitlines():
        assert len(line) <= 40


# -- html --------------------------------------------------------------------------------

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
needs_browser = pytest.mark.skipif(
    CHROMIUM is None and not is_ci(), reason="no chromium (.ci/run installs it; CI fails without it)"
)


def render_in_browser(page: Path, tmp_path: Path, screenshot: Path | None = None, fragment: str = "") -> str:
    """The DOM after the page's script ran, from a real headless Chromium."""
    assert CHROMIUM, "chromium is not installed (apt-get install chromium)"
    args = [
        CHROMIUM,
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        "--disable-dev-shm-usage",
        f"--user-data-dir={tmp_path / 'chromium-profile'}",
    ]
    args += [f"--screenshot={screenshot}", "--window-size=900,330"] if screenshot else ["--dump-dom"]
    done = subprocess.run(
        [*args, page.resolve().as_uri() + (f"#{fragment}" if fragment else "")],
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


def body_data(dom: str) -> dict[str, str]:
    body = re.search(r"<body([^>]*)>", dom).group(1)
    return dict(re.findall(r'data-([a-z]+)="([^"]*)"', body))


def script_errors(dom: str) -> str:
    return re.search(r'<pre id="script-errors">(.*?)</pre>', dom, re.S).group(1)


def test_html_is_self_contained(demo):
    page = run("graph", "demo", "--format", "html").stdout
    assert page.startswith("<!DOCTYPE html>")
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", page)  # nothing fetched
    assert "<script src" not in page and "<link" not in page
    for rev in ("0001", "0005", "0006b", "0007"):
        assert f'data-rev="{rev}"' in page


@needs_browser
def test_html_renders_every_revision_marks_problems_and_has_no_script_error(demo, tmp_path):
    page = tmp_path / "graph.html"
    assert run("graph", "demo", "--format", "html", "-o", str(page)).exit_code == 0
    dom = render_in_browser(page, tmp_path)
    assert script_errors(dom) == ""
    data = body_data(dom)
    assert data["ready"] == "yes"
    assert int(data["drawn"]) == 8
    # the problem nodes are those the check flags (warnings and errors), read apart from the page
    flagged = {
        d["revision"]
        for d in json.loads(run("check", "demo", "--format", "json").stdout)["diagnostics"]
        if d["severity"] != "info"
    }
    marked = set(re.findall(r'<g class="node[^"]*\bproblem\b[^"]*"[^>]*data-rev="([^"]+)"', dom))
    assert marked == flagged and int(data["problems"]) == len(flagged)
    heads = set(re.findall(r'<g class="node[^"]*\bhead\b[^"]*"[^>]*data-rev="([^"]+)"', dom))
    assert heads == {"0006b", "0007"}
    assert re.search(r'<g class="node base"[^>]*data-rev="0001"', dom)


@needs_browser
def test_html_reports_a_script_error_in_the_dom(tmp_path):
    """The self-check can fail: a page whose script throws shows it where the test looks."""
    page = tmp_path / "broken.html"
    good = html.render_graph(build_graph(long_chain(3)))
    page.write_text(good.replace("body.dataset.ready='yes';", "undefinedFunction();body.dataset.ready='yes';"))
    dom = render_in_browser(page, tmp_path)
    assert "undefinedFunction" in script_errors(dom)
    assert "data-ready" not in re.search(r"<body[^>]*>", dom).group(0)


@needs_browser
def test_html_at_5000_revisions_is_small_enough_and_renders(tmp_path):
    files = long_chain(5000)
    problems = {rf.path: ["MD006"] for rf in files[::500]}
    page_text = html.render_graph(build_graph(files), problems)
    assert len(page_text.encode()) < 5_000_000, len(page_text)  # bytes: opens at once, fits in an artefact
    page = tmp_path / "big.html"
    page.write_text(page_text, encoding="utf-8")
    dom = render_in_browser(page, tmp_path)
    assert script_errors(dom) == ""
    data = body_data(dom)
    assert (int(data["drawn"]), int(data["problems"])) == (5000, len(problems))
    assert set(re.findall(r'data-rev="(r\d{5})"', dom)) == {rf.revision for rf in files}


@needs_browser
def test_html_details_show_file_message_date_and_findings(demo, tmp_path):
    """The panel a click opens, here through a link to one revision (page.html#REV)."""
    page = tmp_path / "graph.html"
    run("graph", "demo", "--format", "html", "-o", str(page))
    dom = render_in_browser(page, tmp_path, fragment="0006b")
    details = re.search(r'<div id="details"[^>]*>(.*?)</div>\s*<svg', dom, re.S).group(1)
    assert "demo/migrations/versions/0006_add_invoices.py" in details
    assert "add invoices" in details and "MD006 warning: file name says revision" in details
    assert "MD003 error" in details
    assert re.search(r'<g class="node[^"]*\bfound\b[^"]*"[^>]*data-rev="0006b"', dom)


@needs_browser
@pytest.mark.parametrize("typed", ["r00120", "r0499", "zzz"])
def test_html_search_box_finds_a_revision_by_id_or_prefix(tmp_path, typed):
    files = long_chain(5000)
    # an exact id, else the newest revision whose id starts with the text (the page is newest first)
    expected = max((rf.revision for rf in files if rf.revision.startswith(typed)), default=None)
    page_text = html.render_graph(build_graph(files))
    # what a person does: type into the search box (the page's own listener does the rest)
    typing = (
        "<script>var box=document.getElementById('search');"
        f"box.value={json.dumps(typed)};box.dispatchEvent(new Event('input'));</script></body>"
    )
    page = tmp_path / "search.html"
    page.write_text(page_text.replace("</body>", typing), encoding="utf-8")
    dom = render_in_browser(page, tmp_path)
    assert script_errors(dom) == ""
    found = re.findall(r'<g class="node[^"]*\bfound\b[^"]*"[^>]*data-rev="([^"]+)"', dom)
    result = re.search(r'<span id="search-result">([^<]*)</span>', dom).group(1)
    if expected is None:
        assert found == [] and result == f"no revision {typed}"
    else:
        assert found == [expected] and result == ""


def test_ci_installs_the_browser_the_html_test_needs():
    ci = (Path(__file__).resolve().parent.parent / ".ci" / "run").read_text()
    assert "apt-get install" in ci and "chromium" in ci


@pytest.mark.parametrize(
    "name", ["demo", "healthy_numbered_merge", "healthy_expand_contract", "md005_cycle", "md002_missing_revision"]
)
def test_html_lanes_are_the_text_trees_lanes(name, monkeypatch):
    """The html page places each revision in the lane the text tree draws it in."""
    from migdoc.doctor import load_project

    monkeypatch.chdir(FIXTURES)
    graph = load_project(name, is_read_only=True).graph
    tree = text.render_graph(graph).splitlines()
    lanes = [line.split("  ", 1)[0] for line in tree]  # "| *" before the label: the lane marks
    marked = [row for row in lanes if re.fullmatch(r"[|/\\ ]*[*?][|/\\ ]*", row)]
    text_columns = [re.search(r"[*?]", row).start() // 2 for row in marked]
    assert text_columns == [column for _, column in text.lane_columns(graph)]
    assert len(marked) == graph.graph.number_of_nodes()


def test_html_shows_markup_from_files_as_text():
    files = [revision(0, (), '</title><script>alert(1)</script><img src=x onerror=alert(2)> "q" & \x1b[2J')]
    page = html.render_graph(build_graph(files), findings={files[0].path: [("MD006", "warning", "<b>x</b>")]})
    assert page.count("<script") == 1  # the page's own
    assert "<img" not in page and "<b>x</b>" not in page
    assert "&lt;/title&gt;&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "\x1b" not in page and "\\x1b[2J" in page


def test_dot_and_mermaid_draw_a_depends_on_on_the_down_revision_as_both_edges():
    files = [
        RevisionFile(path="versions/0001.py", revision="0001"),
        RevisionFile(path="versions/0002.py", revision="0002", down_revisions=("0001",), depends_on=("0001",)),
    ]
    graph = build_graph(files)
    dot_lines = [line.strip() for line in dot.render_graph(graph).splitlines() if "->" in line]
    assert dot_lines == ['"f:1" -> "f:0";', '"f:1" -> "f:0" [style=dashed, label="depends_on"];']
    mermaid_edges = [line.strip() for line in mermaid.render_graph(graph).splitlines() if "n_f_1 " in line]
    assert len(mermaid_edges) == 2 and sum("depends_on" in line for line in mermaid_edges) == 1


def _duplicated_below_a_child():
    """0002 twice (v/0002a.py shadowed, v/0002b.py kept, loaded last), 0003 above it."""
    return build_graph(
        [
            RevisionFile(path="v/0001.py", revision="0001"),
            RevisionFile(path="v/0002a.py", revision="0002", down_revisions=("0001",)),
            RevisionFile(path="v/0002b.py", revision="0002", down_revisions=("0001",)),
            RevisionFile(path="v/0003.py", revision="0003", down_revisions=("0002",)),
        ]
    )


def test_a_duplicated_id_is_marked_head_only_where_alembic_counts_it_one():
    # Alembic's heads here are 0003 and the shadowed 0002 (no down_revision names it); the
    # kept 0002 has 0003 above it, so it is no head, though its id is among the heads.
    from migdoc.output import json_format

    graph = _duplicated_below_a_child()
    marked = {r["file"]: r["is_head"] for r in json_format.graph_to_dict(graph)["revisions"]}
    assert marked == {"v/0001.py": False, "v/0002a.py": True, "v/0002b.py": False, "v/0003.py": True}
    lines = {line.split("  ")[-1]: line for line in text.render_graph(graph).splitlines() if "v/" in line}
    assert "(head, duplicate" in lines["v/0002a.py"] and "head" not in lines["v/0002b.py"]
    heads_in_dot = {line.split()[0] for line in dot.render_graph(graph).splitlines() if "peripheries=2" in line}
    assert heads_in_dot == {'"f:1"', '"f:3"'}
    heads_in_mermaid = {
        line.split("[")[0].strip() for line in mermaid.render_graph(graph).splitlines() if ":::head" in line
    }
    assert heads_in_mermaid == {"n_f_1", "n_f_3"}
    heads_in_html = set(re.findall(r'<g class="node head[^"]*" id="([^"]+)"', html.render_graph(graph)))
    assert heads_in_html == {"f:1", "f:3"}
