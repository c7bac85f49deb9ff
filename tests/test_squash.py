"""`migdoc squash --to REV`: REV and its ancestors become one baseline revision with REV's id,
built from the schema the chain has at REV on a throwaway PostgreSQL and proved there (the
baseline equals the chain at REV, the new chain equals the old at the heads, the baseline's
downgrade empties the database); the old files are archived as `fix --archive` archives."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from click.testing import CliRunner
from fixhelp import snapshot
from golden import assert_golden

from migdoc import doctor
from migdoc.cli import cli
from migdoc.dryrun.schema import SchemaChange
from migdoc.errors import ApplyError, FixRefused
from migdoc.fix import squash
from migdoc.fix.squash_schema import _answer, _Body, _column_default, _compared
from migdoc.model import CreateFile, Proof


def run(*args: str):
    return CliRunner().invoke(cli, list(args))


def normalised(text: str, root: Path) -> str:
    """The output as a golden holds it: the archive folder's date (the clock) and tmp paths fixed."""
    text = text.replace(str(root.parent) + "/", "")
    return re.sub(r"archive/\d{4}-\d{2}-\d{2}", "archive/DATE", re.sub(r"on \d{4}-\d{2}-\d{2}", "on DATE", text))


def write_revision(folder: Path, name: str, revision: str, down: str | None, upgrade: str) -> None:
    (folder / name).write_text(
        f'"""{name}\n\nRevision ID: {revision}\nRevises: {down or ""}\nCreate Date: 2025-01-01 00:00:00\n\n"""\n'
        "from alembic import op\nimport sqlalchemy as sa\n\n"
        f"revision = {revision!r}\ndown_revision = {down!r}\nbranch_labels = None\ndepends_on = None\n\n\n"
        f"def upgrade():\n    {upgrade}\n\n\ndef downgrade():\n    pass\n",
        encoding="utf-8",
    )


# -- what is refused before any database ---------------------------------------------------


def test_an_unknown_revision_is_refused_in_one_line(copy_fixture):
    root = copy_fixture("squash_small")
    result = run("squash", "--to", "9999", str(root))
    assert result.exit_code == 2
    assert result.output.strip().splitlines() == ["migdoc: error: squash --to 9999: no such revision"]


def test_squash_needs_to(copy_fixture):
    root = copy_fixture("squash_small")
    result = run("squash", str(root))
    assert result.exit_code == 2
    assert "squash needs --to REV" in result.output


def test_a_branch_leaving_from_inside_the_range_is_refused(copy_fixture):
    """0004 branches off 0001 and merges back at 0005: squashing to 0002 would cut its parent."""
    root = copy_fixture("squash_small")
    versions = root / "migrations" / "versions"
    write_revision(versions, "0004_side.py", "0004", "0001", "pass")
    (versions / "0005_merge.py").write_text(
        "revision = '0005'\ndown_revision = ('0003', '0004')\nbranch_labels = None\ndepends_on = None\n\n\n"
        "def upgrade():\n    pass\n\n\ndef downgrade():\n    pass\n",
        encoding="utf-8",
    )
    before = snapshot(root)
    result = run("squash", "--to", "0002", str(root))
    assert result.exit_code == 2, result.output
    assert "0004 (0004_side.py) is outside the range but points into it at 0001, not at 0002" in result.output
    assert snapshot(root) == before


def test_a_revision_not_below_every_head_is_refused(copy_fixture):
    """A labelled branch of its own (a deliberate second head and base): 0002 is not below it."""
    root = copy_fixture("squash_small")
    (root / "migrations" / "versions" / "0004_reports.py").write_text(
        "revision = '0004'\ndown_revision = None\nbranch_labels = ('reports',)\ndepends_on = None\n\n\n"
        "def upgrade():\n    pass\n\n\ndef downgrade():\n    pass\n",
        encoding="utf-8",
    )
    result = run("squash", "--to", "0002", str(root))
    assert result.exit_code == 2, result.output
    assert "squash --to 0002: not an ancestor of every head (0004 does not descend from it)" in result.output


