"""benchmarks/compare_alembic.py: migdoc held against Alembic's own ScriptDirectory.

The tool is run as users run it (a script, one process per project), on
copies of fixtures and on tiny projects written here, so it cannot rot
unnoticed while migdoc changes.
"""

from __future__ import annotations

import importlib.util
import json
import shutil
import subprocess
import sys
from pathlib import Path

from gitutil import git

ROOT = Path(__file__).resolve().parent.parent
TOOL = ROOT / "benchmarks" / "compare_alembic.py"
FIXTURES = ROOT / "fixtures"


def load_tool():
    if "compare_alembic" in sys.modules:
        return sys.modules["compare_alembic"]
    spec = importlib.util.spec_from_file_location("compare_alembic", TOOL)
    module = importlib.util.module_from_spec(spec)
    sys.modules["compare_alembic"] = module  # its dataclasses look their module up there
    sys.path.insert(0, str(TOOL.parent))  # the tool imports its sibling stub_imports
    try:
        spec.loader.exec_module(module)
    finally:
        sys.path.remove(str(TOOL.parent))
    return module


def run_tool(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(TOOL), *args], cwd=cwd, capture_output=True, text=True, timeout=300, check=False
    )


def rows_of(*args: str, cwd: Path) -> dict[str, dict]:
    done = run_tool("--json", *args, cwd=cwd)
    assert done.returncode == 0, done.stderr
    return {row["project"]: row for row in json.loads(done.stdout)["projects"]}


def copy_fixtures(tmp_path: Path, *names: str) -> None:
    for name in names:
        shutil.copytree(FIXTURES / name, tmp_path / name)  # Alembic writes __pycache__ next to what it imports


def write_project(root: Path, files: dict[str, str]) -> Path:
    (root / "migrations" / "versions").mkdir(parents=True)
    (root / "alembic.ini").write_text("[alembic]\nscript_location = migrations\n", encoding="utf-8")
    (root / "migrations" / "env.py").write_text("", encoding="utf-8")
    for name, text in files.items():
        (root / "migrations" / "versions" / name).write_text(text, encoding="utf-8")
    return root


def revision_file(rev: str, down: str | None, preamble: str = "") -> str:
    return f"{preamble}\nrevision = {rev!r}\ndown_revision = {down!r}\n\n\ndef upgrade():\n    pass\n"


def test_healthy_duplicate_and_missing_fixtures_agree_with_alembic(tmp_path):
    names = ("healthy_labelled_branches", "md001_duplicate_revision", "md002_missing_revision")
    copy_fixtures(tmp_path, *names)
    rows = rows_of(*names, cwd=tmp_path)

    healthy = rows["healthy_labelled_branches"]
    assert healthy["agree"] is True, healthy["differences"]
    assert healthy["alembic_says"].startswith("healthy")
    assert healthy["alembic"]["mode"] == "config"
    assert set(healthy["alembic"]["revisions"]) == set(healthy["migdoc"]["revisions"]) != set()
    assert set(healthy["alembic"]["heads"]) == set(healthy["migdoc"]["heads"])
    assert healthy["migdoc"]["errors"] == {}

    duplicate = rows["md001_duplicate_revision"]
    assert duplicate["agree"] is True, duplicate["differences"]
    assert duplicate["alembic_says"] == "duplicate revision"
    assert any("present more than once" in w for w in duplicate["alembic"]["warnings"])
    assert duplicate["migdoc"]["errors"].get("MD001", 0) >= 1

    missing = rows["md002_missing_revision"]
    assert missing["alembic"]["failure_kind"] == "KeyError"  # Alembic's bare KeyError for a missing parent
    assert missing["alembic"]["heads"] is None
    assert missing["agree"] is True, missing["differences"]
    assert missing["migdoc"]["errors"].get("MD002", 0) >= 1


