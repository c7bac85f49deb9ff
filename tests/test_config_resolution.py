"""Issue 19 item 6: the configuration is resolved as Alembic's command line resolves it;
issue 23: keys migdoc does not read are not interpolated, and a value is masked in errors."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner
from test_project import assert_one_line_exit_2

from migdoc.cli import cli
from migdoc.project.config import find_layout

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"


def run(*args: str):
    return CliRunner().invoke(cli, list(args))


def installed_package(site: Path) -> Path:
    """A package in site-packages that ships its migrations, its alembic.ini naming them
    relative to site-packages (as mlflow's does): ``alembic -c`` works from there."""
    folder = site / "shoplib" / "store" / "migrations"
    shutil.copytree(FIXTURES / "healthy_numbered_merge" / "migrations", folder)
    (folder / "alembic.ini").write_text("[alembic]\nscript_location = shoplib/store/migrations\n")
    return folder / "alembic.ini"


def alembic_heads(config_file: Path) -> list[str]:
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    return sorted(ScriptDirectory.from_config(Config(str(config_file))).get_heads())


def test_relative_script_location_of_a_named_config_is_read_from_the_current_directory(tmp_path, monkeypatch):
    ini = installed_package(tmp_path)
    monkeypatch.chdir(tmp_path)
    result = run("check", "--format", "json", "-c", "shoplib/store/migrations/alembic.ini")
    assert result.exit_code == 0, result.output
    assert result.stderr == ""
    assert alembic_heads(Path("shoplib/store/migrations/alembic.ini")) == ["0006"]
    layout = find_layout(".", config=str(ini.relative_to(tmp_path)))
    assert layout.script_location == ini.parent.resolve()


def test_where_only_the_configs_folder_holds_it_that_folder_is_read_with_a_note(tmp_path, monkeypatch):
    project = tmp_path / "project"
    shutil.copytree(FIXTURES / "healthy_numbered_merge", project)
    (project / "alembic.ini").write_text("[alembic]\nscript_location = migrations\n")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    layout = find_layout(".", config=str(project / "alembic.ini"))
    assert layout.script_location == (project / "migrations").resolve()
    [note] = layout.notes
    assert "script_location 'migrations'" in note and "does not exist" in note
    result = run("check", "-c", str(project / "alembic.ini"))
    assert result.exit_code == 0 and "migdoc: info:" in result.stderr


def test_the_current_directory_wins_over_the_configs_folder_for_a_named_config(tmp_path, monkeypatch):
    project = tmp_path / "project"
    shutil.copytree(FIXTURES / "healthy_numbered_merge", project)
    (project / "alembic.ini").write_text("[alembic]\nscript_location = migrations\n")
    shutil.copytree(FIXTURES / "md003_multiple_heads" / "migrations", tmp_path / "migrations")
    monkeypatch.chdir(tmp_path)
    assert find_layout(".", config="project/alembic.ini").script_location == (tmp_path / "migrations").resolve()
    assert alembic_heads(Path("project/alembic.ini")) == ["0003", "0004"]  # Alembic reads that one too


def test_a_config_found_from_path_is_resolved_from_its_own_folder(tmp_path, monkeypatch):
    project = tmp_path / "project"
    shutil.copytree(FIXTURES / "healthy_numbered_merge", project)
    (project / "alembic.ini").write_text("[alembic]\nscript_location = migrations\n")
    shutil.copytree(FIXTURES / "md003_multiple_heads" / "migrations", tmp_path / "migrations")
    monkeypatch.chdir(tmp_path)
    layout = find_layout("project")
    assert layout.script_location == (project / "migrations").resolve() and layout.notes == ()


def test_a_package_without_the_resource_is_not_accepted(tmp_path, monkeypatch):
    shutil.copytree(FIXTURES / "layout_package_colons", tmp_path / "p")
    ini = tmp_path / "p" / "alembic.ini"
    ini.write_text(ini.read_text().replace("shopapp:db:migrations", "shopapp:db:nowhere"))
    monkeypatch.chdir(tmp_path)
    assert_one_line_exit_2(run("check", "p"), "'shopapp'", "has no folder db/nowhere")


def test_version_location_keeps_the_configured_script_location_and_env(tmp_path, monkeypatch):
    shutil.copytree(FIXTURES / "layout_dialect_subfolders", tmp_path / "p")
    monkeypatch.chdir(tmp_path)
    configured = find_layout("p")
    folder = "p/migrations/versions/postgresql"
    layout = find_layout("p", version_locations=[folder])
    assert layout.version_locations == (Path(folder).resolve(),)
    assert layout.script_location == configured.script_location and (layout.script_location / "env.py").is_file()
    assert layout.config_file == configured.config_file


def test_version_location_without_any_configuration_reads_the_folder_alone(tmp_path, monkeypatch):
    versions = tmp_path / "loose" / "versions"
    shutil.copytree(FIXTURES / "healthy_numbered_merge" / "migrations" / "versions", versions)
    monkeypatch.chdir(tmp_path)
    layout = find_layout(".", version_locations=[str(versions)])
    assert layout.config_file is None and layout.script_location == versions.parent.resolve()


SECRET_URL = "postgresql://deploy:%SuperSecret99@db.internal/prod"


def test_a_percent_in_a_key_migdoc_does_not_read_is_no_error(copy_fixture):
    root = copy_fixture("healthy_numbered_merge")
    ini = root / "alembic.ini"
    ini.write_text(
        "\n".join(
            f"sqlalchemy.url = {SECRET_URL}" if line.startswith("sqlalchemy.url") else line
            for line in ini.read_text().splitlines()
        )
        + "\n"
    )
    for command in ("check", "graph", "fix"):
        result = run(command, "healthy_numbered_merge")
        assert result.exit_code == 0, result.output
        assert "SuperSecret99" not in result.output


def test_a_bad_line_is_reported_with_its_password_masked(copy_fixture):
    root = copy_fixture("healthy_numbered_merge")
    ini = root / "alembic.ini"
    ini.write_text(ini.read_text() + "= postgresql://deploy:SuperSecret99@db.internal/prod\n")  # no key: ParsingError
    result = run("check", "healthy_numbered_merge")
    assert_one_line_exit_2(result, "cannot read config")
    assert "SuperSecret99" not in result.output


def test_a_percent_in_a_key_migdoc_reads_is_one_line(copy_fixture):
    root = copy_fixture("healthy_numbered_merge")
    ini = root / "alembic.ini"
    ini.write_text(ini.read_text().replace("%(here)s/migrations", "%(here)s/migrations%oops"))
    assert_one_line_exit_2(run("check", "healthy_numbered_merge"), "cannot read script_location")


@pytest.mark.postgres
def test_dryrun_with_version_location_runs_the_configured_env_py(copy_fixture):
    # versions moved out of the script folder: env.py stays where script_location says
    root = copy_fixture("dryrun_clean")
    (root / "migrations" / "other").mkdir()
    (root / "migrations" / "versions").rename(root / "migrations" / "other" / "versions")
    result = CliRunner().invoke(
        cli,
        ["dryrun", "dryrun_clean", "--version-location", "dryrun_clean/migrations/other/versions", "--format", "json"],
        env={"MIGDOC_DRYRUN_SERVER": ""},
        catch_exceptions=False,
    )
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["ok"]


def test_a_packaged_applications_script_location_is_found_from_the_folder_above(tmp_path, monkeypatch, capsys):
    """mlflow's ini, inside its package, says `script_location = mlflow/store/db_migrations`:
    relative to site-packages, where the application runs Alembic. From any other folder
    neither the current directory nor the ini's folder holds it: the folder above that does
    is read, and a note says so."""
    from migdoc.project.config import find_layout

    site = tmp_path / "site-packages"
    scripts = site / "shopapp" / "store" / "db_migrations"
    (scripts / "versions").mkdir(parents=True)
    (scripts / "env.py").write_text("")
    (scripts / "alembic.ini").write_text("[alembic]\nscript_location = shopapp/store/db_migrations\n")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    layout = find_layout(scripts)
    assert layout.script_location == scripts.resolve()
    assert layout.version_locations == ((scripts / "versions").resolve(),)
    assert any(
        f"script_location 'shopapp/store/db_migrations' is relative to {site.resolve()}" in n for n in layout.notes
    )