def test_a_chain_with_errors_is_refused(copy_fixture):
    root = copy_fixture("squash_small")
    write_revision(root / "migrations" / "versions", "0004_side.py", "0004", "0001", "pass")
    result = run("squash", "--to", "0002", str(root))
    assert result.exit_code == 2
    assert "the chain has error-level findings (MD003); repair them first (`migdoc fix`)" in result.output


def test_data_migrations_are_refused_without_keep_or_drop_data(copy_fixture):
    root = copy_fixture("squash_history")
    before = snapshot(root)
    result = run("squash", "--to", "0007", str(root))
    assert result.exit_code == 2
    assert "1 data migration(s) in the range (0007 (0007_archive_old_users.py:23): UPDATE users" in result.output
    assert "--keep-data" in result.output and "--drop-data" in result.output
    assert snapshot(root) == before


def test_data_migrations_found_and_carried_only_when_literal(copy_fixture):
    root = copy_fixture("squash_small")
    versions = root / "migrations" / "versions"
    (versions / "0002_project_slug.py").write_text(
        (versions / "0002_project_slug.py")
        .read_text()
        .replace(
            '    op.create_unique_constraint("uq_projects_slug", "projects", ["slug"])',
            '    op.create_unique_constraint("uq_projects_slug", "projects", ["slug"])\n'
            '    projects = sa.table("projects", sa.column("name"), sa.column("slug"))\n'
            '    op.bulk_insert(projects, [{"name": "Default", "slug": "it\'s"}])\n'
            '    op.execute("CREATE INDEX ix_name ON projects (name); UPDATE projects SET slug = lower(name)")\n'
            "    op.get_bind().execute(projects.update().values(slug=None))\n"
            '    op.execute("SELECT 1")',
        ),
        encoding="utf-8",
    )
    project = doctor.load_project(root)
    context = doctor.read_plan_inputs(project, doctor.check_project(project).diagnostics)
    found = squash.plan_range(context, "0002").data
    assert [(m.line, m.what, m.statements) for m in found] == [
        (25, "op.bulk_insert into projects", ("INSERT INTO projects (name, slug) VALUES ('Default', 'it''s')",)),
        (26, "UPDATE projects SET slug = lower(name)", ("UPDATE projects SET slug = lower(name)",)),
        (27, "UPDATE built at run time", None),
    ]
    squashed = squash.plan_range(context, "0002")
    with pytest.raises(FixRefused, match=r"--keep-data cannot carry 0002 \(0002_project_slug.py:27\)"):
        squash.data_statements(squashed, squash.SquashOptions(to="0002", is_keep_data=True))
    assert squash.data_statements(squashed, squash.SquashOptions(to="0002", is_drop_data=True)) == ()


def test_keep_data_carries_literal_statements_in_order():
    squashed = squash.SquashRange(
        "b",
        1,
        (0, 1),
        (),
        (
            squash.DataMigration("a", "/v/a.py", 3, "INSERT ...", ("INSERT INTO t VALUES (1)",)),
            squash.DataMigration("b", "/v/b.py", 9, "UPDATE ...", ("UPDATE t SET x = 1", "DELETE FROM t")),
        ),
    )
    assert squash.data_statements(squashed, squash.SquashOptions(to="b", is_keep_data=True)) == (
        "INSERT INTO t VALUES (1)",
        "UPDATE t SET x = 1",
        "DELETE FROM t",
    )


def test_the_database_notes_say_what_a_stamped_database_needs():
    squashed = squash.SquashRange("0007", 6, tuple(range(7)), ("0008",), member_ids=frozenset({"0003", "0007"}))
    at_rev = squash.database_notes(squashed, squash.SquashOptions(to="0007", database_current=("0008",)))
    assert "needs nothing" in at_rev[0]
    before = squash.database_notes(squashed, squash.SquashOptions(to="0007", database_current=("0003",)))
    assert "run `alembic upgrade 0007` with the current chain BEFORE applying the squash" in before[0]
    assert squash.database_notes(squashed, squash.SquashOptions(to="0007")) == []


# -- the baseline's missing pieces, from the catalog ---------------------------------------


