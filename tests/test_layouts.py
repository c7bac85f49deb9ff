"""Real layouts, found as Alembic (and the people who run it) find them.

Each shape has its fixture under fixtures/ (golden outputs in test_fixtures,
Alembic's own view in test_alembic_parity); these tests pin what PATH may be
and what migdoc says about how it read the project.
"""

from __future__ import annotations

import json
import shutil

import pytest
from click.testing import CliRunner
from test_project import assert_one_line_exit_2

from migdoc.cli import cli
from migdoc.project.config import find_layout


def run(*args: str):
    return CliRunner().invoke(cli, list(args))


def check_json(*args: str) -> dict:
    result = run("check", "--format", "json", *args)
    assert result.exit_code in (0, 1), result.output
    return json.loads(result.stdout)


def test_flask_migrate_folder_is_its_own_script_location(copy_fixture):
    copy_fixture("layout_flask_migrate")
    result = run("check", "layout_flask_migrate", "--format", "json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["summary"]["revisions"] == 3
    # one info line on stderr says where the script location came from; stdout stays JSON
    (note,) = result.stderr.splitlines()
    assert note.startswith("migdoc: info: layout_flask_migrate/alembic.ini sets no script_location")


def test_ini_without_script_location_and_no_script_folder_is_an_error(copy_fixture):
    root = copy_fixture("layout_flask_migrate")
    (root / "env.py").unlink()
    assert_one_line_exit_2(run("check", "layout_flask_migrate"), "script_location", "env.py")


def test_script_folder_given_as_path(copy_fixture):
    root = copy_fixture("layout_script_folder")
    layout = find_layout("layout_script_folder")
    assert layout.config_file is None
    assert layout.script_location == root.resolve()
    assert layout.version_locations == (root.resolve() / "versions",)
    assert check_json("layout_script_folder")["summary"]["revisions"] == 2


def test_package_resource_with_several_colons(copy_fixture):
    root = copy_fixture("layout_package_colons")
    layout = find_layout("layout_package_colons")
    expected = root.resolve() / "src" / "shopapp" / "db" / "migrations"
    assert layout.script_location == expected
    assert layout.version_locations == (expected / "versions",)


def test_package_resource_not_found_names_the_package(copy_fixture):
    root = copy_fixture("layout_package_colons")
    shutil.rmtree(root / "src")
    assert_one_line_exit_2(run("check", "layout_package_colons"), "'shopapp'", "--version-location")


def test_revision_files_in_subfolders_are_not_read_but_counted(copy_fixture):
    root = copy_fixture("layout_unread_subfolders")
    result = run("check", "layout_unread_subfolders", "--format", "json")
    assert json.loads(result.stdout)["summary"]["revisions"] == 1  # as Alembic: the top folder only
    assert "2 more revision files lie in subfolders" in result.stderr
    assert "recursive_version_locations = true" in result.stderr and "--version-location" in result.stderr
    ini = root / "alembic.ini"
    ini.write_text(ini.read_text() + "recursive_version_locations = true\n")
    result = run("check", "layout_unread_subfolders", "--format", "json")
    assert json.loads(result.stdout)["summary"]["revisions"] == 3
    assert result.stderr == ""


def test_zero_revisions_is_exit_2_with_what_was_looked_at(copy_fixture):
    copy_fixture("layout_dialect_subfolders")
    assert_one_line_exit_2(
        run("check", "layout_dialect_subfolders"),
        "read 0 revisions in layout_dialect_subfolders/migrations/versions",
        "4 more revision files lie in subfolders",
        "--version-location",
    )
    folder = "layout_dialect_subfolders/migrations/versions/sqlite"
    assert check_json("layout_dialect_subfolders", "--version-location", folder)["summary"]["revisions"] == 2


def test_empty_versions_folder_is_exit_2(copy_fixture):
    root = copy_fixture("layout_script_folder")
    for path in (root / "versions").iterdir():
        path.unlink()
    for command in ("check", "graph"):
        assert_one_line_exit_2(run(command, "layout_script_folder"), "read 0 revisions", "versions")


def test_path_below_the_project_finds_the_configuration_above(copy_fixture):
    root = copy_fixture("healthy_dated_file_template")
    (root / ".git").mkdir()
    (root / "docs").mkdir()
    expected = check_json("healthy_dated_file_template")
    for below in ("migrations", "migrations/versions", "docs"):
        found = check_json(f"healthy_dated_file_template/{below}")
        assert found == expected, below
    # the configuration above was used, not the folder alone: its file_template applies
    assert find_layout("healthy_dated_file_template/migrations/versions").has_explicit_file_template


def test_search_upward_stops_at_the_repository_root(copy_fixture, tmp_path):
    copy_fixture("healthy_numbered_merge")
    repo = tmp_path / "healthy_numbered_merge" / "service"
    (repo / ".git").mkdir(parents=True)
    (repo / "src").mkdir()
    # the alembic.ini outside the repository is not this project's
    assert_one_line_exit_2(run("check", "healthy_numbered_merge/service/src"), "no alembic.ini")


def test_script_folder_of_a_second_environment_is_read_alone(copy_fixture, tmp_path):
    root = copy_fixture("healthy_numbered_merge")
    (root / ".git").mkdir()
    shutil.copytree(tmp_path / "healthy_numbered_merge" / "migrations", root / "plugins" / "audit")
    for path in (root / "plugins" / "audit" / "versions").iterdir():
        if not path.name.startswith(("0001", "0002")):
            path.unlink()
    layout = find_layout("healthy_numbered_merge/plugins/audit")
    assert layout.script_location == (root / "plugins" / "audit").resolve()
    assert check_json("healthy_numbered_merge/plugins/audit")["summary"]["revisions"] == 2


def test_ini_with_several_sections_and_none_chosen_lists_them(copy_fixture):
    copy_fixture("healthy_named_sections")
    assert_one_line_exit_2(run("check", "healthy_named_sections"), "[shop]", "-n")


def test_unknown_key_in_tool_migdoc_is_an_error_with_a_suggestion(copy_fixture):
    root = copy_fixture("healthy_numbered_merge")
    (root / "pyproject.toml").write_text('[tool.migdoc]\nselcet = ["MD001"]\n')
    assert_one_line_exit_2(run("check", "healthy_numbered_merge"), "'selcet'", "did you mean 'select'")
    (root / "pyproject.toml").write_text('[tool.migdoc]\nbaseline = "x"\n')
    assert_one_line_exit_2(run("check", "healthy_numbered_merge"), "'baseline'", "select, ignore, severity")


def test_helper_modules_in_subfolders_are_not_counted_as_revision_files(copy_fixture):
    root = copy_fixture("layout_unread_subfolders")
    helpers = root / "migrations" / "versions" / "utils"
    helpers.mkdir()
    (helpers / "sql.py").write_text("def quote(name):\n    return name\n")
    result = run("check", "layout_unread_subfolders")
    assert "2 more revision files lie in subfolders" in result.stderr
    assert "utils" not in result.stderr


@pytest.mark.postgres
def test_dryrun_runs_a_flask_migrate_folder(copy_fixture, pg_binaries):
    copy_fixture("layout_flask_migrate")
    result = CliRunner().invoke(
        cli, ["dryrun", "layout_flask_migrate", "--format", "json"], env={"MIGDOC_DATABASE_URL": ""}
    )
    assert result.exit_code == 0, result.output
    payload = json.loads(result.stdout)
    assert payload["ok"] and len({s["revision"] for s in payload["steps"]}) == 3