def test_markdown_table_has_a_row_per_project_with_the_agreement(tmp_path):
    copy_fixtures(tmp_path, "healthy_labelled_branches", "md002_missing_revision")
    done = run_tool("healthy_labelled_branches", "md002_missing_revision", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    lines = [line for line in done.stdout.splitlines() if line.startswith("| ")]
    assert lines[0].startswith("| project | commit | Alembic read |")
    healthy = next(line for line in lines if line.startswith("| healthy_labelled_branches "))
    missing = next(line for line in lines if line.startswith("| md002_missing_revision "))
    assert "| yes |" in healthy and "| none |" in healthy
    assert "| yes |" in missing and "fails: KeyError" in missing and "MD002 x" in missing


def test_a_path_that_cannot_be_read_is_one_line_and_the_run_goes_on(tmp_path):
    copy_fixtures(tmp_path, "healthy_labelled_branches")
    done = run_tool("--json", "no_such_project", "healthy_labelled_branches", cwd=tmp_path)
    assert done.returncode == 0
    assert done.stderr.strip().splitlines() == [
        "compare_alembic: no_such_project: cannot be read: no_such_project: no such file or folder"
    ]
    rows = {row["project"]: row for row in json.loads(done.stdout)["projects"]}
    assert rows["no_such_project"]["agree"] is None
    assert rows["healthy_labelled_branches"]["agree"] is True


def test_a_folder_alembic_cannot_read_is_one_line_too(tmp_path):
    (tmp_path / "empty").mkdir()
    done = run_tool("--json", "empty", cwd=tmp_path)
    assert done.returncode == 0
    assert done.stderr.strip().splitlines() == [
        "compare_alembic: empty: cannot be read: Alembic finds no alembic.ini, [tool.alembic], env.py or versions/ there"
    ]
    assert json.loads(done.stdout)["projects"][0]["alembic_says"] == "cannot read"


def test_version_location_globs_give_both_tools_every_release_folder(tmp_path):
    root = tmp_path / "svc"
    write_project(root, {"0001_initial.py": revision_file("0001", None)})
    versions = root / "migrations" / "versions"
    for release, branch, rev, down, label in [
        ("r1", "expand", "e1", "0001", "expand"),
        ("r1", "contract", "c1", "0001", "contract"),
        ("r2", "expand", "e2", "e1", None),
        ("r2", "contract", "c2", "c1", None),
    ]:
        (versions / release / branch).mkdir(parents=True, exist_ok=True)
        labels = f"\nbranch_labels = ({label!r},)" if label else ""
        (versions / release / branch / f"{rev}.py").write_text(revision_file(rev, down, labels), encoding="utf-8")
    options = ["--version-location", "svc/migrations/versions"]
    options += ["--version-location", "svc/migrations/versions/*/expand"]
    options += ["--version-location", "svc/migrations/versions/*/contract"]
    row = rows_of(*options, "svc", cwd=tmp_path)["svc"]
    assert len(row["alembic"]["version_locations"]) == 5
    assert sorted(row["alembic"]["revisions"]) == sorted(row["migdoc"]["revisions"]) == ["0001", "c1", "c2", "e1", "e2"]
    assert sorted(row["alembic"]["heads"]) == ["c2", "e2"]
    assert row["alembic_says"] == "healthy (2 labelled heads)"
    assert row["migdoc_read"] == "as given"
    assert row["agree"] is True


def test_a_flask_migrate_folder_is_read_by_alembic_as_flask_migrate_passes_it(tmp_path):
    root = tmp_path / "migrations"
    (root / "versions").mkdir(parents=True)
    (root / "alembic.ini").write_text("[alembic]\n\n[loggers]\nkeys = root\n", encoding="utf-8")
    (root / "env.py").write_text("", encoding="utf-8")
    (root / "versions" / "0001_a.py").write_text(revision_file("0001", None), encoding="utf-8")
    (root / "versions" / "0002_b.py").write_text(revision_file("0002", "0001"), encoding="utf-8")
    row = rows_of("migrations", cwd=tmp_path)["migrations"]
    assert row["alembic"]["mode"] == "Flask-Migrate folder"
    assert row["alembic"]["heads"] == ["0002"]
    # whether migdoc finds this layout itself or only given Alembic's folders, the
    # reading is compared, and the column says which
    assert row["migdoc_read"] in ("as given", "with Alembic's folders")
    assert row["agree"] is True


def test_bad_command_line_exits_2(tmp_path):
    done = run_tool("--table", "missing.txt", cwd=tmp_path)
    assert done.returncode == 2
    assert done.stderr.startswith("compare_alembic: ") and len(done.stderr.strip().splitlines()) == 1


def test_modules_that_are_not_installed_are_stubbed(tmp_path):
    preamble = (
        "import not_installed_pkg_for_migdoc.models as models\n"
        "from not_installed_pkg_for_migdoc.db import Base, STATUSES\n\n\n"
        "class Helper(Base, some_option=True):\n    pass\n\n\n"
        "NAMES = [s.name for s in STATUSES]\nCOLUMN = models.Column(models.String(20), default=Helper())\n"
    )
    write_project(
        tmp_path / "app",
        {"0001_a.py": revision_file("0001", None, preamble), "0002_b.py": revision_file("0002", "0001")},
    )
    row = rows_of("app", cwd=tmp_path)["app"]
    assert row["alembic"]["stubbed"] == ["not_installed_pkg_for_migdoc"]
    assert row["alembic"]["static_files"] == []  # the module code ran under stubs
    assert row["agree"] is True
    assert row["alembic"]["heads"] == ["0002"]


def test_a_file_that_crashes_under_stubs_is_read_statically(tmp_path):
    preamble = 'import os\n\nENVIRONMENT = os.environ["NOT_SET_IN_THIS_TEST_ENV"]\n'
    exits = 'import sys\n\nif not hasattr(sys, "never_there"):\n    sys.exit("this script wants its app")\n'
    write_project(
        tmp_path / "app",
        {
            "0001_a.py": revision_file("0001", None),
            "0002_b.py": revision_file("0002", "0001", preamble),
            "0003_c.py": revision_file("0003", "0002", exits),
        },
    )
    row = rows_of("app", cwd=tmp_path)["app"]
    assert [name.split(" ")[0] for name in row["alembic"]["static_files"]] == ["0002_b.py", "0003_c.py"]
    assert "2 file(s) read statically" in row["alembic"]["mode"]
    assert row["alembic"]["heads"] == ["0003"]
    assert row["agree"] is True


def test_static_mode_builds_alembics_revision_map_from_migdocs_reading(tmp_path):
    copy_fixtures(tmp_path, "healthy_labelled_branches", "md002_missing_revision")
    rows = rows_of("--static", "healthy_labelled_branches", "md002_missing_revision", cwd=tmp_path)
    assert rows["healthy_labelled_branches"]["alembic"]["mode"] == "static"
    assert rows["healthy_labelled_branches"]["agree"] is True
    assert rows["md002_missing_revision"]["alembic"]["failure_kind"] == "KeyError"
    assert rows["md002_missing_revision"]["agree"] is True


def test_a_script_folder_is_compared_in_static_mode_too(tmp_path):
    scripts = tmp_path / "scripts"
    (scripts / "versions").mkdir(parents=True)
    (scripts / "env.py").write_text("from alembic import context\n", encoding="utf-8")
    (scripts / "versions" / "0001_a.py").write_text(revision_file("0001", None), encoding="utf-8")
    (scripts / "versions" / "0002_b.py").write_text(revision_file("0002", "0001"), encoding="utf-8")
    for flags in ([], ["--static"]):
        row = rows_of(*flags, "scripts", cwd=tmp_path)["scripts"]
        assert sorted(row["alembic"]["revisions"]) == ["0001", "0002"], flags
        assert row["alembic"]["heads"] == ["0002"], flags
        assert row["agree"] is True, (flags, row["differences"])


def test_table_of_git_commits_reads_each_commit_as_it_was(tmp_path):
    repo = tmp_path / "repo"
    write_project(repo / "svc", {"0001_a.py": revision_file("0001", None)})
    git(repo, "init", "-q")
    git(repo, "add", ".")
    git(repo, "commit", "-q", "-m", "one head")
    first = git(repo, "rev-parse", "HEAD").strip()
    versions = repo / "svc" / "migrations" / "versions"
    (versions / "0002_b.py").write_text(revision_file("0002", "0001"), encoding="utf-8")
    (versions / "0003_c.py").write_text(revision_file("0003", "0001"), encoding="utf-8")
    git(repo, "add", ".")
    git(repo, "commit", "-q", "-m", "two heads")
    second = git(repo, "rev-parse", "HEAD").strip()
    table = tmp_path / "projects.txt"
    table.write_text(
        f"# two commits of one project\n{repo}/.git@{first[:10]}:svc --label 'svc one'\n"
        f"{repo}/.git@{second[:10]}:svc --label 'svc two'  # the broken one\n",
        encoding="utf-8",
    )
    rows = rows_of("--table", str(table), cwd=tmp_path)
    assert rows["svc one"]["commit"] == git(repo, "rev-parse", "--short", first).strip()
    assert rows["svc one"]["alembic"]["revisions"] == ["0001"]
    assert rows["svc two"]["alembic_says"] == "2 heads"
    assert rows["svc two"]["agree"] is True
    assert rows["svc two"]["migdoc"]["errors"] == {"MD003": 1}  # one finding names both heads


def test_a_table_names_repositories_read_from_a_mirrors_folder(tmp_path):
    repo = tmp_path / "work"
    write_project(repo / "svc", {"0001_a.py": revision_file("0001", None)})
    git(repo, "init", "-q")
    git(repo, "add", ".")
    git(repo, "commit", "-q", "-m", "one head")
    sha = git(repo, "rev-parse", "HEAD").strip()
    mirrors = tmp_path / "mirrors"
    git(tmp_path, "clone", "-q", "--mirror", str(repo), str(mirrors / "acme+shop" / "repo"))
    table = tmp_path / "projects.txt"
    table.write_text(f"acme/shop@{sha[:10]}:svc --label shop\n", encoding="utf-8")
    rows = rows_of("--mirrors", str(mirrors), "--table", str(table), cwd=tmp_path)
    assert rows["shop"]["alembic"]["revisions"] == ["0001"] and rows["shop"]["agree"] is True
    # without the folder, or without that repository in it: one line, a row saying so
    for flags in ([], ["--mirrors", str(tmp_path / "empty")]):
        done = run_tool(*flags, "--table", str(table), cwd=tmp_path)
        assert done.returncode == 0 and "shop: cannot be read: acme/shop: " in done.stderr, done.stderr


def test_compare_lists_every_difference():
    tool = load_tool()
    alembic = {"failure": None, "failure_kind": None, "revisions": ["a", "b", "c"], "heads": ["c"], "bases": ["a"]}
    migdoc = {"revisions": ["a", "b"], "heads": ["b"], "bases": ["a"], "errors": {}}
    result = tool.compare(alembic, migdoc)
    assert result["agree"] is False
    assert result["differences"] == [
        "revisions: only Alembic 1 (c); only migdoc none",
        "heads: only Alembic 1 (c); only migdoc 1 (b)",
    ]


def test_a_failure_of_alembic_agrees_only_with_the_matching_migdoc_error():
    tool = load_tool()
    alembic = {"failure": "CycleDetected: ...", "failure_kind": "CycleDetected", "revisions": ["a", "b"]}
    assert tool.compare(alembic, {"revisions": ["b", "a"], "errors": {"MD005": 1}})["agree"] is True
    disagreement = tool.compare(alembic, {"revisions": ["a", "b"], "errors": {"MD002": 1}})
    assert disagreement["agree"] is False
    assert disagreement["differences"] == ["Alembic fails (CycleDetected: ...); migdoc: MD002"]
    # the map is built after every file loaded: the revisions must still match
    unread = tool.compare(alembic, {"revisions": ["a"], "errors": {"MD005": 1}})
    assert unread["differences"] == ["revisions: only Alembic 1 (b); only migdoc none"]
    # a file that stops the load leaves Alembic's list short: not compared
    stopped = {"failure": "SyntaxError: ...", "failure_kind": "module-error", "revisions": ["a"]}
    assert tool.compare(stopped, {"revisions": ["a", "b", "c"], "errors": {"MD010": 1}})["agree"] is True


def test_an_error_that_claims_a_failure_alembic_does_not_have_is_a_difference():
    tool = load_tool()
    same = {"revisions": ["a", "b"], "heads": ["b"], "bases": ["a"]}
    alembic = {"failure": None, "failure_kind": None, "warnings": [], **same}
    result = tool.compare(alembic, {**same, "errors": {"MD005": 1, "MD003": 2}})
    assert result["differences"] == ["migdoc reports MD005 x1, but Alembic builds its revision map"]
    duplicate = {**alembic, "warnings": ["Revision b is present more than once"]}
    assert tool.compare(duplicate, {**same, "errors": {"MD001": 1}})["agree"] is True
    assert tool.compare(duplicate, {**same, "errors": {}})["differences"] == [
        "Alembic warns of a duplicate revision; migdoc: no MD001"
    ]
    assert tool.compare(alembic, {**same, "errors": {"MD001": 1}})["differences"] == [
        "Alembic sees no duplicate revision; migdoc: MD001"
    ]


def test_heads_with_their_own_labels_are_healthy_for_alembic_unlabelled_ones_are_not():
    tool = load_tool()
    base = {"failure": None, "warnings": [], "heads": ["e", "c"]}
    assert tool.alembic_verdict({**base, "head_labels": [["expand"], ["contract"]]}) == "healthy (2 labelled heads)"
    assert tool.alembic_verdict({**base, "head_labels": [["expand"], []]}) == "2 heads"
    assert tool.alembic_verdict({**base, "head_labels": [["x"], ["x"]]}) == "2 heads"