def test_differences_become_the_catalogs_own_ddl():
    body = _Body()
    unanswered = _answer(
        [
            SchemaChange("index", "public.ix_a", "removed", "CREATE INDEX ix_a ON public.t USING btree (a)", None),
            SchemaChange("check constraint", "public.t.ck_a", "removed", "CHECK ((a > 0))", None),
            SchemaChange("column", "public.t.a", "changed", "integer NULL DEFAULT 7", "integer NULL"),
            SchemaChange("table", "public.u", "added", None, "table"),
        ],
        body,
        {},
    )
    assert [create for create, _ in body.post] == [
        "CREATE INDEX ix_a ON public.t USING btree (a)",
        "ALTER TABLE public.t ADD CONSTRAINT ck_a CHECK ((a > 0))",
        "ALTER TABLE public.t ALTER COLUMN a SET DEFAULT 7",
    ]
    assert [change.name for change in unanswered] == ["public.u"]  # never dropped silently: listed
    assert _column_default("public.t.a", "integer NULL", "text NULL") is None


def test_a_schema_difference_fails_the_proof():
    proof = _compared("schema-at-rev", {("table", "public.t"): "table"}, {}, "equal")
    assert proof.is_failed and "table public.t is missing" in proof.why
    assert _compared("schema-at-rev", {("table", "public.t"): "table"}, {("table", "public.t"): "table"}, "eq").ok


# -- on PostgreSQL -------------------------------------------------------------------------


def test_squash_history_plan_diff_golden(copy_fixture, pg_server):
    root = copy_fixture("squash_history")
    before = snapshot(root)
    result = run("squash", "--to", "0007", "--drop-data", "--diff", "--server", pg_server.url, str(root))
    assert result.exit_code == 1, result.output  # a plan shown, not applied
    assert snapshot(root) == before  # nothing written
    assert_golden("squash/squash_history.diff", normalised(result.stdout, root))
    assert "proved: schema-at-rev:" in result.stderr
    assert "proved: downgrade-empties:" in result.stderr
    assert "proved: schema-at-heads:" in result.stderr


def test_squash_history_applies_rechecks_and_undoes(copy_fixture, pg_server):
    root = copy_fixture("squash_history")
    before = snapshot(root)
    result = run("squash", "--to", "0007", "--keep-data", "--apply", "--server", pg_server.url, str(root))
    assert result.exit_code == 0, result.output
    versions = sorted(p.name for p in (root / "migrations" / "versions").glob("*.py"))
    assert versions == ["0007_squashed_baseline.py", "0008_display_name.py"]
    baseline = (root / "migrations" / "versions" / "0007_squashed_baseline.py").read_text()
    assert "down_revision: Union[str, Sequence[str], None] = None" in baseline
    assert "CREATE TYPE public.user_status AS ENUM ('active', 'blocked', 'archived')" in baseline
    assert "UPDATE users SET status = 'archived'" in baseline  # --keep-data, after the schema
    assert baseline.index("UPDATE users") > baseline.index("op.create_table('invoices'")
    readme = next((root / "migrations" / "archive").glob("*/README.md")).read_text()
    assert readme.startswith("# Archived by `migdoc squash --to 0007` on ")
    checked = run("check", str(root))
    assert checked.exit_code == 0, checked.output
    graph = run("graph", str(root))
    assert graph.exit_code == 0 and "0008" in graph.output and "0007" in graph.output
    dryrun = run("dryrun", "--server", pg_server.url, str(root))
    assert dryrun.exit_code == 0, dryrun.output
    undone = run("squash", "--undo", str(root))
    assert undone.exit_code == 0, undone.output
    after = {k: v for k, v in snapshot(root).items() if not k.startswith((".migdoc", "migrations/archive"))}
    assert after == {k: v for k, v in before.items()}


def test_squash_small_to_the_head_and_back(copy_fixture, pg_server):
    root = copy_fixture("squash_small")
    result = run("squash", "--to", "0003", "--apply", "--server", pg_server.url, str(root))
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in (root / "migrations" / "versions").glob("*.py")) == ["0003_squashed_baseline.py"]
    assert run("check", str(root)).exit_code == 0
    again = run("squash", "--to", "0003", "--server", pg_server.url, str(root))
    assert again.exit_code == 1 and "proved: schema-at-rev" in again.output  # a baseline squashes to itself


