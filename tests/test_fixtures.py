"""Every fixture tree, through the CLI, in every format, against golden files.

Each ``fixtures/<name>`` is copied into ``tmp_path`` and run with the current
directory there, so paths in the output are the same on every machine.
``MIGDOC_UPDATE_GOLDENS=1`` rewrites the golden files.

The golden files pin the renderings (formats); which codes fire, and so the
exit code, is pinned separately by ``EXPECTED_CODES``, which rewriting the
goldens does not touch.
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner
from golden import assert_golden

from migdoc.cli import cli
from migdoc.model import Severity
from migdoc.rules import RULES

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
OTHER_OWNERS = ("dryrun_", "fix_", "deploy_", "squash_")
"""Fixture trees other engineers own and test (dry-run, fix, deployment, squash: tests/test_squash.py)."""
NEEDS_OUTSIDE_INPUT = {"MD016", "MD017", "MD020", "MD021", "MD031"}
"""Rules that need ``--database-url``, ``--base-ref`` or ``--dryrun``: tested with their own fixtures."""
EXTRA_ARGS = {
    "healthy_named_sections": ["-n", "shop"],
    "layout_dialect_subfolders": ["--version-location", "layout_dialect_subfolders/migrations/versions/postgresql"],
}
"""Fixtures that need command-line options, as their README says."""
LAYOUT_NOTES = {
    "layout_flask_migrate": "sets no script_location; reading its own folder layout_flask_migrate",
    "layout_unread_subfolders": "2 more revision files lie in subfolders that are not read",
}
"""Fixtures whose layout migdoc explains in one info line on stderr (stdout stays the report)."""

ERROR, WARNING, INFO = Severity.ERROR, Severity.WARNING, Severity.INFO
EXPECTED_CODES: dict[str, set[tuple[str, Severity]]] = {
    "demo": {("MD003", ERROR), ("MD006", WARNING), ("MD011", WARNING), ("MD012", ERROR), ("MD013", WARNING)},
    "healthy_dated_file_template": set(),
    "healthy_dated_no_slug": set(),
    "healthy_expand_contract": {("MD003", INFO)},
    "healthy_labelled_branches": {("MD003", INFO)},
    "healthy_messy_names": {("MD006", WARNING), ("MD025", WARNING)},
    "healthy_messy_values": {("MD007", WARNING), ("MD018", WARNING), ("MD025", WARNING)},
    "healthy_named_sections": set(),
    "healthy_numbered_merge": {("MD025", WARNING)},
    "healthy_pyproject_only": set(),
    "healthy_raw_sql_and_helpers": {("MD025", WARNING)},
    "healthy_recursive_date_folders": {("MD025", WARNING)},
    "healthy_run_safety_env": set(),
    "healthy_schemas_and_data": {("MD025", WARNING), ("MD027", WARNING)},
    "healthy_two_version_locations": {("MD003", INFO)},
    "healthy_typed_template": set(),
    "layout_dialect_subfolders": set(),
    "layout_flask_migrate": set(),
    "layout_package_colons": set(),
    "layout_script_folder": set(),
    "layout_unread_subfolders": set(),
    "md001_duplicate_revision": {("MD001", ERROR)},
    "md002_missing_revision": {("MD002", ERROR), ("MD003", ERROR)},
    "md003_computed_labels": {("MD003", WARNING), ("MD019", WARNING)},
    "md003_multiple_heads": {("MD003", ERROR)},
    "md004_multiple_bases": {("MD004", WARNING)},
    "md005_cycle": {("MD005", ERROR), ("MD007", WARNING), ("MD009", INFO), ("MD025", WARNING)},
    "md005_depends_on_empty_string": {("MD005", ERROR)},
    "md006_filename_mismatch": {("MD006", WARNING), ("MD025", WARNING)},
    "md007_header_mismatch": {("MD007", WARNING), ("MD025", WARNING)},
    "md008_branch_label_conflict": {("MD008", ERROR)},
    "md009_date_order": {("MD009", INFO)},
    "md010_unreadable_revision": {("MD010", ERROR)},
    "md011_duplicate_content": {("MD011", WARNING)},
    "md012_redundant_operation": {("MD012", ERROR), ("MD025", WARNING)},
    "md013_irreversible": {("MD013", INFO), ("MD013", WARNING), ("MD025", WARNING)},
    "md014_stray_file": {("MD014", ERROR)},
    "md029_missing_lock_timeout": {("MD029", INFO)},
    "md030_unserialized_upgrade": {("MD030", INFO)},
    "md015_unsafe_sql": {("MD015", WARNING)},
    "md018_redundant_merge_parent": {("MD018", WARNING), ("MD025", WARNING)},
    "md019_unresolved_value": {("MD003", WARNING), ("MD019", WARNING)},
    "md024_illegal_revision_id": {("MD024", ERROR)},
    "md022_off_line_dependency": {("MD022", ERROR), ("MD025", WARNING)},
    "md023_parallel_create": {("MD023", ERROR)},
    # MD031 needs a deployed database (tests/test_schema_drift.py); its 0003 indexes orders in place
    "md031_schema_drift": {("MD025", WARNING)},
    "md025_blocking_index": {("MD025", WARNING)},
    "md026_table_rewrite": {("MD026", WARNING)},
    "md027_validated_constraint": {("MD027", WARNING)},
    "md028_exclusive_lock": {("MD028", WARNING)},
}
"""What each fixture must report, as (code, severity), written down here rather than read
from migdoc's output, so a rule that stops (or starts) firing fails the behaviour test
even when its golden files are rewritten. The exit code follows: 1 with any error.
``test_expected_codes_follow_the_fixture_names`` holds this table to the names and
fixtures/README.md (healthy_*: no error; mdNNN_*: MDNNN, at its default severity unless
README says otherwise)."""
SEVERITY_AS_README_SAYS = {"md003_computed_labels": {"MD003": WARNING}}
"""mdNNN_* fixtures whose own code the README gives another severity than the rule's default."""

