"""Issue 13, item 3: the stairway's snapshot is kept up to date from what each step touched
(event triggers) instead of re-reading the whole catalog. These tests pin that the fast path
hides nothing: every kind of object the snapshot covers, left behind, missing or changed by
a downgrade, is reported exactly as the whole snapshot reports it; and a chain that does
every kind of DDL keeps a snapshot equal to a whole one after every step."""

from __future__ import annotations

from pathlib import Path

import pytest

from migdoc.doctor import load_project
from migdoc.dryrun.runner import Stairway
from migdoc.dryrun.schema import SchemaTracker, writes_a_catalog

pytestmark = pytest.mark.postgres

ENV_PY = """\
from alembic import context
from sqlalchemy import engine_from_config, pool

config = context.config
connectable = engine_from_config(config.get_section(config.config_ini_section, {}), prefix="sqlalchemy.",
                                 poolclass=pool.NullPool)
with connectable.connect() as connection:
    # as migdoc dryrun runs it (its connection guard turns this on): a transaction per step
    context.configure(connection=connection, transaction_per_migration=True)
    with context.begin_transaction():
        context.run_migrations()
"""

REVISION = '''\
"""step {i}"""
from alembic import op

revision = "r{i:03d}"
down_revision = {down}
branch_labels = None
depends_on = None


def upgrade():
    for statement in {up!r}:
        op.execute(statement)


def downgrade():
    for statement in {down_sql!r}:
        op.execute(statement)
'''


# an env.py that keeps the whole run in one transaction of its own (the event triggers
# and every step share it)
ENV_PY_ONE_TRANSACTION = """\
from alembic import context
from sqlalchemy import engine_from_config, pool

config = context.config
connectable = engine_from_config(config.get_section(config.config_ini_section, {}), prefix="sqlalchemy.",
                                 poolclass=pool.NullPool)
with connectable.begin() as connection:
    context.configure(connection=connection)
    context.run_migrations()
"""


def write_project(root: Path, steps: list[tuple[list[str], list[str]]], env_py: str = ENV_PY) -> Path:
    versions = root / "migrations" / "versions"
    versions.mkdir(parents=True)
    (root / "alembic.ini").write_text("[alembic]\nscript_location = %(here)s/migrations\nsqlalchemy.url = x://\n")
    (root / "migrations" / "env.py").write_text(env_py)
    for i, (up, down) in enumerate(steps):
        down_rev = "None" if i == 0 else f'"r{i - 1:03d}"'
        text = REVISION.format(i=i, down=down_rev, up=list(up), down_sql=list(down))
        (versions / f"r{i:03d}_step.py").write_text(text)
    return root


def stairway(root: Path, url: str, monkeypatch, *, fast: bool) -> Stairway:
    """A run with the event triggers (fast) or with a whole snapshot at every step (as before)."""
    with monkeypatch.context() as patch:
        if not fast:
            patch.setattr(SchemaTracker, "_install", lambda self: False)
        run = Stairway(load_project(root), url, verify_snapshots=fast)
        run.run()
    return run


BASE = [
    (
        [
            "CREATE TYPE mood AS ENUM ('calm', 'busy')",
            "CREATE DOMAIN score AS integer",
            "CREATE SEQUENCE counter INCREMENT 1",
            "CREATE TABLE parent (id serial PRIMARY KEY, code varchar(10) NOT NULL UNIQUE, feeling mood)",
            "CREATE TABLE child (id serial PRIMARY KEY, parent_id integer REFERENCES parent (id), "
            "a integer CONSTRAINT ck_child_a CHECK (a > 0), b integer, points score)",
            "CREATE INDEX ix_child_a ON child (a)",
            "CREATE VIEW child_view AS SELECT id, a FROM child",
        ],
        [
            "DROP VIEW child_view",
            "DROP TABLE child",
            "DROP TABLE parent",
            "DROP SEQUENCE counter",
            "DROP DOMAIN score",
            "DROP TYPE mood",
        ],
    )
]