def test_a_failed_proof_is_never_applied(copy_fixture):
    root = copy_fixture("squash_small")
    project = doctor.load_project(root)
    plan = doctor.Plan(strategies=("squash",), proofs=(Proof("schema-at-rev", False, "table public.t is missing"),))
    proposal = doctor.SquashProposal(doctor.check_project(project), squash.SquashOptions(to="0002"), plan)
    before = snapshot(root)
    with pytest.raises(ApplyError, match="the schema-at-rev proof failed"):
        doctor.apply_squash(project, proposal)
    assert snapshot(root) == before


def test_md016_names_the_squash_for_a_database_stamped_inside_it(copy_fixture, pg_server, pg_database):
    root = copy_fixture("squash_history")
    assert run("squash", "--to", "0007", "--drop-data", "--apply", "--server", pg_server.url, str(root)).exit_code == 0
    import sqlalchemy as sa

    engine = sa.create_engine(pg_database)
    with engine.begin() as connection:
        connection.execute(sa.text("CREATE TABLE alembic_version (version_num varchar(32) PRIMARY KEY)"))
        connection.execute(sa.text("INSERT INTO alembic_version VALUES ('0003')"))
    engine.dispose()
    result = run("check", "--database-url", pg_database, str(root))
    assert result.exit_code == 1
    assert "which `migdoc squash` archived" in result.output
    assert "into the baseline 0007" in result.output and "`alembic upgrade 0007`" in result.output
    status = run("status", "--database-url", pg_database, str(root))
    assert "`migdoc squash` archived it" in status.output and "into the baseline 0007" in status.output


def test_json_plan_and_what_a_stamped_database_needs(copy_fixture, pg_server, pg_database):
    import json

    import sqlalchemy as sa

    root = copy_fixture("squash_history")
    engine = sa.create_engine(pg_database)
    with engine.begin() as connection:
        connection.execute(sa.text("CREATE TABLE alembic_version (version_num varchar(32) PRIMARY KEY)"))
        connection.execute(sa.text("INSERT INTO alembic_version VALUES ('0003')"))
    engine.dispose()
    args = ("squash", "--to", "0007", "--drop-data", "--format", "json", "--server", pg_server.url)
    result = run(*args, "--database-url", pg_database, str(root))
    assert result.exit_code == 1, result.output
    payload = json.loads(result.stdout)
    assert [p["name"] for p in payload["proofs"] if p["ok"]] == [
        "revision-map",
        "no-new-errors",
        "schema-at-rev",
        "downgrade-empties",
        "schema-at-heads",
    ]
    notes = " ".join(payload["notes"])
    assert "the database is stamped at 0003, before 0007" in notes
    assert "run `alembic upgrade 0007` with the current chain BEFORE applying the squash" in notes
    warned = [w for a in payload["actions"] for w in a.get("warnings", [])]
    assert any("0003 is its current revision" in w for w in warned)


def test_a_squash_that_adds_an_error_is_rolled_back(copy_fixture):
    """The re-check after writing: a written chain with an error the original did not have
    (here a second file declaring 0001) is restored, file for file."""
    root = copy_fixture("squash_small")
    project = doctor.load_project(root)
    before = snapshot(root)
    duplicate = root / "migrations" / "versions" / "0001_again.py"
    plan = doctor.Plan(
        strategies=("squash",),
        actions=(
            CreateFile(
                path=str(duplicate),
                content="revision = '0001'\ndown_revision = None\nbranch_labels = None\ndepends_on = None\n",
                reason="test",
            ),
        ),
        proofs=(Proof("schema-at-rev", True, "equal"),),
    )
    proposal = doctor.SquashProposal(doctor.check_project(project), squash.SquashOptions(to="0002"), plan)
    result = doctor.apply_squash(project, proposal)
    assert result.is_rolled_back and result.errors_after > result.errors_before
    assert {k: v for k, v in snapshot(root).items() if not k.startswith(".migdoc")} == before
