"""Real env.py shapes: each runs, or stops with one clear line (exit 2), never exit 3.

Fixtures modelled on what real projects do (see fixtures/README.md)."""

from __future__ import annotations

import json
import os

import pytest
from click.testing import CliRunner

from migdoc.cli import cli

pytestmark = pytest.mark.postgres


def _dryrun(*args: str):
    return CliRunner().invoke(cli, ["dryrun", *args], env={"MIGDOC_DRYRUN_SERVER": ""}, catch_exceptions=False)


def _one_line(result) -> str:
    assert result.exit_code == 2, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("migdoc: error: "), result.output
    return lines[0]


@pytest.mark.parametrize(
    "fixture",
    ["dryrun_async_env", "dryrun_attributes_connection", "dryrun_no_logging_sections", "dryrun_pyproject_and_ini"],
)
def test_shapes_that_run(copy_fixture, fixture):
    copy_fixture(fixture)
    result = _dryrun(fixture, "--format", "json")
    assert result.exit_code == 0, result.output
    payload = json.loads(result.output)
    phases = {"upgrade", "downgrade", "consistency", "re-upgrade"}
    assert payload["ok"] and {s["phase"] for s in payload["steps"]} == phases


def test_pyproject_and_ini_is_read_the_same_way_by_check_and_dryrun(copy_fixture):
    """What `alembic init -t pyproject` writes: the script location only in pyproject.toml."""
    root = copy_fixture("dryrun_pyproject_and_ini")
    assert "script_location" not in (root / "alembic.ini").read_text()
    check = CliRunner().invoke(cli, ["check", "--format", "json", "dryrun_pyproject_and_ini"])
    assert check.exit_code == 0 and json.loads(check.output)["summary"]["revisions"] == 2
    result = _dryrun("dryrun_pyproject_and_ini", "--format", "json")
    assert result.exit_code == 0, result.output
    assert {s["revision"] for s in json.loads(result.output)["steps"]} == {"cccc00000001", "cccc00000002"}


def test_settings_class_with_its_own_url(copy_fixture, monkeypatch):
    copy_fixture("dryrun_settings_class")
    monkeypatch.delenv("BILLING_DATABASE_URL", raising=False)
    monkeypatch.setenv("POSTGRES_PORT", "1")  # nothing listens there, whatever this machine runs
    line = _one_line(_dryrun("dryrun_settings_class"))
    assert "dryrun_settings_class/migrations/env.py:23) tried to connect to" in line
    assert "postgresql+psycopg://billing:***@localhost:1/billing" in line and "changethis" not in line
    assert "--url-env NAME" in line
    # the settings class reads BILLING_DATABASE_URL first: name it and the run passes
    result = _dryrun("dryrun_settings_class", "--url-env", "BILLING_DATABASE_URL")
    assert result.exit_code == 0, result.output
    assert "BILLING_DATABASE_URL" not in os.environ


def test_flask_migrate_without_flask_installed(copy_fixture):
    if _has("flask"):
        pytest.skip("flask is installed here")
    copy_fixture("dryrun_flask_migrate")
    line = _one_line(_dryrun("dryrun_flask_migrate"))
    assert line.startswith("migdoc: error: dryrun_flask_migrate/migrations/env.py:5: the project imports 'flask'")


def test_flask_migrate_outside_the_app(copy_fixture, tmp_path, monkeypatch):
    """With Flask installed, current_app outside the app raises Flask's RuntimeError. A stand-in
    for flask raising exactly that, so the test does not need Flask."""
    stub = tmp_path / "stub"
    (stub / "flask").mkdir(parents=True)
    (stub / "flask" / "__init__.py").write_text(
        "class _NoApp:\n"
        "    def __getattr__(self, name):\n"
        "        raise RuntimeError('Working outside of application context.')\n\n\n"
        "current_app = _NoApp()\n"
    )
    copy_fixture("dryrun_flask_migrate")
    # the project's code runs in a child process: the stand-in reaches it through PYTHONPATH
    env = {"MIGDOC_DRYRUN_SERVER": "", "PYTHONPATH": str(stub)}
    line = _one_line(CliRunner().invoke(cli, ["dryrun", "dryrun_flask_migrate"], env=env, catch_exceptions=False))
    assert "env.py:11: env.py reads Flask's current_app (a Flask-Migrate env.py)" in line
    assert "flask.has_app_context()" in line


def _has(module: str) -> bool:
    import importlib.util

    return importlib.util.find_spec(module) is not None


# --- MD020: the models against the migrations ---------------------------------------


