"""The documentation site: it builds with warnings as errors (dead links, missing anchors,
missing pages), every command's page lists exactly the options its ``--help`` has, every rule
has its page, and no page or README speaks of the project's internal history."""

from __future__ import annotations

import os
import re
import subprocess
import sys

import click
import pytest

from migdoc.cli import cli
from migdoc.rules import RULES
from tests.conftest import REPO

DOCS = REPO / "docs"
COMMANDS = ("graph", "check", "fix", "squash", "dryrun", "status", "explain")
OPTION = re.compile(r"(?<![\w-])(--?[a-zA-Z][\w-]*)")


def test_the_site_builds_with_warnings_as_errors(tmp_path):
    done = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(tmp_path / "site")],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "NO_MKDOCS_2_WARNING": "1"},
    )
    assert done.returncode == 0, done.stdout + done.stderr
    site = tmp_path / "site"
    for code in RULES:
        page = (site / "rules" / code / "index.html").read_text()
        assert RULES[code].name in page and code in page
    assert "<table>" in (site / "rules" / "index.html").read_text()


def documented_options(command: str) -> set[str]:
    text = (DOCS / "commands" / f"{command}.md").read_text()
    section = text.split("\n## Options\n", 1)[1].split("\n## ", 1)[0]
    options = set()
    for line in section.splitlines():
        if line.startswith("| `"):
            first_cell = line.split("|")[1]
            options.update(OPTION.findall(first_cell))
    return options


def help_options(command: str) -> set[str]:
    params = cli.commands[command].params
    options = set()
    for param in params:
        if isinstance(param, click.Option) and not param.hidden:
            options.update(param.opts + param.secondary_opts)
    return options - {"-h", "--help"}


@pytest.mark.parametrize("command", COMMANDS)
def test_a_commands_page_lists_the_options_of_its_help(command):
    assert documented_options(command) == help_options(command)


def test_every_command_has_a_page_in_the_navigation():
    nav = (REPO / "mkdocs.yml").read_text()
    assert set(COMMANDS) <= set(cli.commands) | {"explain"}
    for command in COMMANDS:
        assert f"commands/{command}.md" in nav


INTERNAL = re.compile(r"\bissue \d+|\bissues? #\d+|\bthe SPEC\b|\bthis session\b|engineers' test suites", re.I)


def test_no_page_speaks_of_internal_history():
    pages = [REPO / "README.md", REPO / "CHANGELOG.md", *DOCS.rglob("*.md")]
    found = [f"{page.relative_to(REPO)}: {m.group(0)}" for page in pages for m in INTERNAL.finditer(page.read_text())]
    assert found == []


def test_the_readme_is_short():
    assert len((REPO / "README.md").read_text().splitlines()) <= 250
