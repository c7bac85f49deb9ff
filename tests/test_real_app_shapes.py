"""Shapes met on real applications (docs/real-apps.md) where the dry-run goes wrong, as fixtures
of their own: each test states what must happen and, while it does not, is a strict xfail, so the
fix shows up as an XPASS that fails the run until the marker is removed."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from migdoc.cli import cli

pytestmark = pytest.mark.postgres


@pytest.mark.xfail(
    strict=True,
    reason="with --version-location, the dry-run's script_location becomes the version folder's parent "
    "(migrations/versions), so Alembic looks for env.py there and the run stops with exit 2 "
    "'importing the project failed ... Can't find Python file migrations/versions/env.py' (prefect 3.9.1)",
)
def test_dialect_version_folder_runs_env_py_from_the_script_folder(copy_fixture, pg_binaries):
    # prefect's shape: env.py in the script folder picks versions/<dialect> in code; a user names
    # that folder with --version-location, and Alembic by hand passes with the same setting
    project = copy_fixture("dryrun_dialect_version_folder")

    result = CliRunner().invoke(
        cli,
        ["dryrun", str(project), "--version-location", str(project / "migrations" / "versions" / "postgresql")],
        env={"MIGDOC_DRYRUN_SERVER": ""},
        catch_exceptions=False,
    )

    assert result.exit_code == 0, result.output
    assert "dry-run passed" in result.output
