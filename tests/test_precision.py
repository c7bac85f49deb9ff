"""Rules that must not cry wolf on real, healthy code: MD011, MD012, MD015 (from literal source)."""

from __future__ import annotations

import textwrap

import pytest

from migdoc.chain.graph import build_graph
from migdoc.chain.replay import find_redundancies
from migdoc.project.reader import read_revision


def source(rev: str, down: str | None, upgrade: str, head: str = "") -> bytes:
    return (
        f"from alembic import op\nimport sqlalchemy as sa\nimport os\n{textwrap.dedent(head)}\n"
        f"revision = {rev!r}\ndown_revision = {down!r}\n\n"
        f"def upgrade():\n{textwrap.indent(textwrap.dedent(upgrade), '    ')}\n\n"
        "def downgrade():\n    pass\n"
    ).encode()


def read(rev: str, down: str | None, upgrade: str, head: str = ""):
    return read_revision(f"versions/{rev}.py", source(rev, down, upgrade, head))


def redundancies(*files) -> list[str]:
    graph = build_graph(files)
    return [r.description for r in find_redundancies(graph)]


# -- MD012: objects keyed as PostgreSQL scopes them -----------------------------


def test_one_column_on_tables_of_the_same_name_in_two_schemas_is_fine():
    first = read(
        "a",
        None,
        """
        op.add_column("tokens", sa.Column("use_count", sa.Integer()), schema="users")
        op.add_column("tokens", sa.Column("use_count", sa.Integer()), schema="oauth")
    """,
    )
    assert [op.schema for op in first.upgrade.operations] == ["users", "oauth"]
    assert redundancies(first) == []
    again = read("b", "a", 'op.add_column("tokens", sa.Column("use_count", sa.Integer()), schema="oauth")')
    assert redundancies(first, again) == ["adds column oauth.tokens.use_count, which already exists"]


def test_check_and_foreign_key_names_are_per_table():
    checks = read(
        "a",
        None,
        """
        op.create_check_constraint("positive", "breaks", "d > 0", schema="events")
        op.create_check_constraint("positive", "sessions", "d > 0", schema="events")
        op.create_foreign_key("fk_owner", "breaks", "users", ["owner_id"], ["id"])
        op.create_foreign_key("fk_owner", "sessions", "users", ["owner_id"], ["id"])
    """,
    )
    assert redundancies(checks) == []
    again = read("b", "a", 'op.create_check_constraint("positive", "sessions", "d > 0", schema="events")')
    assert redundancies(checks, again) == ["creates constraint 'positive' on events.sessions, which already exists"]


def test_index_names_are_per_schema():
    indexes = read(
        "a",
        None,
        """
        op.create_index("ix_tokens_ip", "tokens", ["ip"], schema="users")
        op.create_index("ix_tokens_ip", "tokens", ["ip"], schema="oauth")
    """,
    )
    assert redundancies(indexes) == []
    # the same name on another table of the same schema collides in PostgreSQL
    other_table = read("b", "a", 'op.create_index("ix_tokens_ip", "sessions", ["ip"], schema="oauth")')
    assert redundancies(indexes, other_table) == ["creates index 'ix_tokens_ip', which already exists"]


def test_a_constraint_dropped_by_its_convention_name_is_not_there_any_more():
    create = read("a", None, 'op.create_check_constraint("positive", "breaks", "d > 0", schema="events")')
    drop = read("b", "a", 'op.drop_constraint("ck_breaks_positive", "breaks", schema="events")')
    recreate = read("c", "b", 'op.create_check_constraint("positive", "breaks", "d >= 0", schema="events")')
    assert redundancies(create, drop, recreate) == []


def test_a_schema_chosen_at_run_time_is_uncertain():
    create = read("a", None, 'op.add_column("tokens", sa.Column("ip", sa.Text()), schema="users")')
    loop = read(
        "b",
        "a",
        """
        schema = os.environ["SCHEMA"]
        op.add_column("tokens", sa.Column("ip", sa.Text()), schema=schema)
    """,
    )
    assert not loop.upgrade.operations[0].is_certain
    assert redundancies(create, loop) == []


def test_drop_constraint_type_is_read():
    rf = read("a", None, 'op.drop_constraint("uq_x", "t", type_="unique")')
    assert rf.upgrade.operations[0].constraint_type == "unique"


# -- MD015: only values from outside the file's constants -----------------------

