"""The dry-run on real applications, installed from the package registry as a user installs them.

A venv of its own (pinned optuna and mlflow-skinny, the psycopg2 driver both name in their URLs,
and this checkout's migdoc, ``pip install -e``), kept in a cache folder between runs. For each
chain, Alembic is run by hand first in that venv (benchmarks/byhand_alembic.py: each command what
a new ``alembic`` process would run) and the test requires that by-hand verdict to be what
docs/real-apps.md says it is, then requires ``migdoc dryrun`` to find the same failures.

Runs only when CI is true/1 or MIGDOC_REAL_APPS=1 (the venv is some 350 MB and the test takes about a minute or
two); there a failed install is a failure, not a skip. MIGDOC_REAL_APPS_VENVS chooses where the
venv is kept (default: the user's cache folder).
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
BYHAND = REPO / "benchmarks" / "byhand_alembic.py"
# pinned so the verdicts below stay true; both hold Alembic 1.20.1 and SQLAlchemy 2.1.9
REQUIREMENTS = [
    "optuna==5.1.0",
    "mlflow-skinny==3.18.0",
    "alembic==1.20.1",
    "sqlalchemy==2.1.9",
    "psycopg2-binary==2.9.13",
]
MLFLOW_SETUP = "mlflow.store.tracking.dbmodels.initial_models:Base.metadata.create_all"


def _is_enabled() -> bool:
    ci = os.environ.get("CI", "").strip().lower() in ("true", "1")
    return ci or os.environ.get("MIGDOC_REAL_APPS", "").strip() == "1"


pytestmark = [
    pytest.mark.postgres,
    pytest.mark.skipif(not _is_enabled(), reason="real applications: set MIGDOC_REAL_APPS=1 (always run under CI)"),
]


def _run(command, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run(command, capture_output=True, text=True, **kwargs)


@pytest.fixture(scope="module")
def app_venv() -> Path:
    """The venv's python: the pinned applications and this checkout's migdoc installed."""
    key = hashlib.sha256("\n".join(REQUIREMENTS).encode()).hexdigest()[:12]
    base = Path(os.environ.get("MIGDOC_REAL_APPS_VENVS") or Path.home() / ".cache" / "migdoc-real-apps")
    venv = base / f"venv-{key}"
    python = venv / "bin" / "python"
    ready = venv / "requirements-installed"
    if not ready.exists():
        made = _run([sys.executable, "-m", "venv", "--clear", str(venv)])
        assert made.returncode == 0, f"could not make a venv at {venv}: {made.stderr}"
        installed = _run([str(python), "-m", "pip", "install", "-q", *REQUIREMENTS], timeout=900)
        if installed.returncode != 0:
            pytest.fail(f"pip install {' '.join(REQUIREMENTS)} failed:\n{installed.stderr[-3000:]}", pytrace=False)
        ready.write_text("\n".join(REQUIREMENTS) + "\n")
    # this checkout, every time: the venv may have been filled from another one; the applications'
    # Alembic and SQLAlchemy are held where they are
    constraints = venv / "held.txt"
    constraints.write_text("alembic==1.20.1\nsqlalchemy==2.1.9\n")
    installed = _run([str(python), "-m", "pip", "install", "-q", "-c", str(constraints), "-e", str(REPO)], timeout=900)
    if installed.returncode != 0:
        pytest.fail(f"pip install -e {REPO} into {venv} failed:\n{installed.stderr[-3000:]}", pytrace=False)
    return python


def _site(python: Path) -> Path:
    out = _run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"], check=True)
    return Path(out.stdout.strip())


def by_hand(pg_server, python: Path, mode: str, **spec) -> dict:
    """Alembic by hand in the app's venv, on a fresh database of the test server."""
    database = f"byhand_{secrets.token_hex(4)}"
    with pg_server.connect() as connection:
        connection.execute(f'CREATE DATABASE "{database}" TEMPLATE template0')
    try:
        spec.update(url=f"postgresql+psycopg2://postgres@/{database}?host={pg_server.socket_dir}", mode=mode)
        done = _run([str(python), str(BYHAND), json.dumps(spec)], timeout=600)
    finally:
        with pg_server.connect() as connection:
            connection.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    assert lines, f"Alembic by hand did not run:\n{done.stderr[-3000:]}"
    return json.loads(lines[-1])


def dryrun(python: Path, tmp_path: Path, *arguments: str) -> tuple[int, dict, str]:
    done = _run([str(python), "-m", "migdoc", "dryrun", *arguments, "--format", "json"], cwd=tmp_path, timeout=600)
    try:
        report = json.loads(done.stdout)
    except ValueError:
        report = {}
    return done.returncode, report, done.stderr


def failures(report: dict) -> list[tuple[str, str, str]]:
    """(revision, phase, error) of every failure: 'failures' where migdoc lists them all, else the
    one 'failure' of the SPEC's shape."""
    found = report.get("failures") or ([report["failure"]] if report.get("failure") else [])
    return [(f.get("revision"), f.get("phase"), f.get("error") or "") for f in found]


def test_optuna_chain_fails_where_alembic_by_hand_fails(app_venv, pg_server, tmp_path):
    storage = _site(app_venv) / "optuna" / "storages" / "_rdb"
    chain = {"ini": str(storage / "alembic.ini"), "script": str(storage / "alembic")}
    # the truth, as a careful engineer finds it: upgrading one revision per command (as optuna's
    # users did across releases) stops at v2.4.0.a, whose CREATE TYPE meets the type v0.9.0.a made
    # (one `upgrade head` hides it: Alembic remembers in one migration context what it created);
    # the stairway stops at the first revision, whose downgrade leaves its enum types behind
    steps = by_hand(pg_server, app_venv, "steps", **chain)
    assert (steps["revision"], steps["phase"]) == ("v2.4.0.a", "upgrade"), steps
    assert 'type "studydirection" already exists' in steps["error"], steps
    stairway = by_hand(pg_server, app_venv, "stairway", **chain)
    assert (stairway["ok"], stairway["revision"]) == (False, "v0.9.0.a"), stairway

    code, report, stderr = dryrun(app_venv, tmp_path, str(storage))

    assert code == 1, (code, stderr)
    found = failures(report)
    assert found and found[0][0] == stairway["revision"], found
    assert any(
        revision == "v2.4.0.a" and phase == "upgrade" and 'type "studydirection" already exists' in error
        for revision, phase, error in found
    ), found


def test_mlflow_tracking_chain_from_its_initial_models(app_venv, pg_server, tmp_path):
    migrations = _site(app_venv) / "mlflow" / "store" / "db_migrations"
    chain = {"ini": str(migrations / "alembic.ini"), "script": str(migrations), "setup": MLFLOW_SETUP}
    # the truth: `mlflow db upgrade` on a new store (create_all of the initial models, then the
    # chain one revision per command) passes; the stairway stops at the first revision, whose
    # downgrade leaves metrics.step behind
    steps = by_hand(pg_server, app_venv, "steps", **chain)
    assert steps["ok"], steps
    stairway = by_hand(pg_server, app_venv, "stairway", **chain)
    assert (stairway["ok"], stairway["revision"]) == (False, "451aebb31d03"), stairway

    code, report, stderr = dryrun(
        app_venv,
        tmp_path,
        str(migrations),
        "--version-location",
        str(migrations / "versions"),
        "--setup",
        MLFLOW_SETUP,
    )

    assert code == 1, (code, stderr)
    found = failures(report)
    assert found and found[0][0] == stairway["revision"], found
    # every revision upgrades where by hand it does: no failure of a first upgrade
    assert not [f for f in found if f[1] == "upgrade"], found
