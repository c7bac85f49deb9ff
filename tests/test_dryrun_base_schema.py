"""A chain that starts from a schema the application builds in code (mlflow's and
jupyterhub's shape): fails without its base, passes with --setup or --base-sql."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from migdoc.cli import cli

pytestmark = pytest.mark.postgres


def _dryrun(*args: str):
    return CliRunner().invoke(cli, ["dryrun", *args], env={"MIGDOC_DRYRUN_SERVER": ""}, catch_exceptions=False)


def _one_line(result) -> str:
    assert result.exit_code == 2, result.output
    [line] = result.output.strip().splitlines()
    assert line.startswith("migdoc: error: ")
    return line


def test_without_its_base_the_first_revision_fails(copy_fixture):
    copy_fixture("dryrun_base_schema")
    result = _dryrun("dryrun_base_schema", "--format", "json")
    assert result.exit_code == 1, result.output
    payload = json.loads(result.output)
    assert payload["failure"]["revision"] == "b0b000000001"
    assert payload["failure"]["error"] == 'relation "experiments" does not exist'


@pytest.mark.parametrize(
    "options",
    [
        ["--setup", "tracker.models:create_schema"],
        ["--setup", "tracker.models:metadata.create_all"],
        ["--base-sql", "dryrun_base_schema/base.sql"],
    ],
    ids=["setup_function", "setup_dotted_attribute", "base_sql"],
)
def test_with_its_base_the_chain_passes(copy_fixture, options):
    copy_fixture("dryrun_base_schema")
    result = _dryrun("dryrun_base_schema", *options, "--format", "json")
    assert result.exit_code == 0, result.output
    payload = json.loads(result.output)
    assert payload["ok"] and {s["revision"] for s in payload["steps"]} == {"b0b000000001", "b0b000000002"}


def test_setup_stamp_starts_the_chain_above_the_stamp(copy_fixture):
    copy_fixture("dryrun_base_schema")
    result = _dryrun(
        "dryrun_base_schema",
        "--setup",
        "tracker.models:create_schema",
        "--setup-stamp",
        "b0b000000001",
        "--format",
        "json",
    )
    assert result.exit_code == 0, result.output
    payload = json.loads(result.output)
    assert {s["revision"] for s in payload["steps"]} == {"b0b000000002"}
    assert payload["notes"] == [
        "the chain starts above b0b000000001, where the base schema is stamped (1 revision below it not run)"
    ]


def test_a_failure_goes_on_from_the_base_again(copy_fixture):
    """The database rebuilt after a failure is rebuilt from the base, not from nothing."""
    root = copy_fixture("dryrun_base_schema")
    first = root / "migrations" / "versions" / "0001_add_experiment_status.py"
    first.write_text(first.read_text().replace('op.drop_column("experiments", "status")', "pass"))
    result = _dryrun("dryrun_base_schema", "--setup", "tracker.models:create_schema", "--format", "json")
    assert result.exit_code == 1, result.output
    payload = json.loads(result.output)
    assert [(f["revision"], f["phase"]) for f in payload["failures"]] == [("b0b000000001", "consistency")]
    assert [s["ok"] for s in payload["steps"] if s["revision"] == "b0b000000002"] == [True, True, True, True]


def test_bad_base_options_are_one_line_each(copy_fixture):
    copy_fixture("dryrun_base_schema")
    assert "give MODULE:CALLABLE" in _one_line(_dryrun("dryrun_base_schema", "--setup", "tracker"))
    assert "cannot find it" in _one_line(_dryrun("dryrun_base_schema", "--setup", "tracker.nope:create"))
    assert "cannot read it" in _one_line(_dryrun("dryrun_base_schema", "--base-sql", "missing.sql"))
    line = _one_line(_dryrun("dryrun_base_schema", "--setup", "tracker.models:create_schema", "--setup-stamp", "zz"))
    assert line.startswith("migdoc: error: --setup-stamp zz:")
    Path("broken.sql").write_text("CREATE TABLE (;\n")
    assert "--base-sql broken.sql failed" in _one_line(_dryrun("dryrun_base_schema", "--base-sql", "broken.sql"))