SAFE = [
    ('for table in ("a", "b"):\n    op.execute(f"UPDATE {table} SET x = 1")', ""),
    ('op.execute(f"UPDATE t SET plan = \'{PLAN}\'")', 'PLAN = "basic"'),
    ('for old, new in RENAMES.items():\n    op.execute("UPDATE t SET p = \'{}\' WHERE p = \'{}\'".format(new, old))',
     'RENAMES = {"a": "b"}'),
    ('op.execute(f"UPDATE t SET state = {State.done}")', "class State:\n    done = 3"),
    ('for i in range(4, 8):\n    op.execute("UPDATE t SET slug = \'g-{0}\'".format(i))', ""),
    ('new_id = uuid.uuid4()\nop.execute(f"INSERT INTO t VALUES (\'{new_id}\')")', "import uuid"),
    ('op.execute("UPDATE t SET v = \'%s\'" % json.dumps(VALUE))', "import json\nVALUE = {'a': 1}"),
    ('cols = ", ".join(c.upper() for c in COLUMNS)\nop.execute(f"SELECT {cols} FROM t")', 'COLUMNS = ["a"]'),
]  # fmt: skip
UNSAFE = [
    ('start = op.get_bind().execute(sa.text("SELECT max(id) FROM t")).scalar()\n'
     'op.execute(f"CREATE SEQUENCE s START WITH {start}")', ""),
    ('op.execute("UPDATE t SET d = \'%s\'" % os.environ["DOMAIN"])', ""),
    ('op.execute("UPDATE t SET d = \'" + lookup() + "\'")', "def lookup():\n    return 'x'"),
    ('for row in op.get_bind().execute(sa.text("SELECT id FROM t")):\n'
     '    op.execute(f"DELETE FROM u WHERE t_id = {row.id}")', ""),
    ('op.execute(f"UPDATE t SET x = {IMPORTED}")', "from app.settings import IMPORTED"),
    ('op.execute(f"UPDATE t SET x = {PLAN}")', 'PLAN = "basic"\nPLAN = os.environ["PLAN"]'),
    ('table = "a"\ntable = os.environ["T"]\nop.execute(f"DELETE FROM {table}")', ""),
    ('for user in User.query.all():\n    op.execute(f"UPDATE t SET owner = \'{user.name}\'")', "class User(Base):\n    pass"),
]  # fmt: skip


@pytest.mark.parametrize(("body", "head"), SAFE)
def test_sql_from_the_files_own_constants_is_not_md015(body, head):
    rf = read("a", None, body, head)
    assert rf.upgrade.unsafe_sql_lines == ()


@pytest.mark.parametrize(("body", "head"), UNSAFE)
def test_sql_from_outside_the_files_constants_is_md015(body, head):
    rf = read("a", None, body, head)
    assert len(rf.upgrade.unsafe_sql_lines) == 1


def test_a_helper_parameter_is_not_a_constant():
    text = source("a", None, "def helper(table):\n    op.execute(f'DELETE FROM {table}')\nhelper('t')")
    assert read_revision("v/a.py", text).upgrade.unsafe_sql_lines != ()


# -- MD011: the module-level values a body reads are part of its work -----------

LOOP = """
    for old, new in RENAMES:
        op.execute(sa.text("UPDATE t SET v = :new WHERE v = :old").bindparams(old=old, new=new))
"""


def test_same_upgrade_text_over_different_module_lists_is_different_work():
    first = read("a", None, LOOP, 'RENAMES = [("x", "y")]')
    second = read("b", "a", LOOP, 'RENAMES = [("p", "q")]')
    assert first.upgrade.fingerprint != second.upgrade.fingerprint
    copy = read("c", "b", LOOP, 'RENAMES = [ ("x", "y") ]  # same values, other spacing')
    assert first.upgrade.fingerprint == copy.upgrade.fingerprint


def test_a_local_name_that_shadows_a_module_value_does_not_count():
    body = 'RENAMES = []\nop.execute("SELECT 1")'
    assert (
        read("a", None, body, "RENAMES = [1]").upgrade.fingerprint
        == read("b", None, body, "RENAMES = [2]").upgrade.fingerprint
    )


def test_a_placeholder_with_an_early_return_guard_does_no_work():
    rf = read("a", None, "if skip_based_on_legacy_engine(op):\n    return\npass")
    assert not rf.upgrade.does_work
    real = read("b", None, "if skip(op):\n    return\nop.drop_column('t', 'c')")
    assert real.upgrade.does_work


# -- MD011 and MD013 on what the replay and the SQL say ---------------------------


def checked(code: str, *files):
    from migdoc.rules import CheckContext, run_checks

    result = run_checks(CheckContext(graph=build_graph(files)), codes=(code,))
    return [(d.revision, d.severity.value) for d in result.diagnostics]


CREATE = 'op.create_table("attestation", sa.Column("id", sa.Integer()))'


