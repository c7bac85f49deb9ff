"""MD022 (off-line-dependency) and MD023 (parallel-create) on literal chains.

Each case is a small chain written inline: ``0001`` creates ``channels(id, title)``, and
two branches grow from it. The tables say which revisions each rule reports (and on
which object), and, as much as that, where it must stay silent."""

from __future__ import annotations

import pytest
from rulekit import assert_mentions, findings, revision

from migdoc.model import Severity

BASE = revision(
    "0001", None, upgrade="op.create_table('channels', sa.Column('id', sa.Integer()), sa.Column('title', sa.Text()))"
)
SIDE_ADDS_FLAGS = revision("0002b", "0001", upgrade="op.add_column('channels', sa.Column('flags', sa.Integer()))")
SIDE_CREATES_AUDIT = revision(
    "0002b",
    "0001",
    upgrade="op.create_table('channel_audit', sa.Column('id', sa.Integer()), sa.Column('note', sa.Text()))",
)


def main(upgrade: str, rev: str = "0002", down="0001", **options):
    return revision(rev, down, upgrade=upgrade, **options)


MD022_CASES = {
    # (revisions, expected [(revision, object named)])
    "index on a column only the side branch adds": (
        [BASE, SIDE_ADDS_FLAGS, main("op.create_index('ix_channels_flags', 'channels', ['flags'])")],
        [("0002", "column channels.flags")],
    ),
    "alter_column on a table only the side branch creates": (
        [BASE, SIDE_CREATES_AUDIT, main("op.alter_column('channel_audit', 'note', type_=sa.String(80))")],
        [("0002", "table channel_audit")],
    ),
    "a merge of both lines does not make the side branch an ancestor of 0002": (
        [
            BASE,
            SIDE_CREATES_AUDIT,
            main("op.add_column('channel_audit', sa.Column('at', sa.DateTime()))"),
            revision("0003", ("0002", "0002b"), upgrade="pass"),
        ],
        [("0002", "table channel_audit")],
    ),
    "a helper call on a third branch leaves this line as it was": (
        [
            BASE,
            SIDE_CREATES_AUDIT,
            revision("0002c", "0001", upgrade="make_tables()"),
            main("op.alter_column('channel_audit', 'note', type_=sa.String(80))"),
        ],
        [("0002", "table channel_audit")],
    ),
    "the side branch made an ancestor by depends_on": (
        [BASE, SIDE_ADDS_FLAGS, main("op.create_index('ix_flags', 'channels', ['flags'])", depends_on="0002b")],
        [],
    ),
    "an ancestor adds the column": (
        [
            BASE,
            revision("0002", "0001", upgrade="op.add_column('channels', sa.Column('flags', sa.Integer()))"),
            main("op.create_index('ix_flags', 'channels', ['flags'])", rev="0003", down="0002"),
        ],
        [],
    ),
    "nothing in the chain creates the table (made outside migrations)": (
        [BASE, main("op.add_column('users', sa.Column('flags', sa.Integer()))")],
        [],
    ),
    "the line starts from a base that does no work (create_all)": (
        [revision("0001", None, upgrade="pass"), SIDE_CREATES_AUDIT, main("op.drop_table('channel_audit')")],
        [],
    ),
    "raw SQL on the line may create the table": (
        [
            BASE,
            SIDE_CREATES_AUDIT,
            main("op.execute('CREATE TABLE channel_audit (id int)')\nop.drop_table('channel_audit')"),
        ],
        [],
    ),
    "a helper call on the line may create anything": (
        [BASE, SIDE_CREATES_AUDIT, main("make_tables()\nop.drop_table('channel_audit')")],
        [],
    ),
    "only a descendant creates it (another mistake, not this one)": (
        [
            BASE,
            main("op.add_column('channel_audit', sa.Column('at', sa.DateTime()))"),
            revision("0003", "0002", upgrade="op.create_table('channel_audit', sa.Column('id', sa.Integer()))"),
        ],
        [],
    ),
    "another schema's table of that name": (
        [
            BASE,
            revision("0002b", "0001", upgrade="op.create_table('audit', sa.Column('id', sa.Integer()), schema='log')"),
            main("op.add_column('audit', sa.Column('at', sa.DateTime()))"),
        ],
        [],
    ),
}


@pytest.mark.parametrize("case", MD022_CASES, ids=list(MD022_CASES))
def test_md022(case):
    files, expected = MD022_CASES[case]
    found = findings("MD022", files)
    assert [(d.revision, d.severity) for d in found] == [(rev, Severity.ERROR) for rev, _ in expected]
    for diagnostic, (_, what) in zip(found, expected, strict=True):
        assert_mentions(diagnostic, what, "0002b")
        assert diagnostic.related == ("versions/0002b_change.py",)


