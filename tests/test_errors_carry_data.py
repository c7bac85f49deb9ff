"""Errors carry their data (issue 10): a caller of the library can tell which option was at
fault, or what the machine lacks, without parsing the message."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from migdoc.database.deployed import database_timeout
from migdoc.dryrun.binaries import find_binaries
from migdoc.dryrun.failures import raise_if_missing_module
from migdoc.errors import EnvironmentProblem, UsageError
from migdoc.gitref import find_repository, resolve_ref
from migdoc.rules import selected_codes


def test_unknown_rule_names_the_option_and_the_value():
    with pytest.raises(UsageError) as caught:
        selected_codes(select=("MD999",))
    assert (caught.value.option, caught.value.value) == ("--select/--ignore", "MD999")


def test_bad_timeout_names_the_variable(monkeypatch):
    monkeypatch.setenv("MIGDOC_DATABASE_TIMEOUT", "soon")
    with pytest.raises(UsageError) as caught:
        database_timeout()
    assert (caught.value.option, caught.value.value) == ("MIGDOC_DATABASE_TIMEOUT", "soon")


def test_missing_git_ref_names_base_ref(tmp_path: Path):
    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True)
    with pytest.raises(UsageError) as caught:
        resolve_ref(tmp_path, "origin/nowhere")
    assert (caught.value.option, caught.value.value) == ("--base-ref", "origin/nowhere")


def test_not_a_repository_says_what_is_needed(tmp_path: Path):
    with pytest.raises(EnvironmentProblem) as caught:
        find_repository(tmp_path)
    assert caught.value.needs == "a git repository"


def test_empty_pg_bindir_says_what_is_needed(tmp_path: Path):
    with pytest.raises(EnvironmentProblem) as caught:
        find_binaries(tmp_path)
    assert caught.value.needs == "initdb and postgres"


def test_missing_module_names_the_module(tmp_path: Path):
    try:
        import migdoc_no_such_module  # noqa: F401
    except ModuleNotFoundError as exc:
        missing = exc
    with pytest.raises(EnvironmentProblem) as caught:
        raise_if_missing_module(missing, tmp_path)
    assert caught.value.needs == "migdoc_no_such_module"
    assert "PYTHONPATH" in caught.value.remedy
