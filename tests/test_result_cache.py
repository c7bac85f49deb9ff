"""The result cache of `check`: an unchanged tree is answered from it, byte for byte, without
importing the graph, the rules, Alembic, SQLAlchemy or a driver; anything the answer depends
on that changes makes a miss; a damaged, foreign or unwritable cache never fails a command."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from migdoc.cache import files as cache_files
from migdoc.cache import results as result_cache
from migdoc.cli import cli
from migdoc.options import Answer, CheckRequest, DryrunOptions
from migdoc.reports.check import check_paths
from tests.conftest import FIXTURES, REPO

HEAVY = (
    "networkx",
    "alembic",
    "sqlalchemy",
    "psycopg",
    "psycopg2",
    "migdoc.rules",
    "migdoc.chain.graph",
    "migdoc.chain.replay",
)


@pytest.fixture
def cache_dir(tmp_path, monkeypatch):
    folder = tmp_path / "cache"
    monkeypatch.setenv("MIGDOC_CACHE_DIR", str(folder))
    monkeypatch.delenv("MIGDOC_NO_CACHE", raising=False)
    return folder


@pytest.fixture
def project(tmp_path, monkeypatch, cache_dir):
    """A copy of a fixture with two heads (an error: exit 1), the cwd beside it."""
    target = tmp_path / "project"
    shutil.copytree(FIXTURES / "md003_multiple_heads", target)
    monkeypatch.chdir(tmp_path)
    return target


def check(*paths: str, **options) -> object:
    from migdoc.output.text import plain

    return check_paths(CheckRequest(paths=paths or ("project",), **options), lambda: plain)


def versions(project: Path) -> Path:
    return project / "migrations" / "versions"


def imported_modules(stderr: str) -> set[str]:
    """The modules `python -X importtime` says were imported."""
    return {line.rsplit("|", 1)[1].strip() for line in stderr.splitlines() if line.startswith("import time:")}


def run_check(project: Path, cache: Path, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "MIGDOC_CACHE_DIR": str(cache), "PYTHONPATH": str(REPO)}
    env.pop("MIGDOC_NO_CACHE", None)
    return subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "migdoc", "check", *args, project.name],
        cwd=project.parent,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.mark.parametrize("fixture", ["md003_multiple_heads", "layout_flask_migrate"])
def test_a_hit_imports_nothing_heavy_and_answers_byte_for_byte(tmp_path, fixture):
    project = tmp_path / fixture
    shutil.copytree(FIXTURES / fixture, project)
    cache = tmp_path / "cache"
    miss = run_check(project, cache, "--format", "json")
    hit = run_check(project, cache, "--format", "json")
    assert miss.returncode in (0, 1) and hit.returncode == miss.returncode
    assert hit.stdout == miss.stdout and json.loads(hit.stdout)["summary"]["files"] >= 3
    # the layout note (Flask-Migrate's) on stderr both times
    notes = [[line for line in run.stderr.splitlines() if line.startswith("migdoc:")] for run in (miss, hit)]
    assert notes[0] == notes[1]
    assert bool(notes[0]) == (fixture == "layout_flask_migrate")
    loaded_by_miss, loaded_by_hit = imported_modules(miss.stderr), imported_modules(hit.stderr)
    assert {"networkx", "migdoc.rules", "migdoc.chain.graph"} <= loaded_by_miss  # the probe sees imports
    assert "migdoc.cache.results" in loaded_by_hit
    heavy = sorted(m for m in loaded_by_hit if m.split(".")[0] in HEAVY or m.startswith(HEAVY))
    assert heavy == []


def test_an_unchanged_tree_is_a_hit_with_the_same_answer(project):
    first, second = check(), check()
    assert not first.is_cached and second.is_cached
    assert (second.report, second.code) == (first.report, first.code) and first.code == 1


def test_editing_a_file_is_a_miss(project):
    before = check()
    path = versions(project) / "0004_add_customer_phone.py"
    path.write_text(path.read_text().replace("0002", "0003"))  # its parent: now one head
    after = check()
    assert not after.is_cached and after.code == 0 and after.report != before.report
    assert check().is_cached


def test_adding_and_removing_a_file_is_a_miss(project):
    check()
    extra = versions(project) / "0005_stray.py"
    extra.write_text("print('no revision here')\n")
    added = check()
    assert not added.is_cached and "0005_stray.py" in added.report
    extra.unlink()
    removed = check()
    assert "0005_stray.py" not in removed.report
    # the first answer is still the right one for the first tree
    assert removed.is_cached


def test_a_file_added_to_the_archive_is_a_miss(project):
    check()
    archive = project / "migrations" / "archive"
    archive.mkdir()
    (archive / "0009_old.py").write_text("revision = '0009'\ndown_revision = None\n")
    assert not check().is_cached


def test_an_env_py_change_is_a_miss(project):
    """MD029 reads env.py: a lock_timeout added there changes the answer."""
    before = check(select=("MD029",))
    assert "MD029" in before.report and check(select=("MD029",)).is_cached
    env = project / "migrations" / "env.py"
    env.write_text(env.read_text() + '\nSETTINGS = "SET lock_timeout = 2000"\n')
    after = check(select=("MD029",))
    assert not after.is_cached and "MD029" not in after.report


def test_a_configuration_change_is_a_miss(project):
    before = check()
    (project / "pyproject.toml").write_text('[tool.migdoc]\nignore = ["MD003"]\n')
    after = check()
    assert not after.is_cached and "MD003" in before.report and "MD003" not in after.report
    ini = project / "alembic.ini"
    ini.write_text(ini.read_text() + "\n# a comment\n")
    assert not check().is_cached


@pytest.mark.parametrize(
    "options",
    [
        {"fmt": "json"},
        {"fmt": "concise"},
        {"select": ("MD006",)},
        {"ignore": ("MD003",)},
        {"is_statistics": True},
        {"is_quiet": True},
        {"is_exit_zero": True},
        {"is_colour": True},
    ],
)
def test_an_option_that_changes_the_answer_is_a_miss(project, options):
    check()
    changed = check(**options)
    assert not changed.is_cached
    assert check(**options).is_cached


def test_the_current_directory_is_part_of_the_key(project, monkeypatch):
    check()
    monkeypatch.chdir(project)
    moved = check(".")
    assert not moved.is_cached and "migrations/versions/" in moved.report


def test_migdocs_own_version_and_source_are_part_of_the_fingerprint(tmp_path, monkeypatch):
    package = tmp_path / "pkg"
    package.mkdir()
    (package / "rule.py").write_text("A = 1\n")
    first = cache_files.fingerprint_of(package, "1.0")
    assert cache_files.fingerprint_of(package, "1.0") == first
    assert cache_files.fingerprint_of(package, "1.1") != first
    (package / "rule.py").write_text("A = 2\n")
    assert cache_files.fingerprint_of(package, "1.0") != first
    (package / "new.py").write_text("")
    (package / "rule.py").write_text("A = 1\n")
    assert cache_files.fingerprint_of(package, "1.0") != first


def test_another_fingerprint_is_a_miss(project, monkeypatch):
    check()
    monkeypatch.setattr(cache_files, "package_fingerprint", lambda: "another migdoc")
    assert not check().is_cached


@pytest.mark.parametrize("damage", ["truncate", "flip", "empty", "foreign", "symlink", "fifo"])
def test_a_damaged_entry_is_ignored_and_written_again(project, cache_dir, damage):
    first = check()
    (entry,) = cache_dir.glob("results-*.json")
    data = entry.read_bytes()
    if damage == "truncate":
        entry.write_bytes(data[: len(data) // 2])
    elif damage == "flip":
        entry.write_bytes(data.replace(b'"code": 1', b'"code": 0'))
    elif damage == "empty":
        entry.write_bytes(b"")
    elif damage == "symlink":  # to a copy of itself: followed, it would be a hit
        copy = entry.with_name("elsewhere")
        copy.write_bytes(data)
        entry.unlink()
        entry.symlink_to(copy)
    elif damage == "fifo":  # opened without blocking, never read
        entry.unlink()
        os.mkfifo(entry)
    else:
        entry.write_bytes(b'{"format": "migdoc-result-cache-1", "key": "x"}\n{"report": "all good", "code": 0}\n')
    again = check()
    assert not again.is_cached and (again.report, again.code) == (first.report, first.code)
    assert entry.is_file() and not entry.is_symlink() and entry.read_bytes() == data  # written again
    assert check().is_cached


def test_an_unwritable_cache_folder_does_not_fail_the_command(project, tmp_path, monkeypatch):
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("")
    monkeypatch.setenv("MIGDOC_CACHE_DIR", str(blocker / "cache"))  # below a file: cannot be made
    result = CliRunner().invoke(cli, ["check", "project"])
    assert result.exit_code == 1 and "MD003" in result.output
    assert CliRunner().invoke(cli, ["check", "project"]).output == result.output


def test_no_cache_switches_it_off(project, cache_dir, monkeypatch):
    monkeypatch.setenv("MIGDOC_NO_CACHE", "1")
    check()
    assert not check().is_cached and not cache_dir.exists()


def test_the_cache_is_bounded(project, cache_dir, monkeypatch):
    monkeypatch.setattr(result_cache, "MAX_ENTRIES", 3)
    codes = ["MD001", "MD002", "MD003", "MD004", "MD005"]
    for code in codes:
        check(select=(code,))
    assert len(list(cache_dir.glob("results-*.json"))) == 3
    assert check(select=("MD005",)).is_cached  # the newest are kept
    assert not check(select=("MD001",)).is_cached


def test_the_cache_is_bounded_in_bytes(project, cache_dir, monkeypatch):
    for code in ["MD001", "MD002"]:
        check(fmt="json", select=(code,))
    sizes = sorted(p.stat().st_size for p in cache_dir.glob("results-*.json"))
    monkeypatch.setattr(result_cache, "MAX_TOTAL_BYTES", sizes[0])  # room for one, the newest
    check(fmt="json", select=("MD003",))
    assert len(list(cache_dir.glob("results-*.json"))) == 1
    assert check(fmt="json", select=("MD003",)).is_cached


def test_a_file_changed_while_checked_is_not_stored(project, cache_dir):
    lookup = result_cache.open_for(CheckRequest(paths=("project",)))
    assert lookup is not None and lookup.answer is None

    class Project:
        files = [type("Record", (), {"sha256": "0" * 64})()]

    lookup.store(Answer("report", 0), [Project()])
    assert not lookup.path.exists()


def test_database_git_and_dryrun_answers_are_never_cached():
    assert CheckRequest().is_cacheable
    assert not CheckRequest(database_url="postgresql://x/y").is_cacheable
    assert not CheckRequest(base_ref="origin/main").is_cacheable
    assert not CheckRequest(dryrun=DryrunOptions()).is_cacheable


def test_output_file_is_written_on_a_hit(project):
    runner = CliRunner()
    assert runner.invoke(cli, ["check", "project", "-o", "report.txt"]).exit_code == 1
    written = Path("report.txt").read_text()
    Path("report.txt").unlink()
    assert runner.invoke(cli, ["check", "project", "-o", "report.txt"]).exit_code == 1
    assert Path("report.txt").read_text() == written and "MD003" in written


def test_check_of_two_paths_is_one_library_call(tmp_path, monkeypatch, cache_dir):
    """The CLI's answer is the library's: two PATHs, json, one call."""
    for name in ("md003_multiple_heads", "healthy_pyproject_only"):
        shutil.copytree(FIXTURES / name, tmp_path / name)
    monkeypatch.chdir(tmp_path)
    answer = check("md003_multiple_heads", "healthy_pyproject_only", fmt="json")
    report = json.loads(answer.report)
    assert answer.code == 1 and [entry["path"] for entry in report] == [
        "md003_multiple_heads",
        "healthy_pyproject_only",
    ]
    result = CliRunner().invoke(cli, ["check", "--format", "json", "md003_multiple_heads", "healthy_pyproject_only"])
    assert (result.output, result.exit_code) == (answer.report, answer.code)


def test_the_command_line_imports_nothing_heavy_until_a_command_needs_it():
    code = "import sys, migdoc.cli; print(' '.join(sorted(sys.modules)))"
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert [m for m in loaded if m.split(".")[0] in HEAVY or m.startswith(HEAVY)] == []


def test_the_command_lines_step_timeout_default_is_the_dry_runs():
    from migdoc import cli as command_line
    from migdoc.dryrun.results import DEFAULT_STEP_TIMEOUT

    assert command_line.DEFAULT_STEP_TIMEOUT == DEFAULT_STEP_TIMEOUT


def test_networkx_is_imported_only_when_a_graph_is_built():
    code = (
        "import sys, migdoc.rules, migdoc.chain.graph\n"
        "print('networkx' in sys.modules)\n"
        "migdoc.chain.graph.build_graph([])\n"
        "print('networkx' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert out == ["False", "True"]
