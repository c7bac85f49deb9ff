"""Bad input is one line on stderr and exit 2, never a traceback."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from migdoc.cli import cli

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"


def run(*args: str):
    return CliRunner().invoke(cli, list(args))


def assert_one_line_exit_2(result, *fragments: str) -> None:
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    for fragment in fragments:
        assert fragment in lines[0]


@pytest.mark.parametrize("command", ["check", "graph"])
def test_missing_directory(command, in_tmp):
    assert_one_line_exit_2(run(command, "nowhere"), "nowhere")


def test_config_file_that_does_not_exist(copy_fixture):
    copy_fixture("healthy_numbered_merge")
    assert_one_line_exit_2(run("check", "healthy_numbered_merge", "-c", "missing.ini"), "missing.ini")


def test_ini_without_alembic_section(copy_fixture):
    root = copy_fixture("healthy_numbered_merge")
    (root / "alembic.ini").write_text("[loggers]\nkeys = root\n")
    assert_one_line_exit_2(run("check", "healthy_numbered_merge"), "alembic.ini")


def test_named_section_that_does_not_exist(copy_fixture):
    copy_fixture("healthy_named_sections")
    assert_one_line_exit_2(run("check", "healthy_named_sections", "-n", "billing"), "[billing]")


def test_version_location_that_does_not_exist(copy_fixture):
    root = copy_fixture("healthy_numbered_merge")
    shutil.rmtree(root / "migrations" / "versions")
    assert_one_line_exit_2(run("check", "healthy_numbered_merge"), "version")
    assert_one_line_exit_2(run("graph", "--version-location", "nowhere/versions"), "nowhere")


def test_malformed_pyproject(copy_fixture):
    root = copy_fixture("healthy_numbered_merge")
    (root / "pyproject.toml").write_text("[tool.migdoc\nselect = [\n")
    assert_one_line_exit_2(run("check", "healthy_numbered_merge"), "pyproject.toml")


def test_bad_path_separator(copy_fixture):
    root = copy_fixture("healthy_numbered_merge")
    ini = root / "alembic.ini"
    ini.write_text(ini.read_text().replace("path_separator = os", "version_locations = a b\npath_separator = comma"))
    assert_one_line_exit_2(run("check", "healthy_numbered_merge"), "path_separator")


def test_unknown_rule_in_select_or_severity(copy_fixture):
    root = copy_fixture("healthy_numbered_merge")
    assert_one_line_exit_2(run("check", "healthy_numbered_merge", "--select", "MD999"), "MD999")
    (root / "pyproject.toml").write_text('[tool.migdoc]\nseverity = { MD004 = "fatal" }\n')
    assert_one_line_exit_2(run("check", "healthy_numbered_merge"), "fatal")


def test_versions_folder_given_directly(copy_fixture):
    root = copy_fixture("healthy_numbered_merge")
    result = run("check", str(root / "migrations" / "versions"))
    assert result.exit_code == 0, result.output
    assert "6 revisions" in result.stdout
