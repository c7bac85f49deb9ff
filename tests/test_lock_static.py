"""The static lock-risk reader (MD025-MD028 for `check`): each risk on a table an earlier
revision created, each safe pattern silent, and the same calls on a table the revision
creates itself silent. Called directly: the rules are registered by migdoc.rules.locks."""

from __future__ import annotations

from pathlib import Path

import pytest
from rulekit import revision

from migdoc.chain.graph import build_graph
from migdoc.doctor import load_project
from migdoc.rules.lock_static import split_sql, static_lock_findings
from migdoc.rules.registry import CheckContext

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"

BASE = (
    "op.create_table('orders', sa.Column('id', sa.Integer(), primary_key=True), "
    "sa.Column('status', sa.String(10)), sa.Column('customer_id', sa.Integer()))\n"
    "op.create_table('customers', sa.Column('id', sa.Integer(), primary_key=True))"
)


def found(body: str, *, timeout: bool = False, base: str = BASE) -> list[tuple[str, int]]:
    """(code, line) of each finding of a revision with ``body`` after one that makes the tables."""
    files = [revision("0001", upgrade=base), revision("0002", "0001", upgrade=body)]
    assert all(rf.read_error is None and rf.upgrade is not None for rf in files), "the case must parse"
    context = CheckContext(graph=build_graph(files), is_lock_timeout_set=timeout)
    return [(code, finding.line) for code, finding in static_lock_findings(context)]


def codes(body: str, **options) -> list[str]:
    return [code for code, _ in found(body, **options)]


RISKS = [
    ("op.create_index('ix_orders_status', 'orders', ['status'])", "MD025"),
    ("op.execute('CREATE INDEX ix_orders_status ON orders (status)')", "MD025"),
    ("op.create_unique_constraint('uq_orders_status', 'orders', ['status'])", "MD025"),
    ("op.execute('ALTER TABLE orders ADD CONSTRAINT uq UNIQUE (status)')", "MD025"),
    (
        "op.add_column('orders', sa.Column('token', sa.Uuid(), nullable=False, server_default=sa.text('gen_random_uuid()')))",
        "MD026",
    ),
    ("op.add_column('orders', sa.Column('seen', sa.DateTime(), server_default=sa.func.clock_timestamp()))", "MD026"),
    ("op.add_column('orders', sa.Column('n', sa.Integer(), sa.Identity()))", "MD026"),
    ("op.execute('ALTER TABLE orders ADD COLUMN n bigserial')", "MD026"),
    ("op.alter_column('orders', 'customer_id', type_=sa.BigInteger(), existing_type=sa.Integer())", "MD026"),
    ("op.execute('ALTER TABLE orders ALTER COLUMN customer_id TYPE bigint')", "MD026"),
    ("op.alter_column('orders', 'status', type_=sa.String(5), existing_type=sa.String(10))", "MD026"),
    ("op.alter_column('orders', 'customer_id', type_=sa.Text(), existing_type=sa.Integer())", "MD026"),
    (
        "with op.batch_alter_table('orders') as batch:\n    batch.alter_column('customer_id', type_=sa.BigInteger())",
        "MD026",
    ),
    ("op.add_column('orders', sa.Column('n', sa.Integer(), server_default=sa.Sequence('s').next_value()))", "MD026"),
    ("op.add_column('orders', sa.Column('total', sa.Integer(), sa.Computed('id * 2')))", "MD026"),
    ("op.execute('VACUUM FULL orders')", "MD026"),
    ("op.create_foreign_key('fk_orders_customer', 'orders', 'customers', ['customer_id'], ['id'])", "MD027"),
    ("op.create_check_constraint('ck_status', 'orders', \"status <> ''\")", "MD027"),
    ("op.alter_column('orders', 'status', nullable=False, existing_type=sa.String(10))", "MD027"),
    ("op.execute('ALTER TABLE orders ADD CONSTRAINT fk FOREIGN KEY (customer_id) REFERENCES customers (id)')", "MD027"),
    ("op.execute('ALTER TABLE orders ALTER COLUMN status SET NOT NULL')", "MD027"),
    ("op.execute('LOCK TABLE orders')", "MD028"),
    ("op.execute('LOCK TABLE orders IN EXCLUSIVE MODE')", "MD028"),
    ("op.execute('TRUNCATE orders')", "MD028"),
]


@pytest.mark.parametrize(("body", "code"), RISKS)
def test_each_risk_on_an_earlier_table_is_found_at_its_line(body, code):
    assert found(body) == [(code, _line_of(body))]


def _line_of(body: str) -> int:
    # rulekit's template puts the first body line of upgrade() at this line
    rf = revision("0002", "0001", upgrade=body)
    return rf.upgrade.operations[0].line


@pytest.mark.parametrize(("body", "code"), RISKS)
def test_the_same_call_on_a_table_the_revision_creates_is_silent(body, code):
    fresh = BASE.replace("'orders'", "'fresh'").replace("'customers'", "'fresh_customers'")
    moved = body.replace("orders", "fresh")
    assert codes(f"{fresh}\n{moved}", base="op.create_table('other', sa.Column('id', sa.Integer()))") == []