CHECK_FORMATS = ("text", "concise", "json", "sarif", "github")
GRAPH_FORMATS = ("text", "dot", "mermaid", "json")


def fixture_names() -> list[str]:
    return sorted(
        p.name
        for p in FIXTURES.iterdir()
        if p.is_dir() and not p.name.startswith(OTHER_OWNERS) and not p.name.startswith(".")
    )


FIXTURE_NAMES = fixture_names()


def run_in_copy(name: str, tmp_path: Path, monkeypatch, *args: str):
    target = tmp_path / name
    if not target.exists():
        shutil.copytree(FIXTURES / name, target)
    monkeypatch.chdir(tmp_path)
    return CliRunner().invoke(cli, [*args, name, *EXTRA_ARGS.get(name, [])])


def check_json(name: str, tmp_path: Path, monkeypatch) -> dict:
    result = run_in_copy(name, tmp_path, monkeypatch, "check", "--format", "json")
    return json.loads(result.stdout)


@pytest.mark.parametrize("fmt", CHECK_FORMATS)
@pytest.mark.parametrize("name", FIXTURE_NAMES)
def test_check_output_matches_golden(name, fmt, tmp_path, monkeypatch):
    result = run_in_copy(name, tmp_path, monkeypatch, "check", "--format", fmt)
    assert result.exception is None or isinstance(result.exception, SystemExit), result.output
    assert_layout_note(name, result.stderr)
    # The exit code comes from the fixture's expectation, never from this same run's report.
    assert result.exit_code == expected_exit_code(name)
    output = stable_sarif(result.stdout) if fmt == "sarif" else result.stdout
    assert_golden(f"check/{name}.{fmt}", output)


def expected_exit_code(name: str) -> int:
    return 1 if any(severity is ERROR for _, severity in EXPECTED_CODES[name]) else 0


@pytest.mark.parametrize("name", FIXTURE_NAMES)
def test_fixture_reports_exactly_its_expected_codes(name, tmp_path, monkeypatch):
    """Behaviour, apart from the renderings: which codes fire, at which severity."""
    payload = check_json(name, tmp_path, monkeypatch)
    reported = {(d["code"], Severity(d["severity"])) for d in payload["diagnostics"]}
    assert reported == EXPECTED_CODES[name]


