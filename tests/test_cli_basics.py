from __future__ import annotations

import json

from click.testing import CliRunner

from migdoc.cli import cli


def run(*args: str):
    return CliRunner().invoke(cli, list(args))


def test_demo_check_reports_errors_and_exits_1(copy_fixture):
    copy_fixture("demo")
    result = run("check", "demo", "--format", "json")
    assert result.exit_code == 1, result.output
    payload = json.loads(result.output)
    codes = {d["code"] for d in payload["diagnostics"]}
    assert {"MD003", "MD006", "MD012", "MD013"} <= codes
    assert payload["summary"]["heads"] == 2


def test_missing_directory_is_one_line_and_exit_2(in_tmp):
    result = run("check", "nowhere")
    assert result.exit_code == 2
    assert result.output.strip().count("\n") == 0
    assert "nowhere" in result.output
    assert "Traceback" not in result.output


def test_explain_every_rule_and_unknown_code():
    from migdoc.rules import RULES

    for code in RULES:
        result = run("explain", code)
        assert result.exit_code == 0
        assert code in result.output and "Why it is bad" in result.output
    assert run("explain", "MD999").exit_code == 2


def test_unknown_option_is_usage_error():
    assert run("check", "--bogus").exit_code == 2