# (what the last revision's upgrade does, what its wrong downgrade does, words the report must hold)
LEFTOVERS = {
    "column default left": (
        ["ALTER TABLE child ALTER COLUMN b SET DEFAULT 5"],
        [],
        "column public.child.b differs: was integer NULL; now integer NULL DEFAULT 5",
    ),
    "column left": (["ALTER TABLE child ADD COLUMN c text"], [], "column public.child.c is left behind: text NULL"),
    "column nullability": (
        ["ALTER TABLE child ALTER COLUMN b SET NOT NULL"],
        [],
        "column public.child.b differs: was integer NULL; now integer NOT NULL",
    ),
    "column type without a rewrite": (
        ["ALTER TABLE parent ALTER COLUMN code TYPE varchar(20)"],
        [],
        "column public.parent.code differs: was character varying(10) NOT NULL; now character varying(20) NOT NULL",
    ),
    "column renamed": (["ALTER TABLE child RENAME COLUMN b TO bee"], [], "column public.child.bee is left behind"),
    "index on another column": (
        ["DROP INDEX ix_child_a", "CREATE INDEX ix_child_a ON child (b)"],
        [],
        "index public.ix_child_a differs: was CREATE INDEX ix_child_a ON public.child USING btree (a); "
        "now CREATE INDEX ix_child_a ON public.child USING btree (b)",
    ),
    "index dropped by the downgrade": (
        [],
        ["DROP INDEX ix_child_a"],
        "index public.ix_child_a is missing: CREATE INDEX ix_child_a ON public.child USING btree (a)",
    ),
    "check constraint with another expression": (
        ["ALTER TABLE child DROP CONSTRAINT ck_child_a", "ALTER TABLE child ADD CONSTRAINT ck_child_a CHECK (a > 10)"],
        ["ALTER TABLE child DROP CONSTRAINT ck_child_a", "ALTER TABLE child ADD CONSTRAINT ck_child_a CHECK (a > 1)"],
        "check constraint public.child.ck_child_a differs: was CHECK ((a > 0)); now CHECK ((a > 1))",
    ),
    "unique constraint left": (
        ["ALTER TABLE child ADD CONSTRAINT uq_child_b UNIQUE (b)"],
        [],
        "unique constraint public.child.uq_child_b is left behind: UNIQUE (b)",
    ),
    "enum value left": (
        ["ALTER TYPE mood ADD VALUE 'tired'"],
        [],
        "type public.mood differs: was ENUM ('calm', 'busy'); now ENUM ('calm', 'busy', 'tired')",
    ),
    "sequence increment": (
        ["ALTER SEQUENCE counter INCREMENT 5"],
        [],
        "sequence public.counter differs: was bigint START 1 INCREMENT 1; now bigint START 1 INCREMENT 5",
    ),
    "domain base type": (
        ["DROP DOMAIN score CASCADE", "CREATE DOMAIN score AS bigint"],
        ["DROP DOMAIN score", "CREATE DOMAIN score AS smallint"],
        "type public.score differs: was DOMAIN integer; now DOMAIN smallint",
    ),
    "view definition": (
        ["CREATE OR REPLACE VIEW child_view AS SELECT id, a FROM child WHERE a > 3"],
        [],
        "view public.child_view differs",
    ),
    "referenced table renamed": (
        ["ALTER TABLE parent RENAME TO mother"],
        [],
        "foreign key public.child.child_parent_id_fkey differs: was FOREIGN KEY (parent_id) REFERENCES parent(id); "
        "now FOREIGN KEY (parent_id) REFERENCES mother(id)",
    ),
    "table dropped by the downgrade": (
        ["CREATE TABLE extra (id integer)"],
        ["DROP TABLE extra", "DROP VIEW child_view"],
        "view public.child_view is missing",
    ),
    "schema left": (["CREATE SCHEMA audit", "CREATE TABLE audit.log (id integer)"], [], "schema audit is left behind"),
    # a migration that drops (or disables) every event trigger, the stairway's among them: the
    # steps after it are no longer reported by them, and must still be seen
    "event triggers dropped": (
        [
            "DO $$ DECLARE t record; BEGIN FOR t IN SELECT evtname FROM pg_event_trigger LOOP "
            "EXECUTE format('DROP EVENT TRIGGER %I', t.evtname); END LOOP; END $$",
            "CREATE TABLE extra (id integer)",
            "CREATE INDEX ix_extra ON extra (id)",
        ],
        ["DROP INDEX ix_extra"],
        "table public.extra is left behind",
    ),
    "event triggers disabled": (
        [
            "DO $$ DECLARE t record; BEGIN FOR t IN SELECT evtname FROM pg_event_trigger LOOP "
            "EXECUTE format('ALTER EVENT TRIGGER %I DISABLE', t.evtname); END LOOP; END $$",
            "CREATE TABLE extra (id integer)",
        ],
        ["ALTER TABLE extra ADD COLUMN leftover integer"],
        "column public.extra.leftover is left behind",
    ),
    "default of a new column via DDL in a DO block": (
        ["DO $$ BEGIN EXECUTE 'ALTER TABLE child ALTER COLUMN a SET DEFAULT 7'; END $$"],
        [],
        "column public.child.a differs: was integer NULL; now integer NULL DEFAULT 7",
    ),
}


