"""Choosing rules: --select, --ignore, [tool.migdoc], and ignore comments."""

from __future__ import annotations

import json

from click.testing import CliRunner

from migdoc.cli import cli


def codes(name: str, *args: str) -> tuple[int, list[tuple[str, str]]]:
    result = CliRunner().invoke(cli, ["check", name, "--format", "json", *args])
    payload = json.loads(result.stdout)
    return result.exit_code, [(d["code"], d["severity"]) for d in payload["diagnostics"]]


def test_select_and_ignore_on_the_command_line(copy_fixture):
    copy_fixture("md005_cycle")
    _, everything = codes("md005_cycle")
    assert {c for c, _ in everything} == {"MD005", "MD007", "MD009", "MD025"}
    assert {c for c, _ in codes("md005_cycle", "--select", "MD007,MD009")[1]} == {"MD007", "MD009"}
    exit_code, found = codes("md005_cycle", "--ignore", "MD005")
    assert {c for c, _ in found} == {"MD007", "MD009", "MD025"} and exit_code == 0
    assert {c for c, _ in codes("md005_cycle", "--select", "header-mismatch")[1]} == {"MD007"}
    assert {c for c, _ in codes("md005_cycle", "--select", "MD00", "--ignore", "MD009")[1]} == {"MD005", "MD007"}


def test_tool_migdoc_select_ignore_and_severity(copy_fixture):
    root = copy_fixture("md005_cycle")
    (root / "pyproject.toml").write_text(
        '[tool.migdoc]\nselect = ["MD005", "MD007", "MD009"]\nignore = ["MD009"]\n'
        'severity = { MD005 = "warning", MD007 = "error" }\n'
    )
    exit_code, found = codes("md005_cycle")
    assert sorted(found) == [("MD005", "warning"), ("MD007", "error")]
    assert exit_code == 1
    # The command line adds to the configured ignore list.
    exit_code, found = codes("md005_cycle", "--ignore", "MD007")
    assert found == [("MD005", "warning")] and exit_code == 0


def test_ignore_comment_silences_that_code_in_that_file_only(copy_fixture):
    root = copy_fixture("md011_duplicate_content")
    versions = root / "migrations" / "versions"
    _, found = codes("md011_duplicate_content")
    assert found == [("MD011", "warning")]  # 0006 repeats it too but says so
    commented = versions / "0006_backfill_tier_after_import.py"
    commented.write_text(commented.read_text().replace("# migdoc: ignore[MD011]\n", ""))
    _, found = codes("md011_duplicate_content")
    assert found == [("MD011", "warning"), ("MD011", "warning")]
    other = versions / "0005_backfill_tier.py"
    other.write_text("# migdoc: ignore[MD013, MD011]\n" + other.read_text())
    _, found = codes("md011_duplicate_content")
    assert found == [("MD011", "warning")]
