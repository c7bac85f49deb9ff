"""Every failure of a run, not only the first: after a failed downgrade or a downgrade that
leaves something behind the run goes on (on a rebuilt database); a failed upgrade stops its
line, not the branches that do not need it. And the ways project code can end a step
(sys.exit, a bare BaseException, a KeyboardInterrupt of its own) reported as failures."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from migdoc.cli import cli

pytestmark = pytest.mark.postgres

ENV = {"MIGDOC_DRYRUN_SERVER": ""}


def _dryrun(*args: str):
    return CliRunner().invoke(cli, ["dryrun", *args], env=ENV, catch_exceptions=False)


def test_every_failure_is_reported_and_independent_branches_run(copy_fixture):
    copy_fixture("dryrun_many_failures")
    result = _dryrun("dryrun_many_failures", "--format", "json")
    assert result.exit_code == 1, result.output
    payload = json.loads(result.output)
    found = [(f["revision"], f["phase"]) for f in payload["failures"]]
    assert found == [("f00000000002", "downgrade"), ("f00000000003", "consistency"), ("f00000000004", "upgrade")]
    assert payload["failure"] == payload["failures"][0]
    assert payload["failures"][1]["schema_diff"][0]["name"] == "public.ix_customers_name"
    assert payload["not_run"] == ["f00000000005"]  # needs the revision whose upgrade failed
    # the branch beside the failed upgrade runs its whole stairway, on a database rebuilt clean
    notes = [(s["phase"], s["ok"]) for s in payload["steps"] if s["revision"] == "f00000000006"]
    assert notes == [("upgrade", True), ("downgrade", True), ("consistency", True), ("re-upgrade", True)]

    text = _dryrun("dryrun_many_failures")
    assert text.exit_code == 1
    assert text.output.count("dry-run failed: phase") == 3
    assert (
        "3 failures; the run went on" in text.output and "not run (above a failed upgrade): f00000000005" in text.output
    )


def test_fail_fast_stops_at_the_first(copy_fixture):
    copy_fixture("dryrun_many_failures")
    result = _dryrun("dryrun_many_failures", "--fail-fast", "--format", "json")
    assert result.exit_code == 1, result.output
    payload = json.loads(result.output)
    assert [(f["revision"], f["phase"]) for f in payload["failures"]] == [("f00000000002", "downgrade")]
    assert {s["revision"] for s in payload["steps"]} == {"f00000000001", "f00000000002"}


def test_no_downgrade_goes_on_beside_a_failed_upgrade(copy_fixture):
    copy_fixture("dryrun_many_failures")
    result = _dryrun("dryrun_many_failures", "--no-downgrade", "--format", "json")
    assert result.exit_code == 1, result.output
    payload = json.loads(result.output)
    assert [(f["revision"], f["phase"]) for f in payload["failures"]] == [("f00000000004", "upgrade")]
    assert payload["not_run"] == ["f00000000005"]
    assert ("f00000000006", "upgrade", True) in [(s["revision"], s["phase"], s["ok"]) for s in payload["steps"]]


@pytest.mark.parametrize(
    ("body", "said"),
    [
        ("    import sys\n\n    sys.exit(0)\n", "the migration exited (SystemExit(0)"),
        ("    raise SystemExit('done')\n", "the migration exited (SystemExit('done')"),
        ("    raise GeneratorExit()\n", "GeneratorExit (a BaseException, not an Exception)"),
        ("    raise BaseException('odd')\n", "BaseException (a BaseException, not an Exception): odd"),
        ("    raise KeyboardInterrupt()\n", "KeyboardInterrupt raised by the project's code itself (no signal"),
    ],
    ids=["sys_exit_0", "system_exit_text", "generator_exit", "base_exception", "keyboard_interrupt"],
)
def test_a_migration_that_exits_or_raises_a_base_exception_is_a_failed_step(copy_fixture, body, said):
    root = copy_fixture("dryrun_clean")
    version = root / "migrations" / "versions" / "0002_create_orders.py"
    version.write_text(version.read_text().replace("def upgrade():\n", "def upgrade():\n" + body, 1))
    result = _dryrun("dryrun_clean", "--format", "json")
    assert result.exit_code == 1, result.output
    failure = json.loads(result.output)["failure"]
    assert (failure["revision"], failure["phase"]) == ("aaaa00000002", "upgrade")
    assert failure["error"].startswith(said), failure["error"]


def test_check_dryrun_sarif_keeps_the_findings_when_a_migration_exits(copy_fixture, tmp_path):
    root = copy_fixture("dryrun_clean")
    version = root / "migrations" / "versions" / "0002_create_orders.py"
    version.write_text(version.read_text().replace("def upgrade():\n", "def upgrade():\n    raise SystemExit(0)\n", 1))
    out = tmp_path / "report.sarif"
    result = CliRunner().invoke(
        cli, ["check", "--dryrun", "dryrun_clean", "--format", "sarif", "-o", str(out)], env=ENV
    )
    assert result.exit_code == 1, result.output
    sarif = json.loads(out.read_text())
    [md021] = [r for r in sarif["runs"][0]["results"] if r["ruleId"] == "MD021"]
    assert "the migration exited" in md021["message"]["text"]


def test_to_an_empty_revision_is_a_usage_error(copy_fixture):
    copy_fixture("dryrun_clean")
    result = _dryrun("dryrun_clean", "--to", "")
    assert result.exit_code == 2, result.output
    [line] = result.output.strip().splitlines()
    assert line.startswith("migdoc: error: --to") and "AssertionError" not in line


def test_check_dryrun_reports_one_md021_per_failure(copy_fixture):
    copy_fixture("dryrun_many_failures")
    result = CliRunner().invoke(cli, ["check", "--dryrun", "dryrun_many_failures", "--format", "json"], env=ENV)
    assert result.exit_code == 1, result.output
    payload = json.loads(result.output)
    md021 = [(d["revision"], d["message"].split(":")[0]) for d in payload["diagnostics"] if d["code"] == "MD021"]
    assert sorted(md021) == [
        ("f00000000002", "dry-run failed"),
        ("f00000000003", "dry-run failed"),
        ("f00000000004", "dry-run failed"),
    ]
    phases = {d["revision"]: d["message"] for d in payload["diagnostics"] if d["code"] == "MD021"}
    assert "phase consistency" in phases["f00000000003"] and "phase upgrade" in phases["f00000000004"]