@pytest.mark.parametrize("case", sorted(LEFTOVERS))
def test_a_wrong_downgrade_is_reported_as_the_whole_snapshot_reports_it(tmp_path, pg_server, monkeypatch, case):
    up, down, words = LEFTOVERS[case]
    root = write_project(tmp_path / "project", [*BASE, (["SELECT 1", *up], ["SELECT 1", *down])])
    reports = []
    for fast in (True, False):
        database = f"snap_{'fast' if fast else 'whole'}_{abs(hash(case)) % 10**8}"
        with pg_server.connect() as connection:
            connection.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
            connection.execute(f'CREATE DATABASE "{database}" TEMPLATE template0')
        try:
            run = stairway(root, pg_server.url_for(database), monkeypatch, fast=fast)
        finally:
            with pg_server.connect() as connection:
                connection.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
        failure = run.result.failure
        assert failure is not None and failure.phase == "consistency" and failure.revision == "r001", failure
        reports.append([change.describe() for change in failure.schema_diff])
        tracker = run._tracker
        assert tracker is not None and tracker.fast is fast
        # the look after the upgrade found the triggers gone (and made them again); the run
        # goes on after the consistency failure, and the re-upgrade takes them away once more
        assert tracker.untracked_steps == (2 if fast and case.startswith("event triggers") else 0)
    fast_report, whole_report = reports
    assert fast_report == whole_report
    assert any(words in line for line in fast_report), fast_report


@pytest.mark.parametrize("env_py", [ENV_PY, ENV_PY_ONE_TRANSACTION], ids=["step_transactions", "one_transaction"])
def test_every_kind_of_ddl_keeps_the_snapshot_equal_to_a_whole_one(tmp_path, pg_database, monkeypatch, env_py):
    """verify_snapshots compares the kept snapshot with a whole one after every step: any
    object the fast path missed fails the run with SnapshotMismatch."""
    # each upgrade stays for the next revision: later steps use the names earlier ones gave
    steps = [
        *BASE,
        (["ALTER TABLE child ADD COLUMN c text DEFAULT 'x'"], ["ALTER TABLE child DROP COLUMN c"]),
        (["ALTER TABLE child ALTER COLUMN b SET DEFAULT 5"], ["ALTER TABLE child ALTER COLUMN b DROP DEFAULT"]),
        (["ALTER TABLE child RENAME COLUMN b TO bee"], ["ALTER TABLE child RENAME COLUMN bee TO b"]),
        (["ALTER TABLE parent RENAME TO mother"], ["ALTER TABLE mother RENAME TO parent"]),
        (["ALTER TYPE mood RENAME TO temper"], ["ALTER TYPE temper RENAME TO mood"]),
        (["ALTER SEQUENCE counter RENAME TO tally"], ["ALTER SEQUENCE tally RENAME TO counter"]),
        (["ALTER INDEX ix_child_a RENAME TO ix_child_aa"], ["ALTER INDEX ix_child_aa RENAME TO ix_child_a"]),
        (["ALTER TABLE child ALTER COLUMN bee TYPE bigint"], ["ALTER TABLE child ALTER COLUMN bee TYPE integer"]),
        (["DROP INDEX ix_child_aa"], ["CREATE INDEX ix_child_aa ON child (a)"]),
        (
            ["ALTER TABLE child DROP CONSTRAINT ck_child_a"],
            ["ALTER TABLE child ADD CONSTRAINT ck_child_a CHECK (a > 0)"],
        ),
        (["CREATE MATERIALIZED VIEW totals AS SELECT count(*) AS n FROM child"], ["DROP MATERIALIZED VIEW totals"]),
        (["CREATE SCHEMA audit", "CREATE TABLE audit.log (id serial PRIMARY KEY)"], ["DROP SCHEMA audit CASCADE"]),
        (
            ["CREATE TABLE moved (id integer)", "CREATE SCHEMA side", "ALTER TABLE moved SET SCHEMA side"],
            ["DROP SCHEMA side CASCADE"],
        ),
        (["ALTER TYPE temper ADD VALUE 'tired'"], ["DELETE FROM pg_enum WHERE enumlabel = 'tired'"]),
        (
            [
                "SET session_replication_role = replica",
                "CREATE TABLE quiet (id integer)",
                "RESET session_replication_role",
            ],
            ["DROP TABLE quiet"],
        ),
        (
            ["CREATE TEMP TABLE IF NOT EXISTS scratch (id integer)", "CREATE TABLE kept (id integer)"],
            ["DROP TABLE kept"],
        ),
        (
            ["CREATE TABLE other (id serial PRIMARY KEY, x integer)", "CREATE INDEX ix_other_x ON other (x)"],
            ["DROP TABLE other"],
        ),
        (["DROP VIEW child_view"], ["CREATE VIEW child_view AS SELECT id, a FROM child"]),
        (
            ["CREATE DOMAIN positive AS integer CHECK (VALUE > 0)", "ALTER TABLE child ADD COLUMN p positive"],
            ["ALTER TABLE child DROP COLUMN p", "DROP DOMAIN positive"],
        ),
    ]
    root = write_project(tmp_path / "project", steps, env_py)
    run = stairway(root, pg_database, monkeypatch, fast=True)
    assert run.result.ok, (run.result.failure.phase, run.result.failure.error)
    tracker = run._tracker
    assert tracker is not None and tracker.fast
    # whole reads: the first, and after the steps that made or dropped a schema or wrote pg_enum
    assert tracker.full_reads < len(steps)


