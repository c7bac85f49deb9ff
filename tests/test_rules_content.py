"""The content rules, one at a time, on revisions written inline: MD011
(duplicate upgrade), MD012 (redundant operation), MD013 (irreversible), MD015
(unsafe SQL).

Variants from ``fixtures/README.md`` (``md011_*`` ... ``md015_*``,
``healthy_raw_sql_and_helpers``, ``healthy_schemas_and_data``)."""

from __future__ import annotations

import pytest
from rulekit import UNSET, assert_mentions, chain, default_severity, findings, revision

from migdoc.model import Severity

ERROR, WARNING, INFO = Severity.ERROR, Severity.WARNING, Severity.INFO
BACKFILL = "op.execute(\"UPDATE customers SET tier = 'basic' WHERE tier IS NULL\")"


# -- MD011 duplicate-content ----------------------------------------------------------


def test_md011_same_backfill_merged_twice_reports_the_later_copy():
    files = [
        *chain("0001", "0002"),
        revision("0005", "0002", upgrade=BACKFILL),
        revision("0006", "0005", upgrade=BACKFILL),
    ]
    (found,) = findings("MD011", files)
    assert (found.revision, found.severity) == ("0006", WARNING) and default_severity("MD011") is WARNING
    assert_mentions(found, "0005", "versions/0005_change.py")
    assert found.related == ("versions/0005_change.py",)


def test_md011_a_third_copy_with_an_ignore_comment_is_silenced_in_that_file_only():
    files = [
        *chain("0001"),
        revision("0005", "0001", upgrade=BACKFILL),
        revision("0006", "0005", upgrade=BACKFILL),
        revision("0007", "0006", upgrade=BACKFILL, prelude="# migdoc: ignore[MD011]"),
    ]
    assert [d.revision for d in findings("MD011", files)] == ["0006"]


def test_md011_module_level_values_the_body_reads_are_part_of_the_comparison():
    body = "for name in NAMES:\n    op.execute(f\"UPDATE {name} SET plan = 'basic'\")"
    files = [
        *chain("0001"),
        revision("0002", "0001", upgrade=body, prelude="NAMES = ('users', 'teams')"),
        revision("0003", "0002", upgrade=body, prelude="NAMES = ('orgs',)"),
    ]
    assert findings("MD011", files) == []
    files[-1] = revision("0003", "0002", upgrade=body, prelude="NAMES = ('users', 'teams')")
    assert [d.revision for d in findings("MD011", files)] == ["0003"]


@pytest.mark.parametrize(
    "files",
    [
        pytest.param(chain("0001", "0002", "0003"), id="different-work"),
        pytest.param(
            [
                revision("0001", None, upgrade="op.create_table('audit', sa.Column('id', sa.Integer()))"),
                revision("0002", "0001", upgrade="op.drop_table('audit')"),
                revision("0003", "0002", upgrade="op.create_table('audit', sa.Column('id', sa.Integer()))"),
            ],
            id="re-created-after-a-rollback",
        ),
        pytest.param(
            [
                *chain("0001"),
                revision("0002a", "0001", upgrade="op.add_column('users', sa.Column('email', sa.Text()))"),
                revision("0002b", "0001", upgrade="op.add_column('users', sa.Column('email', sa.Text()))"),
            ],
            id="one-change-on-two-parallel-branches",
        ),
        pytest.param(
            [*chain("0001"), revision("0002", "0001", upgrade="pass"), revision("0003", "0002", upgrade="pass")],
            id="empty-bodies",
        ),
        pytest.param(
            [
                revision("0001", None, upgrade=BACKFILL),
                revision("0001", None, upgrade=BACKFILL, path="versions/copy.py"),
            ],
            id="duplicated-id-is-MD001",
        ),
    ],
)
def test_md011_silent(files):
    assert findings("MD011", files) == []


# -- MD012 redundant-operation --------------------------------------------------------

CUSTOMERS = "op.create_table('customers', sa.Column('id', sa.Integer()), sa.Column('name', sa.Text()))"


@pytest.mark.parametrize(
    ("later", "facts"),
    [
        pytest.param(CUSTOMERS, ["creates table 'customers'", "already exists"], id="re-created-table"),
        pytest.param(
            "op.add_column('customers', sa.Column('name', sa.Text()))", ["adds column customers.name"], id="column"
        ),
        pytest.param(
            "op.create_index('ix_customers_name', 'customers', ['name'])",
            ["creates index 'ix_customers_name'"],
            id="index",
        ),
        pytest.param(
            "op.create_unique_constraint('uq_customers_name', 'customers', ['name'])",
            ["creates constraint 'uq_customers_name'"],
            id="constraint",
        ),
    ],
)
def test_md012_creates_what_an_ancestor_already_created(later, facts):
    extra = [
        "op.create_index('ix_customers_name', 'customers', ['name'])",
        "op.create_unique_constraint('uq_customers_name', 'customers', ['name'])",
    ]
    files = [
        revision("0001", None, upgrade=CUSTOMERS),
        revision("0002", "0001", upgrade="\n".join(extra)),
        revision("0003", "0002", upgrade=later),
    ]
    (found,) = findings("MD012", files)
    assert (found.revision, found.severity) == ("0003", ERROR) and default_severity("MD012") is ERROR
    assert_mentions(found, *facts)
    assert found.line > 1  # the operation's own line, not the file's first


