"""``dryrun --since REV`` / ``--base-ref REF``: the revisions below the scope are upgraded in
one unchecked ``alembic upgrade``, the stairway proves only the rest. Real PostgreSQL."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner
from gitutil import git
from test_dryrun_limits import generated_chain

from migdoc.chain.graph import build_graph
from migdoc.cli import cli
from migdoc.dryrun.scope import ref_scope, since_scope
from migdoc.errors import UsageError
from migdoc.project.reader import read_revision


def run(*args: str):
    return CliRunner().invoke(cli, list(args), env={"MIGDOC_DRYRUN_SERVER": "", "MIGDOC_DATABASE_URL": ""})


def proved(report: dict) -> set[str]:
    return {step["revision"] for step in report["steps"]}


def test_since_proves_that_revision_and_those_after_it_only(tmp_path, monkeypatch, pg_server):
    generated_chain(tmp_path / "chain", 8)
    monkeypatch.chdir(tmp_path)
    result = run("dryrun", "chain", "--since", "r00006", "--server", pg_server.url, "--format", "json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert proved(report) == {"r00006", "r00007", "r00008"}
    assert len(report["steps"]) == 3 * 4  # upgrade, downgrade, consistency, re-upgrade each
    scope = report["scope"]
    assert scope["since"] == "r00006" and scope["revisions"] == ["r00006", "r00007", "r00008"]
    assert scope["fast_forwarded"] == 5 and scope["fast_forward_seconds"] > 0

    text = run("dryrun", "chain", "--since", "r00006", "--server", pg_server.url)
    assert text.exit_code == 0, text.output
    assert "fast-forwarded 5 revisions in one upgrade, unchecked" in text.stdout


def test_since_fails_on_a_bad_new_revision(tmp_path, monkeypatch, pg_server):
    root = generated_chain(tmp_path / "chain", 5)
    last = root / "migrations" / "versions" / "r00005_step_5.py"
    last.write_text(last.read_text().replace("CREATE TABLE t5 (", "CREATE TABLE t4 ("))
    monkeypatch.chdir(tmp_path)
    result = run("dryrun", "chain", "--since", "r00004", "--server", pg_server.url, "--format", "json")
    assert result.exit_code == 1, result.output
    report = json.loads(result.stdout)
    assert report["failure"]["revision"] == "r00005" and report["failure"]["phase"] == "upgrade"
    assert proved(report) == {"r00004", "r00005"}


def test_since_on_check_dryrun(tmp_path, monkeypatch, pg_server):
    generated_chain(tmp_path / "chain", 4)
    monkeypatch.chdir(tmp_path)
    result = run("check", "chain", "--dryrun", "--since", "r00004", "--server", pg_server.url, "--format", "json")
    assert result.exit_code == 0, result.output
    assert proved(json.loads(result.stdout)["dryrun"]) == {"r00004"}


def test_an_unknown_since_revision_is_one_line(tmp_path, monkeypatch):
    generated_chain(tmp_path / "chain", 3)
    monkeypatch.chdir(tmp_path)
    result = run("dryrun", "chain", "--since", "nope")
    assert result.exit_code == 2
    assert result.stderr.strip().splitlines() == [
        "migdoc: error: --since nope: no revision of the chain has this id (or it is an ambiguous prefix)"
    ]


def test_base_ref_proves_the_revisions_this_branch_adds(tmp_path, monkeypatch, pg_server):
    root = generated_chain(tmp_path / "chain", 6)
    versions = root / "migrations" / "versions"
    git(root, "init", "-q", "-b", "main")
    git(
        root,
        "add",
        "alembic.ini",
        "migrations/env.py",
        *(f"migrations/versions/r0000{n}_step_{n}.py" for n in range(1, 5)),
    )
    git(root, "commit", "-q", "-m", "four revisions")
    assert len(list(versions.glob("*.py"))) == 6  # r00005 and r00006: this branch's, not committed at main
    monkeypatch.chdir(tmp_path)
    result = run("dryrun", "chain", "--base-ref", "main", "--server", pg_server.url, "--format", "json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert proved(report) == {"r00005", "r00006"}
    assert report["scope"]["base_ref"] == "main" and report["scope"]["fast_forwarded"] == 4

    # a revision main has, edited on this branch, runs as edited: it is proved, and what needs it
    second = versions / "r00002_step_2.py"
    second.write_text(second.read_text().replace("def upgrade():\n", "def upgrade():\n    op.execute('SELECT 1')\n"))
    result = run("dryrun", "chain", "--base-ref", "main", "--server", pg_server.url, "--format", "json")
    assert result.exit_code == 0, result.output
    assert proved(json.loads(result.stdout)) == {"r00002", "r00003", "r00004", "r00005", "r00006"}


# -- the scope itself (pure) -------------------------------------------------------------


def graph_of(*pairs: tuple[str, str | None]):
    files = [
        read_revision(f"{rev}.py", f"revision = {rev!r}\ndown_revision = {down!r}\n".encode()) for rev, down in pairs
    ]
    return build_graph(files)


def test_since_takes_in_what_needs_a_proved_revision():
    # a <- b <- c, and a <- d (another branch): --since b proves b, c and d (d is not below b)
    graph = graph_of(("a", None), ("b", "a"), ("c", "b"), ("d", "a"))
    scope = since_scope(graph, "b")
    assert scope.revisions == ("b", "c", "d") and scope.fast_forward == ("a",)
    with pytest.raises(UsageError):
        since_scope(graph, "zz")


def test_ref_scope_keeps_the_fast_part_closed_under_ancestors():
    graph = graph_of(("a", None), ("b", "a"), ("c", "b"))
    # b is new here, c existed at REF: c needs b, so c is proved too
    scope = ref_scope(graph, "main", {"a", "c"})
    assert scope.revisions == ("b", "c") and scope.fast_forward == ("a",)
    assert ref_scope(graph, "main", {"a", "b", "c"}, changed={"b"}).revisions == ("b", "c")
    assert ref_scope(graph, "main", {"a", "b", "c"}).revisions == ()


def test_a_revision_that_fails_below_the_scope_stops_the_run(tmp_path, monkeypatch, pg_server):
    root = generated_chain(tmp_path / "chain", 5)
    second = root / "migrations" / "versions" / "r00002_step_2.py"
    second.write_text(second.read_text().replace("CREATE TABLE t2 (", "CREATE TABLE t1 ("))
    monkeypatch.chdir(tmp_path)
    result = run("dryrun", "chain", "--since", "r00004", "--server", pg_server.url, "--format", "json")
    assert result.exit_code == 1, result.output
    report = json.loads(result.stdout)
    assert (report["failure"]["revision"], report["failure"]["phase"]) == ("r00002", "fast-forward")
    assert "already exists" in report["failure"]["error"]
    assert sorted(report["not_run"]) == ["r00004", "r00005"]
