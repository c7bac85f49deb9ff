"""Shapes met on real applications (docs/real-apps.md), as fixtures of their own, where the dry-run
went wrong or a change to it did: each test states what must happen, as Alembic by hand does it
(prefect's dialect folder named with --version-location; jupyterhub's env.py that calls
.connect() on the connection it is handed; airflow's subpackage named logging/)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from migdoc.cli import cli

pytestmark = pytest.mark.postgres
BYHAND = Path(__file__).resolve().parent.parent / "benchmarks" / "byhand_alembic.py"


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


def _alembic_by_hand(project, database_url: str) -> dict:
    """The stairway by hand (benchmarks/byhand_alembic.py), in a process of its own started from
    another folder, as `alembic -c PROJECT/alembic.ini` would be."""
    spec = {"url": database_url, "mode": "stairway", "ini": str(project / "alembic.ini")}
    done = subprocess.run(
        [sys.executable, str(BYHAND), json.dumps(spec)], capture_output=True, text=True, cwd=project.parent, timeout=300
    )
    return json.loads(done.stdout.splitlines()[-1])


@pytest.mark.parametrize(
    "name",
    [
        # jupyterhub 6.1.1: config.attributes["connection"] is taken as an Engine and .connect() called on it
        "dryrun_attributes_engine",
        # apache-airflow 3.3.2: the config's folder holds a subpackage named logging/
        "dryrun_package_shadows_stdlib",
    ],
)
def test_a_chain_alembic_runs_by_hand_passes_the_dry_run(name, copy_fixture, pg_database):
    project = copy_fixture(name)
    by_hand = _alembic_by_hand(project, pg_database)
    assert by_hand["ok"] and by_hand["revisions"] >= 1, by_hand

    result = CliRunner().invoke(cli, ["dryrun", str(project)], env={"MIGDOC_DRYRUN_SERVER": ""}, catch_exceptions=False)

    assert result.exit_code == 0, result.output
    assert "dry-run passed" in result.output
