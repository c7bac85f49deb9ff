"""--python: the dry-run's in-project part runs in the project's own interpreter, which may
have older Alembic (>= 1.7) and SQLAlchemy (>= 1.4) and none of migdoc's dependencies."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import venv
from pathlib import Path

import pytest
from click.testing import CliRunner

from migdoc.cli import cli

# what the part that runs in the project's Python imports: migdoc's own dry-run modules
CHILD_MODULES = "migdoc.dryrun.child, migdoc.dryrun.runner, migdoc.dryrun.model_drift, migdoc.dryrun.drivers, migdoc.dryrun.driver_choice"
# alembic's and sqlalchemy's own dependencies, and the drivers
ALLOWED = {"alembic", "sqlalchemy", "mako", "markupsafe", "typing_extensions", "greenlet", "psycopg", "psycopg2"}
ALLOWED |= {"psycopg_binary", "psycopg_c", "pg8000", "asyncpg", "importlib_metadata", "importlib_resources", "tomli"}


def test_the_child_part_imports_only_the_standard_library_alembic_sqlalchemy_and_drivers():
    code = (
        f"import sys; before = set(sys.modules); import {CHILD_MODULES}; "
        "new = {m.split('.')[0] for m in set(sys.modules) - before}; "
        "print('\\n'.join(sorted(new - set(sys.stdlib_module_names) - {'migdoc'})))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert set(out.split()) <= ALLOWED, out


@pytest.fixture(scope="module")
def old_python(tmp_path_factory) -> str:
    """A virtualenv with Alembic 1.7, SQLAlchemy 1.4 and psycopg2 (no psycopg 3, no networkx)."""
    folder = tmp_path_factory.mktemp("old-alembic") / "venv"
    venv.EnvBuilder(with_pip=True).create(folder)
    python = str(folder / "bin" / "python")
    done = subprocess.run(
        [python, "-m", "pip", "install", "-q", "alembic==1.7.*", "sqlalchemy==1.4.*", "psycopg2-binary"],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    if done.returncode != 0:
        if os.environ.get("CI"):
            pytest.fail(f"pip could not install the old Alembic: {done.stderr[-2000:]}")
        pytest.skip("pip cannot reach the package index here")
    return python


@pytest.mark.postgres
def test_a_chain_runs_under_alembic_1_7_and_sqlalchemy_1_4(copy_fixture, old_python):
    copy_fixture("dryrun_many_failures")
    result = CliRunner().invoke(
        cli,
        ["dryrun", "dryrun_many_failures", "--python", old_python, "--format", "json"],
        env={"MIGDOC_DRYRUN_SERVER": ""},
        catch_exceptions=False,
    )
    assert result.exit_code == 1, result.output
    payload = json.loads(result.output)
    found = [(f["revision"], f["phase"]) for f in payload["failures"]]
    assert found == [("f00000000002", "downgrade"), ("f00000000003", "consistency"), ("f00000000004", "upgrade")]
    # the fixture's URL names psycopg 3, which neither that Python nor its SQLAlchemy has
    assert payload["driver"] == "psycopg2"
    assert payload["notes"] == [
        "the project's URL names the driver 'psycopg', which this Python cannot use (psycopg is not installed): "
        "ran with psycopg2 instead"
    ]


@pytest.mark.postgres
def test_an_enum_recreated_under_the_old_alembic(copy_fixture, old_python):
    copy_fixture("dryrun_enum_recreated")
    result = CliRunner().invoke(
        cli, ["dryrun", "dryrun_enum_recreated", "--python", old_python], env={"MIGDOC_DRYRUN_SERVER": ""}
    )
    assert result.exit_code == 0, result.output


def test_a_python_that_does_not_exist_is_a_usage_error(copy_fixture):
    copy_fixture("dryrun_clean")
    missing = str(Path("no") / "such" / "python")
    result = CliRunner().invoke(cli, ["dryrun", "dryrun_clean", "--python", missing], env={"MIGDOC_DRYRUN_SERVER": ""})
    assert result.exit_code == 2, result.output
    assert result.output.strip() == f"migdoc: error: --python {missing}: no such interpreter"