def test_a_step_that_writes_a_catalog_table_is_read_whole(tmp_path, pg_database, monkeypatch):
    steps = [
        *BASE,
        (["ALTER TYPE mood ADD VALUE 'tired'"], ["DELETE FROM pg_catalog.pg_enum WHERE enumlabel = 'tired'"]),
    ]
    run = stairway(write_project(tmp_path / "project", steps), pg_database, monkeypatch, fast=True)
    assert run.result.ok, run.result.failure  # the downgrade did undo it: no false "type differs"
    assert run._tracker is not None and run._tracker.full_reads == 2


def test_catalog_writes_are_recognised():
    assert writes_a_catalog("DELETE FROM pg_enum WHERE enumlabel = 'x'")
    assert writes_a_catalog('update "pg_catalog"."pg_attribute" set attnotnull = true')
    assert writes_a_catalog("INSERT INTO pg_catalog.pg_enum VALUES (1)")
    assert not writes_a_catalog("UPDATE alembic_version SET version_num = 'x'")
    assert not writes_a_catalog("DELETE FROM pg_catalog.migdoc_dryrun_touched")
    assert not writes_a_catalog("SELECT * FROM pg_enum")


def test_without_the_right_to_make_event_triggers_every_step_reads_the_whole_schema(
    tmp_path, pg_server, pg_database, monkeypatch
):
    """A borrowed server where migdoc's role is no superuser: the whole snapshot each time."""
    role = "snap_plain_role"
    name = pg_database.split("@/", 1)[1].split("?")[0]
    with pg_server.connect() as connection:
        connection.execute(f"DROP ROLE IF EXISTS {role}")
        connection.execute(f"CREATE ROLE {role} LOGIN")
        connection.execute(f'ALTER DATABASE "{name}" OWNER TO {role}')
    try:
        steps = [*BASE, (["ALTER TABLE child ADD COLUMN c text"], [])]
        url = pg_database.replace("postgres@", f"{role}@")
        run = stairway(write_project(tmp_path / "project", steps), url, monkeypatch, fast=True)
        assert run.result.failure is not None and run.result.failure.phase == "consistency"
        assert [c.describe() for c in run.result.failure.schema_diff] == [
            "column public.child.c is left behind: text NULL"
        ]
        # the first, then two a revision, then two more after the failure: the database is
        # rebuilt to go on, and read whole again
        assert run._tracker is not None and not run._tracker.fast and run._tracker.full_reads == 5 + 2
    finally:
        with pg_server.connect() as connection:
            connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            connection.execute(f"DROP ROLE IF EXISTS {role}")


OTHER_SESSION = '''\
"""a table made on a second connection of the migration's own"""
import sqlalchemy as sa
from alembic import op

revision = "r001"
down_revision = "r000"
branch_labels = None
depends_on = None


def upgrade():
    engine = sa.create_engine(op.get_bind().engine.url, isolation_level="AUTOCOMMIT", poolclass=sa.pool.NullPool)
    with engine.connect() as other:
        other.execute(sa.text("CREATE TABLE elsewhere (id integer)"))


def downgrade():
    pass
'''


def test_ddl_on_another_connection_is_seen(tmp_path, pg_database, monkeypatch):
    """DDL made on a second connection is in the report."""
    root = write_project(tmp_path / "project", BASE)
    (root / "migrations" / "versions" / "r001_elsewhere.py").write_text(OTHER_SESSION)
    run = stairway(root, pg_database, monkeypatch, fast=True)
    failure = run.result.failure
    assert failure is not None and failure.phase == "consistency" and failure.revision == "r001"
    assert [change.describe() for change in failure.schema_diff] == [
        "column public.elsewhere.id is left behind: integer NULL",
        "table public.elsewhere is left behind: table",
    ]
    # a statement on a connection other than env.py's: that look reads the whole schema
    assert run._tracker is not None and run._tracker.fast and run._tracker.full_reads == 2