def test_model_drift_is_reported_in_every_format(copy_fixture):
    copy_fixture("dryrun_model_drift")
    result = _dryrun("dryrun_model_drift", "--format", "json")
    assert result.exit_code == 1, result.output
    payload = json.loads(result.output)
    assert payload["failure"] is None and payload["ok"] is False
    assert payload["model_drift"] == [
        {
            "code": "MD020",
            "file": "dryrun_model_drift/migrations/versions/0002_create_invoices.py",
            "line": 1,
            "revision": "acac00000002",
            "message": "column accounts.phone is in the models, but no migration adds it",
        }
    ]
    text = _dryrun("dryrun_model_drift")
    assert text.exit_code == 1
    assert "MD020 model-drift" in text.output and "column accounts.phone is in the models" in text.output
    # the verdict line agrees with the exit code: every step passed, the run did not
    assert "dry-run passed" not in text.output
    assert "dry-run failed: every step passed" in text.output and "but the models drifted (MD020)" in text.output

    def check(fmt: str) -> str:
        done = CliRunner().invoke(
            cli, ["check", "--dryrun", "dryrun_model_drift", "--format", fmt], env={"MIGDOC_DRYRUN_SERVER": ""}
        )
        assert done.exit_code == 1, done.output
        return done.output

    [md020] = [d for d in json.loads(check("json"))["diagnostics"] if d["code"] == "MD020"]
    assert md020["file"].endswith("0002_create_invoices.py") and md020["severity"] == "error"
    sarif = json.loads(check("sarif"))
    assert [r["ruleId"] for r in sarif["runs"][0]["results"]] == ["MD020"]
    assert "::error file=dryrun_model_drift/migrations/versions/0002_create_invoices.py,line=1,title=MD020" in check(
        "github"
    )
    assert "MD020 model-drift" in check("text")


def test_models_that_match_pass_and_a_changed_type_is_drift(copy_fixture):
    root = copy_fixture("dryrun_model_drift")
    models = root / "shop" / "models.py"
    source = models.read_text()
    models.write_text(
        source.replace("    phone: Mapped[str | None] = mapped_column(sa.String(20))  # no migration adds it\n", "")
    )
    result = _dryrun("dryrun_model_drift", "--format", "json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["model_drift"] == []
    models.write_text(models.read_text().replace("sa.String(200)", "sa.String(100)"))
    result = _dryrun("dryrun_model_drift", "--format", "json")
    assert result.exit_code == 1
    [drift] = json.loads(result.output)["model_drift"]
    assert drift["message"].startswith("column accounts.email: type is VARCHAR(length=200) after the migrations")
    # --to stops before the heads: nothing to compare
    partial = _dryrun("dryrun_model_drift", "--to", "acac00000001", "--format", "json")
    assert partial.exit_code == 0 and json.loads(partial.output)["model_drift"] == []


def test_explain_md020():
    result = CliRunner().invoke(cli, ["explain", "MD020"])
    assert result.exit_code == 0 and "model-drift" in result.output and "autogenerate" in result.output


def test_what_env_py_prints_goes_to_stderr(copy_fixture):
    """letta's env.py prints "Using database: <url>": the JSON report on stdout stays JSON."""
    root = copy_fixture("dryrun_clean")
    env_py = root / "migrations" / "env.py"
    env_py.write_text(
        env_py.read_text().replace(
            "config = context.config\n",
            'config = context.config\nprint("Using database: ", config.get_main_option("sqlalchemy.url"))\n',
        )
    )
    result = _dryrun("dryrun_clean", "--format", "json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["ok"] is True
    assert "Using database: " in result.stderr and "Using database" not in result.stdout


def test_env_py_that_takes_its_url_from_an_x_argument(copy_fixture):
    root = copy_fixture("dryrun_clean")
    env_py = root / "migrations" / "env.py"
    env_py.write_text(
        env_py.read_text().replace(
            'config.get_section(config.config_ini_section, {}), prefix="sqlalchemy.", poolclass=pool.NullPool',
            '{"sqlalchemy.url": context.get_x_argument(as_dictionary=True).get("db_url", "sqlite:///dev.db")}, '
            'prefix="sqlalchemy.", poolclass=pool.NullPool',
        )
    )
    assert "get_x_argument" in env_py.read_text()
    line = _one_line(_dryrun("dryrun_clean"))
    assert "asked for a sqlite database" in line and "-x KEY={url}" in line
    assert not (root / "dev.db").exists()
    result = _dryrun("dryrun_clean", "-x", "db_url={url}", "--format", "json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["ok"] is True


def test_async_env_py_that_takes_a_url_from_config_attributes(copy_fixture):
    """polar's shape: async, URL from config.attributes["sqlalchemy.url"], else from its settings."""
    root = copy_fixture("dryrun_async_env")
    env_py = root / "migrations" / "env.py"
    env_py.write_text(
        env_py.read_text().replace(
            "config = context.config\n",
            "config = context.config\n"
            "config.set_main_option('sqlalchemy.url', config.attributes.get(\n"
            "    'sqlalchemy.url', 'postgresql+psycopg://polar:polar@127.0.0.1:1/polar').replace('%', '%%'))\n",
            1,
        )
    )
    assert "config.attributes.get(" in env_py.read_text()
    result = _dryrun("dryrun_async_env", "--format", "json")
    assert result.exit_code == 0, result.output
