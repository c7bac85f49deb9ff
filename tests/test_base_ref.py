"""MD017 with --base-ref on temporary git repositories built here: two branches
each adding a child of the same head, a colliding id, a clean rebase, a
shallow clone, a missing ref, no repository at all."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from migdoc.cli import cli
from tests.gitutil import git


def revision(versions: Path, rev: str, down: str | None, slug: str) -> Path:
    path = versions / f"{rev}_{slug}.py"
    path.write_text(
        f'"""{slug.replace("_", " ")}\n\nRevision ID: {rev}\nRevises: {down or ""}\n"""\n'
        "from alembic import op\n\n"
        f'revision = "{rev}"\ndown_revision = {repr(down)}\nbranch_labels = None\ndepends_on = None\n\n\n'
        f'def upgrade():\n    op.create_table("{slug}")\n\n\n'
        f'def downgrade():\n    op.drop_table("{slug}")\n'
    )
    return path


@pytest.fixture
def repo(tmp_path, monkeypatch) -> Path:
    """main: 0001 <- 0002, committed; the current directory is the repository."""
    root = tmp_path / "shop"
    versions = root / "migrations" / "versions"
    versions.mkdir(parents=True)
    (root / "alembic.ini").write_text("[alembic]\nscript_location = %(here)s/migrations\n")
    revision(versions, "0001", None, "customers")
    revision(versions, "0002", "0001", "orders")
    git(root, "init", "-q", "-b", "main")
    git(root, "add", ".")
    git(root, "commit", "-q", "-m", "base chain")
    monkeypatch.chdir(root)
    return root


def versions_of(root: Path) -> Path:
    return root / "migrations" / "versions"


def run(*args: str):
    return CliRunner().invoke(cli, list(args))


def two_children_of_one_head(root: Path) -> None:
    """main gains 0003r (refunds); branch coupons, forked before, adds 0003c on 0002."""
    git(root, "checkout", "-q", "-b", "coupons")
    revision(versions_of(root), "0003c", "0002", "coupons")
    git(root, "add", ".")
    git(root, "commit", "-q", "-m", "coupons")
    git(root, "checkout", "-q", "main")
    revision(versions_of(root), "0003r", "0002", "refunds")
    git(root, "add", ".")
    git(root, "commit", "-q", "-m", "refunds")
    git(root, "checkout", "-q", "coupons")


def test_two_branches_adding_a_child_of_the_same_head(repo):
    two_children_of_one_head(repo)
    before = git(repo, "status", "--porcelain"), git(repo, "rev-parse", "HEAD")
    plain = run("check", "--select", "MD003")
    assert plain.exit_code == 0, plain.output  # invisible from this working tree alone
    result = run("check", "--base-ref", "main", "--format", "json")
    assert result.exit_code == 1, result.output
    (finding,) = [d for d in json.loads(result.output)["diagnostics"] if d["code"] == "MD017"]
    assert finding["file"] == "migrations/versions/0003c_coupons.py"
    assert finding["line"] == 9  # the down_revision line to change
    assert finding["revision"] == "0003c"
    assert "would leave 2 heads ('0003c' (this branch), '0003r' (main))" in finding["message"]
    assert "change down_revision of '0003c' from '0002' to '0003r'" in finding["message"]
    assert finding["related"] == ["main:migrations/versions/0003r_refunds.py"]
    text = run("check", "--base-ref", "main")
    assert "Rebase onto main's head '0003r'" in text.output
    # Read from git only: no checkout, no index refresh, nothing written.
    assert (git(repo, "status", "--porcelain"), git(repo, "rev-parse", "HEAD")) == before


def test_a_colliding_revision_id(repo):
    git(repo, "checkout", "-q", "-b", "coupons")
    revision(versions_of(repo), "0003", "0002", "coupons")
    git(repo, "add", ".")
    git(repo, "commit", "-q", "-m", "coupons")
    git(repo, "checkout", "-q", "main")
    revision(versions_of(repo), "0003", "0002", "refunds")
    git(repo, "add", ".")
    git(repo, "commit", "-q", "-m", "refunds")
    git(repo, "checkout", "-q", "coupons")
    result = run("check", "--base-ref", "main", "--format", "json")
    assert result.exit_code == 1
    findings = [d for d in json.loads(result.output)["diagnostics"] if d["code"] == "MD017"]
    collision = [d for d in findings if "also declared by" in d["message"]]
    assert len(collision) == 1
    assert collision[0]["file"] == "migrations/versions/0003_coupons.py"
    assert "revision id '0003' is also declared by main:migrations/versions/0003_refunds.py" in collision[0]["message"]


def test_a_clean_rebase_passes(repo):
    two_children_of_one_head(repo)
    git(repo, "rebase", "-q", "main")
    path = versions_of(repo) / "0003c_coupons.py"
    path.write_text(path.read_text().replace("down_revision = '0002'", "down_revision = '0003r'"))
    git(repo, "commit", "-q", "-am", "coupons on top of refunds")
    result = run("check", "--base-ref", "main")
    assert result.exit_code == 0, result.output
    assert "MD017" not in result.output


def test_uncommitted_working_tree_counts(repo):
    """The working tree as it is, committed or not, is what merges into REF."""
    two_children_of_one_head(repo)
    git(repo, "checkout", "-q", "main")
    revision(versions_of(repo), "0004", "0002", "invoices")  # not committed
    result = run("check", "--base-ref", "coupons")
    assert result.exit_code == 1
    assert "change down_revision of '0004' from '0002' to '0003c'" in result.output


def test_a_revision_deleted_on_the_base_since_we_branched_stays_deleted(repo):
    git(repo, "checkout", "-q", "-b", "feature")
    revision(versions_of(repo), "0003", "0002", "coupons")
    git(repo, "add", ".")
    git(repo, "commit", "-q", "-m", "coupons")
    git(repo, "checkout", "-q", "main")
    # main squashes 0002 into 0001's successor: deletes 0002 and adds 0002s.
    git(repo, "rm", "-q", "migrations/versions/0002_orders.py")
    revision(versions_of(repo), "0002s", "0001", "orders_squashed")
    git(repo, "add", ".")
    git(repo, "commit", "-q", "-m", "squash")
    git(repo, "checkout", "-q", "feature")
    result = run("check", "--base-ref", "main", "--format", "json")
    messages = [d["message"] for d in json.loads(result.output)["diagnostics"] if d["code"] == "MD017"]
    assert any("to '0002s'" in m for m in messages), result.output


def test_a_missing_ref_names_the_fetch(repo):
    result = run("check", "--base-ref", "origin/nope")
    assert result.exit_code == 2
    assert result.output.strip().count("\n") == 0
    assert "git ref 'origin/nope' does not exist" in result.output


def test_shallow_clone_says_which_fetch_makes_the_ref_available(repo, tmp_path, monkeypatch):
    two_children_of_one_head(repo)
    clone = tmp_path / "ci"
    git(tmp_path, "clone", "-q", "--depth", "1", "--branch", "coupons", "--single-branch", f"file://{repo}", str(clone))
    monkeypatch.chdir(clone)
    result = run("check", "--base-ref", "origin/main")
    assert result.exit_code == 2
    line = result.output.strip()
    assert line.count("\n") == 0
    assert "this is a shallow clone" in line
    command = line.split("`")[1]
    assert command == "git fetch --no-tags --depth=50 origin +refs/heads/main:refs/remotes/origin/main"
    git(clone, *command.split()[1:])  # the hint works as printed
    result = run("check", "--base-ref", "origin/main")
    assert result.exit_code == 1, result.output
    assert "change down_revision of '0003c' from '0002' to '0003r'" in result.output


def test_not_a_git_repository(tmp_path, monkeypatch):
    versions = tmp_path / "plain" / "versions"
    versions.mkdir(parents=True)
    revision(versions, "0001", None, "customers")
    monkeypatch.chdir(tmp_path / "plain")
    monkeypatch.setenv("GIT_CEILING_DIRECTORIES", str(tmp_path))
    result = run("check", "versions", "--base-ref", "main")
    assert result.exit_code == 2
    assert result.output.strip().count("\n") == 0
    assert "not a git repository" in result.output
    assert sorted(p.name for p in tmp_path.joinpath("plain").rglob("*")) == ["0001_customers.py", "versions"]


def test_not_a_git_ref(repo):
    result = run("check", "--base-ref", "--oops")
    assert result.exit_code == 2