def test_a_table_re_created_after_a_rollback_is_not_duplicate_content():
    files = [
        read("a", None, CREATE),
        read("b", "a", 'op.drop_table("attestation")'),
        read("c", "b", CREATE),
    ]
    assert checked("MD011", *files) == []
    # without the rollback in between the copy is reported (and MD012 says why)
    assert checked("MD011", files[0], read("c", "a", CREATE)) == [("c", "warning")]


def test_a_data_only_backfill_needs_no_downgrade():
    backfill = read("a", None, 'op.execute("UPDATE t SET hidden = true WHERE hidden IS NULL")')
    schema = read("b", "a", 'op.add_column("t", sa.Column("c", sa.Text()))')
    assert checked("MD013", backfill, schema) == [("b", "warning")]


def test_a_project_that_never_downgrades_gets_info_not_warnings():
    no_downgrade = [
        read(f"r{i}", f"r{i - 1}" if i else None, f'op.add_column("t", sa.Column("c{i}", sa.Text()))') for i in range(6)
    ]
    assert {severity for _, severity in checked("MD013", *no_downgrade)} == {"info"}
    # one forgotten downgrade in a project that writes them stays a warning
    with_downgrades = [
        read_revision(
            f"versions/d{i}.py",
            source(f"d{i}", f"d{i - 1}" if i else None, f'op.add_column("t", sa.Column("c{i}", sa.Text()))').replace(
                b"def downgrade():\n    pass\n", f'def downgrade():\n    op.drop_column("t", "c{i}")\n'.encode()
            ),
        )
        for i in range(6)
    ]
    assert checked("MD013", *with_downgrades, no_downgrade[0]) == [("r0", "warning")]


def test_a_downgrade_that_refuses_on_purpose_is_info():
    refusing = read_revision(
        "versions/a.py",
        source("a", None, 'op.drop_column("t", "c")').replace(
            b"def downgrade():\n    pass\n", b'def downgrade():\n    raise RuntimeError("Cannot undelete data!")\n'
        ),
    )
    silent = read("b", "a", 'op.drop_column("t", "d")')
    assert checked("MD013", refusing, silent) == [("a", "info"), ("b", "warning")]


BACKFILL_IN_A_LOOP = """
for table_name in ("templates", "templates_history"):
    op.execute(f"INSERT INTO {table_name} (id) VALUES ('{NEW_ID}') ON CONFLICT DO NOTHING")
conn = op.get_bind()
for row in conn.execute(sa.text("SELECT id FROM releases")):
    conn.execute(releases.update().where(releases.c.id == row.id).values(done=True))
"""


def test_row_changes_in_loops_leave_the_schema_certain():
    rf = read("b", "a", BACKFILL_IN_A_LOOP, 'NEW_ID = "x"\nreleases = sa.table("releases")')
    assert all(op.kind == "execute" for op in rf.upgrade.operations)
    create = read("a", None, 'op.add_column("t", sa.Column("c", sa.Text()))')
    again = read("c", "b", 'op.add_column("t", sa.Column("c", sa.Text()))')
    assert redundancies(create, rf, again) == ["adds column t.c, which already exists"]
    assert checked("MD013", rf) == []  # a backfill: nothing for a downgrade to undo


def test_schema_changes_built_at_run_time_stay_uncertain():
    rf = read("b", "a", 'for t in TABLES:\n    op.execute(f"ALTER TABLE {t} ADD COLUMN c text")', 'TABLES = ("t",)')
    assert any(op.kind == "unknown" for op in rf.upgrade.operations)
    create = read("a", None, 'op.add_column("t", sa.Column("c", sa.Text()))')
    again = read("c", "b", 'op.add_column("t", sa.Column("c", sa.Text()))')
    assert redundancies(create, rf, again) == []
    ddl = read("d", "a", 'op.get_bind().execute(sa.text("ALTER TABLE t DROP COLUMN c"))')
    assert redundancies(create, ddl, read("e", "d", 'op.add_column("t", sa.Column("c", sa.Text()))')) == []


def test_operations_after_a_dialect_guard_are_conditional():
    create = read("a", None, 'op.create_table("files", sa.Column("id", sa.Integer()))')
    sqlite_only = read("b", "a", "if settings.postgres_uri:\n    return\n" + CREATE.replace("attestation", "files"))
    assert redundancies(create, sqlite_only) == []


def test_a_revises_header_of_none_or_a_written_out_tuple_matches():
    def header(revises: str, down):
        text = f'"""m\n\nRevision ID: a\nRevises: {revises}\n\n"""\nrevision = "a"\ndown_revision = {down!r}\n'
        return read_revision("versions/a.py", text.encode())

    assert checked("MD007", header("None", None)) == []
    assert checked("MD007", header("('x', 'y')", ("x", "y"))) == []
    assert checked("MD007", header("z", ("x", "y"))) == [("a", "warning")]