SAFE = [
    # concurrently inside autocommit_block
    "with op.get_context().autocommit_block():\n"
    "    op.create_index('ix_orders_status', 'orders', ['status'], postgresql_concurrently=True)",
    "with op.get_context().autocommit_block():\n"
    "    op.execute('CREATE INDEX CONCURRENTLY IF NOT EXISTS ix ON orders (status)')",
    # NOT VALID, then VALIDATE
    "op.create_foreign_key('fk', 'orders', 'customers', ['customer_id'], ['id'], postgresql_not_valid=True)",
    "op.execute('ALTER TABLE orders ADD CONSTRAINT fk FOREIGN KEY (customer_id) REFERENCES customers (id) NOT VALID')",
    "op.execute('ALTER TABLE orders VALIDATE CONSTRAINT fk')",
    # a proven NOT NULL: PostgreSQL 12+ uses the valid check instead of a scan
    "op.create_check_constraint('ck', 'orders', 'status IS NOT NULL', postgresql_not_valid=True)\n"
    "op.alter_column('orders', 'status', nullable=False)",
    "op.alter_column('orders', 'status', nullable=False, existing_nullable=False, server_default='new')",
    # nullable column, constant or stable default: catalog only on PostgreSQL 11+
    "op.add_column('orders', sa.Column('note', sa.Text(), nullable=True))",
    "op.add_column('orders', sa.Column('flag', sa.Boolean(), nullable=False, server_default=sa.false()))",
    "op.add_column('orders', sa.Column('at', sa.DateTime(), nullable=False, server_default=sa.func.now()))",
    'op.execute("ALTER TABLE orders ADD COLUMN at timestamptz NOT NULL DEFAULT now()")',
    # widening a varchar: binary-coercible
    "op.alter_column('orders', 'status', type_=sa.String(40), existing_type=sa.String(10))",
    "op.alter_column('orders', 'status', type_=sa.Text(), existing_type=sa.String(10))",
    "op.execute('ALTER TABLE orders ALTER COLUMN status TYPE text')",
    "op.alter_column('orders', 'status', type_=sa.Text())",
    # enum values: the type alone is locked, never a table using it (checked on PostgreSQL 15)
    "op.execute(\"ALTER TYPE order_state ADD VALUE 'refunded'\")",
    "op.rename_table('orders', 'purchases')",
    "op.execute('REFRESH MATERIALIZED VIEW CONCURRENTLY order_totals')",
    "op.execute('LOCK TABLE orders IN SHARE ROW EXCLUSIVE MODE')",
    # uncertain: a helper may create the table or set a timeout, SQL built at run time is not read
    "helper()\nop.create_index('ix', 'made_elsewhere', ['status'])",
    "helper()\nop.execute('LOCK TABLE orders')",
    "op.execute(f'CREATE INDEX ix ON {name} (status)')",
    "op.execute('DO $$ BEGIN CREATE INDEX ix ON orders (status); END $$')",
    # SQL in comments is not SQL
    "op.execute('-- CREATE INDEX ix ON orders (status)\\nSELECT 1')",
]


@pytest.mark.parametrize("body", SAFE)
def test_safe_patterns_draw_nothing(body):
    assert codes(body) == []


def test_lock_timeout_in_the_revision_or_project_silences_only_md028():
    risky = "op.execute('LOCK TABLE orders')\nop.create_index('ix', 'orders', ['status'])"
    assert codes(risky) == ["MD025", "MD028"]
    assert codes("op.execute(\"SET LOCAL lock_timeout = '2s'\")\n" + risky) == ["MD025"]
    assert codes('op.execute("SET lock_timeout TO 5000")\n' + risky) == ["MD025"]
    assert codes(risky, timeout=True) == ["MD025"]
    # a timeout of 0 is none
    assert codes('op.execute("SET lock_timeout = 0")\n' + risky) == ["MD025", "MD028"]


def test_a_helper_call_leaves_calls_on_tables_an_ancestor_made_reported():
    # 0004_rebuild_email_index in healthy_raw_sql_and_helpers: a helper drops the old index
    body = "_drop_index_if_exists('ix')\nop.create_index('ix', 'orders', [sa.text('lower(status)')])"
    assert found(body) == [("MD025", _line_of(body) + 1)]
    assert codes("for name in names:\n    op.create_index(name, 'orders', ['status'])") == []


def test_a_table_created_then_renamed_in_the_revision_stays_new():
    body = (
        "op.create_table('staging', sa.Column('id', sa.Integer()))\n"
        "op.rename_table('staging', 'archive')\n"
        "op.create_index('ix_archive', 'archive', ['id'])"
    )
    assert codes(body) == []


def test_split_sql_keeps_quotes_and_drops_comments():
    sql = "CREATE INDEX a ON t (x); -- CREATE INDEX b ON t (y);\n/* ; */ UPDATE t SET s = 'a;b'"
    assert split_sql(sql) == ["CREATE INDEX a ON t (x)", "UPDATE t SET s = 'a;b'"]
    assert split_sql("DO $$ BEGIN NULL; END $$; SELECT 1") == [None, "SELECT 1"]


