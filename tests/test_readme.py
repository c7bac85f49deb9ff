"""The README's first screen: exactly two set-up commands, and both are real.

The second is what CI runs (`.ci/run`); the first runs the main job on the
demo project, which this test runs too (its migdoc part: the package is
already installed here).
"""

from __future__ import annotations

import re
import shlex
import shutil
import subprocess
import sys

import pytest

from tests.conftest import REPO

README = (REPO / "README.md").read_text()


def first_screen_commands() -> list[str]:
    head = README.split("\n## ", 1)[0]
    return [block.strip() for block in re.findall(r"```sh\n(.*?)```", head, flags=re.S)]


def test_first_screen_has_exactly_two_commands():
    commands = first_screen_commands()
    assert len(commands) == 2, commands
    main_job, tests = commands
    assert main_job.startswith("pip install -e '.[postgres]' && migdoc check --dryrun fixtures/demo")
    assert "pytest" in tests


def test_ci_runs_the_readme_test_command():
    _, tests = first_screen_commands()
    ci_lines = [line.strip() for line in (REPO / ".ci" / "run").read_text().splitlines()]
    assert tests in ci_lines


@pytest.mark.postgres
def test_main_job_runs_on_the_demo(pg_binaries, tmp_path):
    main_job, _ = first_screen_commands()
    migdoc_part = shlex.split(main_job.split("&&", 1)[1])
    assert migdoc_part[0] == "migdoc"
    shutil.copytree(REPO / "fixtures" / "demo", tmp_path / "fixtures" / "demo")
    result = subprocess.run(
        [sys.executable, "-m", "migdoc", *migdoc_part[1:]],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    # The demo is broken on purpose: static errors, then a dry-run that fails.
    assert result.returncode == 1, result.stderr
    assert "MD003 multiple-heads" in result.stdout
    assert "column public.customers.tier is left behind" in result.stdout + result.stderr
    assert "Traceback" not in result.stderr