def test_md012_column_dropped_twice():
    files = [
        revision("0001", None, upgrade=CUSTOMERS),
        revision("0002", "0001", upgrade="op.drop_column('customers', 'name')"),
        revision("0003", "0002", upgrade="op.drop_column('customers', 'name')"),
    ]
    (found,) = findings("MD012", files)
    assert found.revision == "0003"
    assert_mentions(found, "drops column customers.name", "not there")


HELPER = 'def _drop_if_exists(name):\n    op.execute(f"DROP TABLE IF EXISTS {name}")'


@pytest.mark.parametrize(
    "between",
    [
        pytest.param("op.execute('DROP TABLE customers')", id="raw-sql-may-have-dropped-it"),
        pytest.param("_drop_if_exists('customers')", id="helper-may-have-dropped-it"),
        pytest.param("op.drop_table('customers')", id="dropped-by-op"),
    ],
)
def test_md012_silent_when_the_replay_cannot_be_sure_or_it_was_dropped(between):
    files = [
        revision("0001", None, upgrade=CUSTOMERS),
        revision("0002", "0001", upgrade=between, prelude=HELPER),
        revision("0003", "0002", upgrade=CUSTOMERS),
    ]
    assert findings("MD012", files) == []


def test_md012_same_name_in_two_schemas_is_two_objects():
    files = [
        revision("0001", None, upgrade="op.create_table('tokens', sa.Column('id', sa.Integer()), schema='users')"),
        revision("0002", "0001", upgrade="op.create_table('tokens', sa.Column('id', sa.Integer()), schema='oauth')"),
    ]
    assert findings("MD012", files) == []


# -- MD013 irreversible ---------------------------------------------------------------

SCHEMA_CHANGE = "op.add_column('users', sa.Column('email', sa.Text()))"


@pytest.mark.parametrize(
    ("downgrade", "severity", "fact"),
    [
        pytest.param("pass", WARNING, "downgrade() does nothing", id="pass"),
        pytest.param("raise NotImplementedError()", INFO, "only raises", id="only-raise"),
        pytest.param(None, WARNING, "no downgrade()", id="missing"),
    ],
)
def test_md013_schema_change_without_a_working_downgrade(downgrade, severity, fact):
    files = [
        *chain("0001"),
        revision("0002", "0001", upgrade=SCHEMA_CHANGE, downgrade=UNSET if downgrade is None else downgrade),
    ]
    (found,) = findings("MD013", files)
    assert (found.revision, found.severity) == ("0002", severity)
    assert default_severity("MD013") is WARNING
    assert_mentions(found, fact)


def test_md013_a_no_downgrade_policy_turns_it_into_info():
    files = [revision(f"000{n}", f"000{n - 1}" if n > 1 else None, downgrade="pass") for n in range(1, 7)]
    found = findings("MD013", files)
    assert len(found) == 6 and {d.severity for d in found} == {INFO}
    assert_mentions(found[0], "6 of the project's 6 revisions", "no-downgrade policy")


@pytest.mark.parametrize(
    ("upgrade", "downgrade"),
    [
        pytest.param(SCHEMA_CHANGE, "op.drop_column('users', 'email')", id="reversible"),
        pytest.param(BACKFILL, "pass", id="data-only-backfill"),
        pytest.param("pass", "pass", id="upgrade-does-nothing"),
    ],
)
def test_md013_silent(upgrade, downgrade):
    files = [*chain("0001"), revision("0002", "0001", upgrade=upgrade, downgrade=downgrade)]
    assert findings("MD013", files) == []


# -- MD015 unsafe-sql -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "prelude"),
    [
        pytest.param(
            "op.execute(f\"UPDATE users SET region = '{os.environ['REGION']}'\")", "import os", id="environment"
        ),
        pytest.param(
            "conn = op.get_bind()\n"
            "start = conn.execute(sa.text('SELECT max(id) FROM users')).scalar()\n"
            "op.execute(f'CREATE SEQUENCE user_numbers START WITH {start}')",
            "",
            id="query-result",
        ),
        pytest.param("op.execute('DELETE FROM %s' % settings.table())", "from app import settings", id="unknown-call"),
        pytest.param(
            "op.execute('UPDATE users SET plan = {}'.format(plan_name()))", "from app import plan_name", id="format"
        ),
    ],
)
def test_md015_sql_built_from_outside_values(body, prelude):
    files = [*chain("0001"), revision("0002", "0001", upgrade=body, prelude=prelude)]
    found = findings("MD015", files)
    assert found and {(d.revision, d.severity) for d in found} == {("0002", WARNING)}
    assert default_severity("MD015") is WARNING
    assert_mentions(found[0], "bind parameters")


