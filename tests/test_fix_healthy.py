"""Issue 12, item 2: a healthy chain is never acted on, even when data migrations repeat an
ancestor's upgrade() text with different module-level data (modelled on a public chain)."""

from __future__ import annotations

from click.testing import CliRunner

from migdoc.cli import cli

TEMPLATE = '''"""{rev}

Revision ID: {rev}
Revises: {parent}
Create Date: 2024-01-{day:02d} 10:00:00
"""
from alembic import op
import sqlalchemy as sa

revision = "{rev}"
down_revision = {down}
{data}

def upgrade():
{body}


def downgrade():
    pass
'''

INSERT = """    op.execute(
        sa.text("INSERT INTO template_folders (id, name) VALUES (:id, :name)").bindparams(id=FOLDER_ID, name=NAME)
    )"""


def write(versions, rev, parent, day, body, data=""):
    down = repr(parent) if parent else "None"
    (versions / f"{rev}.py").write_text(
        TEMPLATE.format(rev=rev, parent=parent or "", down=down, day=day, body=body, data=data)
    )


def test_repeated_data_migrations_plan_nothing_under_every_strategy(tmp_path, monkeypatch):
    versions = tmp_path / "migrations" / "versions"
    versions.mkdir(parents=True)
    (tmp_path / "alembic.ini").write_text("[alembic]\nscript_location = %(here)s/migrations\n")
    write(versions, "0001_folders", None, 1, '    op.create_table("template_folders", sa.Column("id", sa.Integer()))')
    write(versions, "0002_folder_a", "0001_folders", 2, INSERT, 'FOLDER_ID = 1\nNAME = "letters"\n')
    write(versions, "0003_folder_b", "0002_folder_a", 3, INSERT, 'FOLDER_ID = 2\nNAME = "emails"\n')
    write(versions, "0004_folder_c", "0003_folder_b", 4, INSERT, 'FOLDER_ID = 3\nNAME = "texts"\n')
    monkeypatch.chdir(tmp_path)
    for strategy in ("--archive", "--merge", "--renumber", "--relink"):
        result = CliRunner().invoke(cli, ["fix", strategy, "."])
        assert result.exit_code == 0, result.output
        assert "nothing to do" in result.output and "move" not in result.output
        assert "note: " in result.output  # and says why


def test_an_exact_repeat_on_a_healthy_chain_is_left_alone(tmp_path, monkeypatch):
    versions = tmp_path / "migrations" / "versions"
    versions.mkdir(parents=True)
    (tmp_path / "alembic.ini").write_text("[alembic]\nscript_location = %(here)s/migrations\n")
    write(versions, "0001_folders", None, 1, '    op.create_table("template_folders", sa.Column("id", sa.Integer()))')
    write(versions, "0002_folder_a", "0001_folders", 2, INSERT, 'FOLDER_ID = 1\nNAME = "letters"\n')
    write(versions, "0003_folder_a_again", "0002_folder_a", 3, INSERT, 'FOLDER_ID = 1\nNAME = "letters"\n')
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(cli, ["fix", "--archive", "."])
    assert "no error-level finding; nothing to archive" in result.output
    assert result.exit_code == 0, result.output


def test_merge_takes_message_and_rev_id_as_alembic_merge_does(copy_fixture):
    from fixhelp import alembic_heads, apply_for, plan_for

    from migdoc.doctor import load_project
    from migdoc.model import CreateFile
    from migdoc.plan_proof import render_templates

    root = copy_fixture("fix_merge")
    plan = plan_for("fix_merge", is_merge=True, message="join billing and audit", rev_id="0005")
    (created,) = [a for a in plan.actions if isinstance(a, CreateFile)]
    assert created.path.endswith("/0005_join_billing_and_audit.py")
    assert "join billing and audit" in created.content and "up_revision = '0005'" in created.content
    (rendered,) = render_templates(load_project("fix_merge").layout, plan).actions
    assert '"""join billing and audit' in rendered.content and "revision: str = '0005'" in rendered.content
    taken = CliRunner().invoke(cli, ["fix", "--merge", "--rev-id", "0002", "fix_merge"])
    assert taken.exit_code == 2 and "--rev-id 0002: a revision with that id already exists" in taken.output
    bad = CliRunner().invoke(cli, ["fix", "--merge", "--rev-id", "../x", "fix_merge"])
    assert bad.exit_code == 2 and "holds a path separator" in bad.output
    apply_for("fix_merge", plan)
    assert alembic_heads(root) == ["0005"]