MD023_CASES = {
    "two parallel branches create one table": (
        [BASE, SIDE_CREATES_AUDIT, main("op.create_table('channel_audit', sa.Column('id', sa.Integer()))")],
        [("0002", "table channel_audit", "0002b")],
    ),
    "two parallel branches add one column, merged": (
        [
            BASE,
            SIDE_ADDS_FLAGS,
            main("op.add_column('channels', sa.Column('flags', sa.SmallInteger()))"),
            revision("0003", ("0002", "0002b"), upgrade="pass"),
        ],
        [("0002", "column channels.flags", "0002b")],
    ),
    "one line creating it twice is MD012's": (
        [
            BASE,
            SIDE_CREATES_AUDIT,
            main("op.create_table('channel_audit', sa.Column('id', sa.Integer()))", down="0002b"),
        ],
        [],
    ),
    "if_not_exists on one of them": (
        [
            BASE,
            SIDE_CREATES_AUDIT,
            main("op.create_table('channel_audit', sa.Column('id', sa.Integer()), if_not_exists=True)"),
        ],
        [],
    ),
    "raw SQL names the table": (
        [
            BASE,
            SIDE_CREATES_AUDIT,
            main("op.execute('DROP TABLE IF EXISTS channel_audit')\nop.create_table('channel_audit')"),
        ],
        [],
    ),
    "a helper call on a third branch leaves the finding": (
        [
            BASE,
            SIDE_CREATES_AUDIT,
            revision("0002c", "0001", upgrade="make_tables()"),
            main("op.create_table('channel_audit', sa.Column('id', sa.Integer()))"),
        ],
        [("0002", "table channel_audit", "0002b")],
    ),
    "a helper call above one of them may drop it in between": (
        [
            BASE,
            SIDE_CREATES_AUDIT,
            revision("0003b", "0002b", upgrade="tidy_up()"),
            main("op.create_table('channel_audit', sa.Column('id', sa.Integer()))"),
        ],
        [],
    ),
    "a helper call before the create on its own line": (
        [
            BASE,
            SIDE_CREATES_AUDIT,
            main("make_tables()\nop.create_table('channel_audit', sa.Column('id', sa.Integer()))"),
        ],
        [],
    ),
    "one branch drops it again before the other creates it": (
        [
            BASE,
            SIDE_CREATES_AUDIT,
            revision("0003b", "0002b", upgrade="op.drop_table('channel_audit')"),
            main("op.create_table('channel_audit', sa.Column('id', sa.Integer()))"),
        ],
        [],
    ),
    "different schemas": (
        [
            BASE,
            SIDE_CREATES_AUDIT,
            main("op.create_table('channel_audit', sa.Column('id', sa.Integer()), schema='archive')"),
        ],
        [],
    ),
}


@pytest.mark.parametrize("case", MD023_CASES, ids=list(MD023_CASES))
def test_md023(case):
    files, expected = MD023_CASES[case]
    found = findings("MD023", files)
    assert [(d.revision, d.severity) for d in found] == [(rev, Severity.ERROR) for rev, _, _ in expected]
    for diagnostic, (_, what, other) in zip(found, expected, strict=True):
        assert_mentions(diagnostic, what, other)
        assert diagnostic.related == (f"versions/{other}_change.py",)


ARCHIVED_AUDIT_BODY = "op.create_table('channel_audit', sa.Column('id', sa.Integer()), sa.Column('note', sa.Text()))"
ARCHIVED_AUDIT = revision(
    "0002b",
    "0001",
    path="archive/2025-12-01/0002b_change.py",
    upgrade=ARCHIVED_AUDIT_BODY,
)
ALTER_AUDIT = "op.alter_column('channel_audit', 'note', type_=sa.String(80))"

ARCHIVE_CASES = {
    "only an archived revision created the table": ([BASE, main(ALTER_AUDIT)], ["0002"]),
    "an ancestor creates it too": (
        [
            BASE,
            revision("0002", "0001", upgrade="op.create_table('channel_audit', sa.Column('note', sa.Text()))"),
            main(ALTER_AUDIT, rev="0003", down="0002"),
        ],
        [],
    ),
    "the line starts from a base that does no work": ([revision("0001", None, upgrade="pass"), main(ALTER_AUDIT)], []),
    "raw SQL on the line may create it": (
        [BASE, main("op.execute('CREATE TABLE channel_audit (note text)')\n" + ALTER_AUDIT)],
        [],
    ),
}


@pytest.mark.parametrize("case", ARCHIVE_CASES, ids=list(ARCHIVE_CASES))
def test_md022_against_the_archive_folder(case):
    files, expected = ARCHIVE_CASES[case]
    found = findings("MD022", files, archived_files=(ARCHIVED_AUDIT,))
    assert [d.revision for d in found] == expected
    for diagnostic in found:
        assert_mentions(diagnostic, "table channel_audit", "archive/2025-12-01/0002b_change.py", "archive folder")
        assert diagnostic.related == ("archive/2025-12-01/0002b_change.py",)
    assert findings("MD022", files) == []  # without the archive, nothing in the chain makes it: silent


def test_check_reads_the_archive_folder_for_md022(tmp_path, monkeypatch):
    from click.testing import CliRunner
    from rulekit import source

    from migdoc.cli import cli

    versions = tmp_path / "migrations" / "versions"
    archive = tmp_path / "migrations" / "archive" / "2025-12-01"
    versions.mkdir(parents=True)
    archive.mkdir(parents=True)
    (tmp_path / "alembic.ini").write_text("[alembic]\nscript_location = %(here)s/migrations\n")
    base_body = "op.create_table('channels', sa.Column('id', sa.Integer()))"
    (versions / "0001_base.py").write_text(source("0001", None, upgrade=base_body))
    (versions / "0002_change.py").write_text(source("0002", "0001", upgrade=ALTER_AUDIT))
    (archive / "0002b_audit.py").write_text(source("0002b", "0001", upgrade=ARCHIVED_AUDIT_BODY))
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(cli, ["check", "--format", "concise", "."])
    assert result.exit_code == 1, result.output
    (line,) = [line for line in result.output.splitlines() if " MD022 " in line]
    assert line.startswith("migrations/versions/0002_change.py:") and "0002b_audit.py" in line
    (archive / "0002b_audit.py").unlink()
    assert " MD022 " not in CliRunner().invoke(cli, ["check", "--format", "concise", "."]).output


def test_md012_takes_if_not_exists_as_uncertain_not_a_repeat():
    again = "op.create_table('channels', sa.Column('id', sa.Integer()), if_not_exists=True)"
    assert findings("MD012", [BASE, main(again)]) == []
    assert [d.revision for d in findings("MD012", [BASE, main(again.replace("True", "False"))])] == ["0002"]
