"""check's linter conventions: concise lines, --statistics, --exit-zero, -o, --color, -q,
several PATHs, and -c/-n before the command (as Alembic users write them)."""

from __future__ import annotations

import json
import os
import re
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from migdoc.cli import cli
from migdoc.util import filesystem

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
CONCISE_LINE = re.compile(r"^(?P<path>[^:]+):(?P<line>\d+):(?P<col>\d+): (?P<code>MD\d{3}) \[(?P<rev>[^\]]+)\] \S")
ANSI = "\x1b["


@pytest.fixture
def copies(tmp_path, monkeypatch):
    for name in ("demo", "healthy_numbered_merge", "healthy_named_sections", "md001_duplicate_revision"):
        shutil.copytree(FIXTURES / name, tmp_path / name)
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("NO_COLOR", raising=False)
    monkeypatch.delenv("FORCE_COLOR", raising=False)
    return tmp_path


def run(*args: str, env: dict | None = None):
    return CliRunner().invoke(cli, list(args), env=env)


def demo_json() -> dict:
    return json.loads(run("check", "demo", "--format", "json").stdout)


def test_concise_is_one_clickable_line_per_finding(copies):
    result = run("check", "demo", "--format", "concise")
    lines = result.stdout.splitlines()
    expected = demo_json()["diagnostics"]
    assert len(lines) == len(expected)
    for line, d in zip(lines, expected, strict=True):
        match = CONCISE_LINE.match(line)
        assert match, line
        assert (match["path"], int(match["line"]), match["code"], match["rev"]) == (
            d["file"],
            d["line"],
            d["code"],
            d["revision"],
        )
        assert (Path(match["path"])).is_file()
    assert result.exit_code == 1


def test_statistics_counts_each_code_most_first(copies):
    result = run("check", "demo", "--statistics")
    counts: dict[str, int] = {}
    for d in demo_json()["diagnostics"]:
        counts[d["code"]] = counts.get(d["code"], 0) + 1
    rows = [line.split("\t") for line in result.stdout.splitlines()]
    assert {code: int(count) for count, code, _ in rows} == counts
    assert [int(count) for count, _, _ in rows] == sorted(counts.values(), reverse=True)
    assert result.exit_code == 1


def test_exit_zero_keeps_the_report_and_only_changes_the_code(copies):
    normal, zero = run("check", "demo"), run("check", "demo", "--exit-zero")
    assert (normal.exit_code, zero.exit_code) == (1, 0)
    assert zero.stdout == normal.stdout


def test_exit_zero_does_not_hide_a_usage_error(copies):
    assert run("check", "no-such-folder", "--exit-zero").exit_code == 2


def test_output_file_holds_the_report_and_stdout_stays_empty(copies):
    result = run("check", "demo", "--format", "sarif", "-o", "out/report.sarif")
    assert result.exit_code == 2 and "cannot write out/report.sarif" in result.stderr  # no such folder
    result = run("check", "demo", "--format", "sarif", "-o", "report.sarif")
    assert result.exit_code == 1 and result.stdout == ""
    assert json.loads(Path("report.sarif").read_text())["runs"][0]["results"]
    assert [p.name for p in copies.iterdir() if p.name.startswith(".report")] == []  # no temporary left


def test_output_file_is_never_half_written(copies, monkeypatch):
    Path("report.txt").write_text("the previous report\n")

    def failing_fsync(fd):
        raise OSError(5, "Input/output error")

    monkeypatch.setattr(os, "fsync", failing_fsync)
    result = run("check", "demo", "-o", "report.txt")
    assert result.exit_code == 2
    assert Path("report.txt").read_text() == "the previous report\n"
    assert sorted(p.name for p in copies.iterdir() if p.is_file()) == ["report.txt"]


def test_write_atomically_replaces_whole(tmp_path):
    target = tmp_path / "r.txt"
    umask = os.umask(0o022)
    try:
        filesystem.write_atomically(target, "one\n")
    finally:
        os.umask(umask)
    assert target.stat().st_mode & 0o777 == 0o644  # as open() makes it, not mkstemp's 0600
    target.chmod(0o640)
    filesystem.write_atomically(target, "two\n")
    assert target.stat().st_mode & 0o777 == 0o640  # a replaced file keeps its mode
    assert target.read_text() == "two\n" and [p.name for p in tmp_path.iterdir()] == ["r.txt"]


@pytest.mark.parametrize(
    ("args", "env", "is_coloured"),
    [
        (["--color", "always"], {}, True),
        (["--color", "never"], {"FORCE_COLOR": "1"}, False),
        (["--color", "auto"], {"FORCE_COLOR": "1"}, True),
        (["--color", "auto"], {}, False),  # CliRunner is not a terminal
        (["--color", "always"], {"NO_COLOR": "1"}, True),  # the flag beats the environment
    ],
)
def test_colour_follows_the_flag_then_the_environment(copies, args, env, is_coloured):
    result = run("check", "demo", "--format", "concise", *args, env=env)
    assert (ANSI in result.stdout) is is_coloured


def test_colour_never_reaches_an_output_file_in_auto(copies):
    run("check", "demo", "-o", "r.txt", env={"FORCE_COLOR": "1"})
    assert ANSI not in Path("r.txt").read_text()


def test_quiet_drops_the_summary_and_layout_notes(copies):
    loud, quiet = run("check", "demo"), run("check", "demo", "-q")
    assert " in 8 files (" in loud.stdout.splitlines()[-1]
    assert quiet.stdout.splitlines()[-1] != loud.stdout.splitlines()[-1]
    assert quiet.stdout.strip() == "\n".join(loud.stdout.splitlines()[:-1]).strip()
    assert quiet.exit_code == 1


def test_several_paths_are_reported_apart_with_the_worst_exit_code(copies):
    healthy = run("check", "healthy_numbered_merge")
    assert healthy.exit_code == 0
    both = run("check", "healthy_numbered_merge", "md001_duplicate_revision", "--format", "json")
    assert both.exit_code == 1
    payload = json.loads(both.stdout)
    assert [entry["path"] for entry in payload] == ["healthy_numbered_merge", "md001_duplicate_revision"]
    assert {d["code"] for d in payload[0]["diagnostics"]} == {"MD025"}  # a warning: exit 0
    assert {d["code"] for d in payload[1]["diagnostics"]} == {"MD001"}
    sarif = json.loads(run("check", "healthy_numbered_merge", "md001_duplicate_revision", "--format", "sarif").stdout)
    assert [len(r["results"]) for r in sarif["runs"]] == [1, 1]
    text = run("check", "healthy_numbered_merge", "md001_duplicate_revision").stdout
    assert text.startswith("healthy_numbered_merge:\n") and "\nmd001_duplicate_revision:\n" in text


def test_config_and_name_before_the_command(copies):
    after = run("check", "healthy_named_sections", "-n", "shop", "--format", "json")
    before = run("-n", "shop", "check", "healthy_named_sections", "--format", "json")
    assert after.exit_code == 0 and before.stdout == after.stdout
    without = run("check", "healthy_named_sections", "--format", "json")
    assert without.stdout != after.stdout or without.exit_code != 0
    ini = str(copies / "healthy_named_sections" / "alembic.ini")
    assert run("-c", ini, "-n", "shop", "graph", "healthy_named_sections").exit_code == 0
    assert run("-c", "missing.ini", "graph", "healthy_named_sections").exit_code == 2