# -- a chain whose only findings are warnings: every strategy plans nothing, in one line --------

HANDLES = {
    "--archive": "it acts on an error-level finding: a duplicated id (MD001)",
    "--merge": "it acts on an error-level second head (MD003)",
    "--renumber": 'it acts on an error-level MD006: [tool.migdoc] severity = { MD006 = "error" }',
    "--relink": "it acts on an error-level parent no file declares (MD002)",
}


def test_a_warning_only_chain_plans_nothing_under_every_strategy_and_says_so_once(copy_fixture):
    import json

    root = copy_fixture("fix_renumber")
    (root / "pyproject.toml").unlink()  # MD006 back to its default: a warning
    checked = CliRunner().invoke(cli, ["check", "fix_renumber"])
    assert checked.exit_code == 0 and "0 errors, 2 warnings" in checked.output, checked.output
    for strategy, handle in HANDLES.items():
        result = CliRunner().invoke(cli, ["fix", strategy, "fix_renumber"])
        assert result.exit_code == 0, result.output
        heading, note = result.output.splitlines()
        assert heading == f"migdoc fix {strategy}: nothing to do"
        assert note.startswith(f"  note: {strategy}: no error-level finding; nothing to ") and handle in note
        payload = json.loads(CliRunner().invoke(cli, ["fix", strategy, "fix_renumber", "--format", "json"]).output)
        assert payload["actions"] == [] and payload["unresolved"] == []
        assert payload["notes"] == [note.removeprefix("  note: ")]
    applied = CliRunner().invoke(cli, ["fix", "--renumber", "--apply", "fix_renumber"])
    assert applied.exit_code == 0 and (root / "migrations/versions/20251218_add_audit_log.py").is_file()


def test_the_severity_override_makes_renumber_rename_exactly_the_error_level_mismatches(copy_fixture):
    from fixhelp import plan_for

    root = copy_fixture("fix_renumber")
    # MD006 an error, but one file silenced: only the other is renamed
    silenced = root / "migrations/versions/20251218_add_audit_log.py"
    silenced.write_text("# migdoc: ignore[MD006]\n" + silenced.read_text())
    plan = plan_for("fix_renumber", is_renumber=True)
    assert [a.source.rsplit("/", 1)[1] for a in plan.actions] == ["20251217_4f1a2b3c4d5e_notification_settings.py"]
    assert all(a.answers == ("MD006",) for a in plan.actions)


def test_an_error_elsewhere_does_not_make_a_warning_mismatch_a_rename(copy_fixture):
    root = copy_fixture("fix_renumber")
    (root / "pyproject.toml").unlink()
    versions = root / "migrations" / "versions"
    # a second head: an error (MD003), so the chain is not healthy, but MD006 stays a warning
    first = (versions / "20251201_4f1a2b3c4d5e_create_accounts.py").read_text()
    (versions / "20251219_aa11bb22cc33_add_extra.py").write_text(
        first.replace("4f1a2b3c4d5e", "aa11bb22cc33").replace("None] = None", 'None] = "4f1a2b3c4d5e"')
    )
    checked = CliRunner().invoke(cli, ["check", "fix_renumber"])
    assert checked.exit_code == 1 and "MD003" in checked.output, checked.output
    result = CliRunner().invoke(cli, ["fix", "--renumber", "fix_renumber"])
    assert result.exit_code == 0, result.output
    assert "--renumber: MD006 is a warning here, not an error; nothing to rename" in result.output
    assert result.output.startswith("migdoc fix --renumber: nothing to do\n"), result.output