@pytest.mark.parametrize("name", FIXTURE_NAMES)
def test_expected_codes_follow_the_fixture_names(name):
    assert name in EXPECTED_CODES, f"fixtures/{name}: add what it must report to EXPECTED_CODES"
    expected = EXPECTED_CODES[name]
    errors = {code for code, severity in expected if severity is ERROR}
    if name.startswith(("healthy_", "layout_")):
        assert errors == set(), "healthy and layout fixtures report no error (fixtures/README.md)"
    match = re.match(r"md(\d{3})_", name)
    if match and f"MD{match.group(1)}" not in NEEDS_OUTSIDE_INPUT:
        code = f"MD{match.group(1)}"
        severity = SEVERITY_AS_README_SAYS.get(name, {}).get(code, RULES[code].severity)
        assert (code, severity) in expected, f"{name} must report {code} as {severity.value}"


def assert_layout_note(name: str, stderr: str) -> None:
    if name not in LAYOUT_NOTES:
        assert stderr == ""
        return
    lines = stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("migdoc: info: "), stderr
    assert LAYOUT_NOTES[name] in lines[0]


def stable_sarif(text: str) -> str:
    """SARIF with only the rules its results use, so registering a new rule
    elsewhere does not rewrite every golden file; ``ruleIndex`` is checked here
    instead of being frozen."""
    sarif = json.loads(text)
    run = sarif["runs"][0]
    # the repository root is where the copy lies (tmp_path): pinned apart, in test_sarif_schema.py
    base = run["originalUriBaseIds"]["SRCROOT"]
    assert base["uri"].startswith("file:///") and base["uri"].endswith("/")
    base["uri"] = "file:///<project>/"
    rules = run["tool"]["driver"]["rules"]
    used = {r["ruleId"] for r in run["results"]}
    for result in run["results"]:
        assert rules[result.pop("ruleIndex")]["id"] == result["ruleId"]
    run["tool"]["driver"]["rules"] = [r for r in rules if r["id"] in used]
    return json.dumps(sarif, indent=2) + "\n"


@pytest.mark.parametrize("fmt", GRAPH_FORMATS)
@pytest.mark.parametrize("name", FIXTURE_NAMES)
def test_graph_output_matches_golden(name, fmt, tmp_path, monkeypatch):
    result = run_in_copy(name, tmp_path, monkeypatch, "graph", "--format", fmt)
    assert result.exit_code == 0, result.output
    assert_layout_note(name, result.stderr)
    assert_golden(f"graph/{name}.{fmt}", result.stdout)


@pytest.mark.parametrize(
    "name", [n for n in FIXTURE_NAMES if re.match(r"md\d{3}_", n) and f"MD{n[2:5]}" not in NEEDS_OUTSIDE_INPUT]
)
def test_diagnostic_fixture_reports_its_code(name, tmp_path, monkeypatch):
    code = "MD" + name[2:5]
    payload = check_json(name, tmp_path, monkeypatch)
    reported = [d for d in payload["diagnostics"] if d["code"] == code]
    assert reported, f"{name} does not report {code}"
    for diagnostic in reported:
        assert diagnostic["file"] and diagnostic["line"] >= 1


@pytest.mark.parametrize("name", [n for n in FIXTURE_NAMES if n.startswith("healthy_")])
def test_healthy_fixture_has_no_error(name, tmp_path, monkeypatch):
    payload = check_json(name, tmp_path, monkeypatch)
    errors = [d for d in payload["diagnostics"] if d["severity"] == "error"]
    assert errors == []
    assert payload["summary"]["errors"] == 0


@pytest.mark.parametrize("code", sorted(RULES))
def test_every_rule_has_fixture_golden_and_documentation(code):
    rule = RULES[code]
    prefix = f"md{code[2:]}_"
    own = [n for n in FIXTURE_NAMES if n.startswith(prefix)]
    if code not in NEEDS_OUTSIDE_INPUT:
        assert own, f"no fixtures/{prefix}* for {code}"
        goldens = Path(__file__).resolve().parent / "golden" / "check"
        assert any(code in (goldens / f"{n}.json").read_text() for n in own), f"no golden output shows {code}"
    result = CliRunner().invoke(cli, ["explain", code])
    assert result.exit_code == 0
    for heading in ("What it finds", "Why it is bad", "Example", "How `migdoc fix` treats it"):
        assert heading in result.output
    assert rule.summary and rule.why and rule.example.strip() and rule.fix
    assert rule.name == rule.name.lower() and " " not in rule.name