@pytest.mark.parametrize("name", sorted(p.name for p in FIXTURES.glob("healthy_*") if p.is_dir()) + ["demo"])
def test_fixtures_healthy_for_locks_draw_nothing(name):
    """Healthy fixtures that follow the safe patterns draw nothing; the ones listed in
    KNOWN build indexes or validate constraints in place on tables an earlier revision
    made, which is the risk itself (true findings, kept visible here)."""
    path = FIXTURES / name
    kwargs = {"name": "shop"} if name == "healthy_named_sections" else {}
    project = load_project(path, is_read_only=True, **kwargs)
    got = sorted(code for code, _ in static_lock_findings(project.context()))
    assert got == KNOWN.get(name, [])


KNOWN = {
    "healthy_raw_sql_and_helpers": ["MD025"],
    "healthy_messy_names": ["MD025"],
    "healthy_messy_values": ["MD025"],
    "healthy_numbered_merge": ["MD025"],
    "healthy_recursive_date_folders": ["MD025"],
    "healthy_schemas_and_data": ["MD025", "MD027", "MD027", "MD027", "MD027"],
}


def test_lock_timeout_option_is_read_and_validated(tmp_path):
    from migdoc.errors import ConfigError
    from migdoc.project.config_files import read_migdoc_settings

    pyproject = tmp_path / "pyproject.toml"
    for value, expected in (('"2s"', 2000), ('"500ms"', 500), ("1500", 1500), ('"1min"', 60000)):
        pyproject.write_text(f"[tool.migdoc]\nlock_timeout = {value}\n")
        assert read_migdoc_settings(pyproject).lock_timeout_ms == expected
    for bad in ('"0"', "0", '"soon"', "true", "-3", '"2 weeks"'):
        pyproject.write_text(f"[tool.migdoc]\nlock_timeout = {bad}\n")
        with pytest.raises(ConfigError, match="lock_timeout"):
            read_migdoc_settings(pyproject)


def test_off_by_default_rules_need_their_code_or_name():
    from migdoc.rules import STATIC_CODES, selected_codes

    assert "MD029" not in STATIC_CODES and "MD030" not in STATIC_CODES
    assert "MD029" not in selected_codes() and "MD029" not in selected_codes(select=["MD0"])
    assert "MD029" in selected_codes(select=["MD029"]) and "MD030" in selected_codes(select=["unserialized-upgrade"])
    assert {"MD029", "MD030"} <= set(selected_codes(select=["ALL"]))


def test_project_lock_timeout_option_quiets_md029_and_md028(tmp_path):
    import shutil

    from migdoc.cli import main  # noqa: F401 - the CLI is the surface users meet
    from migdoc.doctor import check_project

    project_dir = tmp_path / "p"
    shutil.copytree(FIXTURES / "md029_missing_lock_timeout", project_dir)
    assert [d.code for d in check_project(load_project(project_dir)).diagnostics] == ["MD029"]
    pyproject = project_dir / "pyproject.toml"
    pyproject.write_text(pyproject.read_text() + 'lock_timeout = "2s"\n')
    project = load_project(project_dir)
    assert project.layout.settings.lock_timeout_ms == 2000
    assert project.context().is_lock_timeout_set
    assert check_project(project).diagnostics == ()


# -- risks that are history: deployed, or already on the base branch ------------------------


def _md025_context(**changes):
    import dataclasses

    from migdoc.doctor import load_project

    project = load_project(str(FIXTURES / "md025_blocking_index"))
    return dataclasses.replace(project.context(), **changes)


def _md025_revisions(context) -> list[str]:
    from migdoc.rules import RULES

    return sorted(finding.revision for finding in RULES["MD025"].check(context))


def test_a_revision_the_deployed_database_applied_draws_no_lock_risk():
    assert _md025_revisions(_md025_context()) == ["0002"]
    assert _md025_revisions(_md025_context(deployed=("0001",))) == ["0002"]  # still to run there
    assert _md025_revisions(_md025_context(deployed=("0002",))) == []  # it ran: history


def test_a_revision_already_on_the_base_branch_draws_no_lock_risk_unless_this_branch_changed_it():
    from migdoc.gitref import OURS, THEIRS, MergedView

    context = _md025_context()
    [risky] = [rf for rf in context.graph.files if rf.revision == "0002"]

    def merged(origin: str) -> MergedView:
        return MergedView(
            ref="origin/main",
            commit="0" * 40,
            files=tuple(context.graph.files),
            origins={risky.path: origin},
            ref_heads=("0002",),
            has_merge_base=True,
            ref_revisions=frozenset({"0001", "0002"}),
        )

    assert _md025_revisions(_md025_context(merged=merged(THEIRS))) == []
    assert _md025_revisions(_md025_context(merged=merged(OURS))) == ["0002"]
