"""Issue 23 item 6: a command migdoc suggests for pasting into a shell keeps every value
one inert word, whatever the value holds."""

from __future__ import annotations

import shlex
import subprocess

import pytest
from click.testing import CliRunner
from gitutil import git
from hostile import write_project

from migdoc.cli import cli

HOSTILE_REFS = ["origin/$(touch pwned)", "`touch pwned`", "nope;touch pwned", "refs/remotes/origin/a b'c"]


@pytest.mark.parametrize("ref", HOSTILE_REFS)
def test_the_suggested_fetch_keeps_a_hostile_ref_one_word(in_tmp, monkeypatch, ref):
    write_project(in_tmp)
    git(in_tmp, "init", "-q")
    git(in_tmp, "remote", "add", "origin", "https://example.invalid/repo.git")
    result = CliRunner().invoke(cli, ["check", "--base-ref", ref])
    assert result.exit_code == 2, result.output
    command = result.output.split("`git fetch", 1)[1].rsplit("` makes it available", 1)[0]
    words = shlex.split("git fetch" + command)
    assert words[:4] == ["git", "fetch", "--no-tags", "--depth=50"]
    assert ref in words[-1] and len(words) == 6, words
    # what a shell does with it: no command substitution, no second command
    echoed = subprocess.run(["sh", "-c", "echo" + command], capture_output=True, text=True, cwd=in_tmp, check=True)
    assert not (in_tmp / "pwned").exists()
    assert echoed.stdout.split(" ", 2)[2].rstrip("\n").endswith(words[-1])
