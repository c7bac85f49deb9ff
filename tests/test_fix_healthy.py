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
    from migdoc.fix.plan_proof import render_templates
    from migdoc.model import CreateFile

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


# -- a chain whose only findings are warnings: a strategy plans nothing, in one line, unless
# -- it is --renumber named by the user, which renames every filename mismatch (MD006) --------

HANDLES = {
    "--archive": "it acts on an error-level finding: a duplicated id (MD001)",
    "--merge": "it acts on an error-level second head (MD003)",
    "--relink": "it acts on an error-level parent no file declares (MD002)",
}
OVERRIDE = '[tool.migdoc]\nseverity = { MD006 = "error" }\n'


def _renamed(output: str) -> list[str]:
    return [line.split("/")[-1] for line in output.splitlines() if line.strip().startswith("->")]


def test_a_warning_only_chain_plans_nothing_but_the_renames_renumber_is_named_for(copy_fixture):
    import json

    root = copy_fixture("fix_renumber")
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
    overview = CliRunner().invoke(cli, ["fix", "fix_renumber"])
    assert overview.exit_code == 0 and overview.output == "migdoc fix: nothing to do\n", overview.output
    named = CliRunner().invoke(cli, ["fix", "--renumber", "fix_renumber"])
    assert _renamed(named.output) == [
        "20251217_9e8d7c6b5a49_notification_settings.py",
        "20251218_77aa88bb99cc_add_audit_log.py",
    ], named.output
    applied = CliRunner().invoke(cli, ["fix", "--renumber", "--apply", "fix_renumber"])
    assert applied.exit_code == 0, applied.output
    assert (root / "migrations/versions/20251218_77aa88bb99cc_add_audit_log.py").is_file()
    after = CliRunner().invoke(cli, ["check", "fix_renumber"])
    assert after.exit_code == 0 and "MD006" not in after.output, after.output


def test_a_severity_override_is_honoured_and_a_silenced_file_is_left(copy_fixture):
    from fixhelp import plan_for

    root = copy_fixture("fix_renumber")
    (root / "pyproject.toml").write_text(OVERRIDE)
    overview = CliRunner().invoke(cli, ["fix", "fix_renumber"])
    assert "--renumber would do 2 actions" in overview.output, overview.output  # an error: fix alone proposes it
    silenced = root / "migrations/versions/20251218_add_audit_log.py"
    silenced.write_text("# migdoc: ignore[MD006]\n" + silenced.read_text())
    plan = plan_for("fix_renumber", is_renumber=True)
    assert [a.source.rsplit("/", 1)[1] for a in plan.actions] == ["20251217_4f1a2b3c4d5e_notification_settings.py"]
    assert all(a.answers == ("MD006",) for a in plan.actions)


def test_an_error_elsewhere_makes_fix_alone_propose_no_rename_of_a_warning(copy_fixture):
    root = copy_fixture("fix_renumber")
    versions = root / "migrations" / "versions"
    # a second head: an error (MD003), so the chain is not healthy, but MD006 stays a warning
    first = (versions / "20251201_4f1a2b3c4d5e_create_accounts.py").read_text()
    (versions / "20251219_aa11bb22cc33_add_extra.py").write_text(
        first.replace("4f1a2b3c4d5e", "aa11bb22cc33").replace("None] = None", 'None] = "4f1a2b3c4d5e"')
    )
    checked = CliRunner().invoke(cli, ["check", "fix_renumber"])
    assert checked.exit_code == 1 and "MD003" in checked.output, checked.output
    overview = CliRunner().invoke(cli, ["fix", "fix_renumber"])
    assert "--renumber would" not in overview.output and "--merge would" in overview.output, overview.output
    named = CliRunner().invoke(cli, ["fix", "--renumber", "fix_renumber"])
    assert len(_renamed(named.output)) == 2, named.output


def test_renumber_keeps_a_date_prefix_and_replaces_the_stale_id_after_it(tmp_path, monkeypatch):
    versions = tmp_path / "migrations" / "versions"
    versions.mkdir(parents=True)
    (tmp_path / "alembic.ini").write_text("[alembic]\nscript_location = %(here)s/migrations\n")
    for day, (rev, parent) in enumerate([("0006", None), ("0007", "0006"), ("0008", "0007")], start=1):
        write(versions, f"{rev}_step", parent and f"{parent}_step", day, "    pass")
    # the id sits in the stem: rewrite the files with plain ids, then give 0008 a copied name
    for path in versions.iterdir():
        rev = path.name.split("_")[0]
        text = path.read_text().replace(f"{rev}_step", rev)
        path.write_text(text.replace('_step"', '"'))
    (versions / "0008_step.py").rename(versions / "20251217_0001_notification_settings.py")
    monkeypatch.chdir(tmp_path)
    named = CliRunner().invoke(cli, ["fix", "--renumber", "."])
    assert _renamed(named.output) == ["20251217_0008_notification_settings.py"], named.output


def test_renumber_never_changes_which_copy_of_a_duplicated_id_alembic_keeps(tmp_path, monkeypatch):
    versions = tmp_path / "migrations" / "versions"
    versions.mkdir(parents=True)
    (tmp_path / "alembic.ini").write_text("[alembic]\nscript_location = %(here)s/migrations\n")
    write(versions, "0001_base", None, 1, '    op.create_table("t", sa.Column("id", sa.Integer()))')
    for path in versions.iterdir():
        path.write_text(path.read_text().replace("0001_base", "0001"))
    # Two files declare 0002; Alembic reads a folder in name order and keeps "a_copy.py",
    # loaded last. Its MD006 rename, "0002_a_copy.py", would sort before "0002_zz.py" and
    # make Alembic keep the other copy: refused, and nothing is renamed.
    copy = (versions / "0001_base.py").read_text().replace('revision = "0001"', 'revision = "0002"')
    copy = copy.replace("down_revision = None", 'down_revision = "0001"')
    (versions / "0002_zz.py").write_text(copy)
    (versions / "a_copy.py").write_text(copy)
    monkeypatch.chdir(tmp_path)
    named = CliRunner().invoke(cli, ["fix", "--renumber", "."])
    assert "would make Alembic load" in named.output and "a_copy.py" in named.output, named.output
    assert "->" not in named.output, named.output