@pytest.mark.parametrize(
    ("body", "prelude"),
    [
        pytest.param(
            "for table in ('users', 'users_history'):\n    op.execute(f\"UPDATE {table} SET plan = 'basic'\")",
            "",
            id="literal-tuple",
        ),
        pytest.param("op.execute(f'UPDATE {TABLE} SET plan = 1')", "TABLE = 'users'", id="module-constant"),
        pytest.param("op.execute('UPDATE %s SET plan = 1' % TABLE)", "TABLE = 'users'", id="percent-constant"),
        pytest.param("op.execute('UPDATE {} SET plan = 1'.format(TABLE))", "TABLE = 'users'", id="format-constant"),
        pytest.param(
            "op.execute(sa.text('UPDATE users SET plan = :plan').bindparams(plan=PLAN))",
            "PLAN = 'basic'",
            id="bind-parameters",
        ),
        pytest.param("op.execute('UPDATE users SET plan = 1')", "", id="plain-literal"),
    ],
)
def test_md015_silent(body, prelude):
    files = [*chain("0001"), revision("0002", "0001", upgrade=body, prelude=prelude)]
    assert findings("MD015", files) == []


@pytest.mark.parametrize(
    ("body", "variable", "advice"),
    [
        pytest.param(
            "conn = op.get_bind()\n"
            "start = conn.execute(sa.text('SELECT max(id) FROM users')).scalar()\n"
            "sql = f'ALTER SEQUENCE user_numbers RESTART WITH {start}'\n"
            "op.execute(sql)",
            "`sql` (line",
            "ALTER SEQUENCE is DDL, which cannot take bind parameters",
            id="f-string-in-a-variable",
        ),
        pytest.param(
            "name = op.get_context().opts['table']\n"
            "stmt = 'DROP TABLE %s' % name\n"
            "conn = op.get_bind()\n"
            "conn.execute(sa.text(stmt))",
            "`stmt` (line",
            "sa.literal",
            id="percent-in-a-variable-through-text",
        ),
        pytest.param(
            "region = os.environ['REGION']\nsql = 'UPDATE users SET plan = 1 WHERE region = '\nsql += f\"'{region}'\"\n"
            "op.execute(sql)",
            "`sql` (line",
            "use bind parameters",
            id="augmented-in-a-variable",
        ),
        pytest.param(
            "start = op.get_bind().execute(sa.text('SELECT 1')).scalar()\n"
            "op.get_bind().exec_driver_sql(f'CREATE SEQUENCE s START WITH {start}')",
            "",
            "CREATE SEQUENCE is DDL",
            id="exec-driver-sql",
        ),
    ],
)
def test_md015_follows_sql_built_into_a_local_variable(body, variable, advice):
    files = [*chain("0001"), revision("0002", "0001", upgrade=body, prelude="import os")]
    [found] = findings("MD015", files)
    assert advice in found.message
    if variable:
        assert variable in found.message
    else:
        assert found.message.startswith("SQL built from")


@pytest.mark.parametrize(
    "body",
    [
        pytest.param("sql = f'UPDATE {TABLE} SET plan = 1'\nop.execute(sql)", id="variable-of-constants"),
        pytest.param("sql = 'UPDATE users SET plan = :p'\nop.execute(sa.text(sql).bindparams(p=PLAN))", id="bound"),
        pytest.param(
            "sql = f'UPDATE users SET x = {x()}'\nsql = 'UPDATE users SET plan = 1'\nop.execute(sql)",
            id="rebound-to-a-literal-before-the-call",
        ),
    ],
)
def test_md015_silent_for_variables_of_constants(body):
    # the SQL a call runs is what the variable holds there: a literal, or built from constants
    files = [*chain("0001"), revision("0002", "0001", upgrade=body, prelude="TABLE = 'users'\nPLAN = 'basic'")]
    assert findings("MD015", files) == []


def test_md015_a_variable_built_in_a_branch_still_reaches_the_call():
    body = "sql = 'UPDATE users SET plan = 1'\nif os.environ.get('X'):\n    sql = f\"UPDATE users SET plan = {os.environ['X']}\"\nop.execute(sql)"
    files = [*chain("0001"), revision("0002", "0001", upgrade=body, prelude="import os")]
    [found] = findings("MD015", files)
    assert "`sql` (line" in found.message
