"""Text findings show the source line they point at (as ruff does); --no-snippets leaves it out."""

from __future__ import annotations

from click.testing import CliRunner

from migdoc.cli import cli


def run(*args: str):
    return CliRunner().invoke(cli, list(args), env={"MIGDOC_NO_CACHE": "1"})


def test_a_finding_shows_its_source_line_and_no_snippets_hides_it(copy_fixture):
    root = copy_fixture("md013_irreversible")
    shown = run("check", str(root))
    bare = run("check", str(root), "--no-snippets")
    assert shown.exit_code == bare.exit_code
    snippet_lines = [line for line in shown.output.splitlines() if line.startswith("              | ")]
    assert "              | def downgrade():" in snippet_lines
    assert not any(line.startswith("              | ") for line in bare.output.splitlines())
    # the rest of the report is the same
    assert [line for line in shown.output.splitlines() if line not in snippet_lines] == bare.output.splitlines()


def test_a_file_gone_since_it_was_read_shows_no_snippet():
    from migdoc.model import Diagnostic, Severity
    from migdoc.reports.check import source_lines

    gone = Diagnostic("MD013", "irreversible", Severity.WARNING, "m", "/nonexistent/v/0001.py", 3, "0001")
    assert source_lines([gone]) == {}
