from __future__ import annotations

import json
from pathlib import Path

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


def test_every_command_help_shows_a_real_example():
    """As sqlite-utils does: each --help ends with a command line to copy."""
    from migdoc.cli import cli as group

    for name in group.commands:
        result = run(name, "--help")
        assert result.exit_code == 0
        example = result.output.split("Example:", 1)
        assert len(example) == 2, f"{name} --help has no example"
        first = example[1].strip().splitlines()[0].strip()
        assert first.startswith(f"migdoc {name}") or first.startswith("migdoc -c "), first


def test_top_level_help_keeps_every_summary_whole():
    output = run("--help").output
    commands = output.split("Commands:", 1)[1]
    assert "..." not in commands
    assert "the heads, what `upgrade heads` would run." in " ".join(commands.split())


def test_explain_lists_codes_sorted_and_aligned():
    from migdoc.rules import RULES

    lines = run("explain").output.splitlines()
    assert [line.split()[0] for line in lines] == sorted(RULES)
    # the name, the severity and the summary start in the same column on every line
    import re

    matches = [re.match(r"^(MD\d{3})  (\S+) +(error|warning|info) +(\S.*)$", line) for line in lines]
    assert all(matches), lines
    assert len({(m.start(2), m.start(3), m.start(4)) for m in matches}) == 1


def test_a_deleted_current_directory_is_one_line_and_exit_2(tmp_path):
    """The shell's folder was removed under it (a CI step that cleaned up): every path is shown
    from the current directory, so that is the environment problem to name, not a traceback."""
    import subprocess
    import sys

    gone = tmp_path / "gone"
    gone.mkdir()
    demo = Path(__file__).resolve().parent.parent / "fixtures" / "demo"
    script = f'cd "{gone}" && rmdir "{gone}" && exec "{sys.executable}" -m migdoc check "{demo}"'
    result = subprocess.run(["sh", "-c", script], capture_output=True, text=True, timeout=60)
    assert result.returncode == 2, result.stderr
    assert result.stderr.startswith("migdoc: error: the current directory no longer exists")
    assert len(result.stderr.splitlines()) == 1 and "Traceback" not in result.stderr
