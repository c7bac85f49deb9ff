"""--merge and --renumber on their fixtures, and every refusal: copy, diff, apply, re-check, apply again."""

from __future__ import annotations

import os

import pytest
from click.testing import CliRunner
from fixhelp import alembic_heads, apply_for, plan_for, snapshot
from golden import assert_golden

from migdoc.cli import cli
from migdoc.doctor import check_project, load_project
from migdoc.errors import ApplyError
from migdoc.fix.plan_proof import render_templates
from migdoc.model import CreateFile, RenameFile
from migdoc.output.fix import render_diff, render_plan


def run(*args: str):
    return CliRunner().invoke(cli, list(args))


@pytest.mark.parametrize(
    ("name", "flags", "heads_after"),
    [
        ("fix_merge", {"is_merge": True}, ["0005"]),
        ("fix_merge_hex", {"is_merge": True}, None),
        ("fix_renumber", {"is_renumber": True}, ["77aa88bb99cc"]),
    ],
)
def test_strategy_end_to_end(copy_fixture, name, flags, heads_after):
    root = copy_fixture(name)
    plan = plan_for(name, **flags)
    assert plan.actions and not plan.unresolved
    assert_golden(f"fix/{name}_plan.txt", render_plan(plan))
    assert_golden(f"fix/{name}.diff", render_diff(plan))
    result = apply_for(name, plan)
    assert not result.is_rolled_back
    after = check_project(load_project(name))
    assert after.summary.errors == 0 and after.summary.heads == 1
    heads = alembic_heads(root)
    assert len(heads) == 1 and (heads_after is None or heads == heads_after)
    assert plan_for(name, **flags).is_empty
    assert run("fix", *[f"--{k[3:]}" for k in flags], "--apply", name).exit_code == 0


def test_merge_follows_the_project_id_style(copy_fixture):
    copy_fixture("fix_merge")
    (create,) = plan_for("fix_merge", is_merge=True).actions
    assert isinstance(create, CreateFile) and create.path.endswith("versions/0005_merge_heads.py")
    assert create.template is not None and dict(create.template.arguments)["down_revision"] == ("0003", "0004")
    (rendered,) = render_templates(load_project("fix_merge").layout, plan_for("fix_merge", is_merge=True)).actions
    assert "down_revision: Union[str, Sequence[str], None] = ('0003', '0004')" in rendered.content
    copy_fixture("fix_merge_hex")
    (create,) = plan_for("fix_merge_hex", is_merge=True).actions
    stem = create.path.rsplit("/", 1)[1]
    assert stem.startswith("20251220_") and len(create.revision or "") == 12
    assert stem == f"20251220_{create.revision}_merge_heads.py"


def test_renumber_keeps_date_prefix_and_slug(copy_fixture):
    copy_fixture("fix_renumber")
    renames = {
        a.source.rsplit("/", 1)[1]: a.target.rsplit("/", 1)[1]
        for a in plan_for("fix_renumber", is_renumber=True).actions
        if isinstance(a, RenameFile)
    }
    assert renames == {
        "20251217_4f1a2b3c4d5e_notification_settings.py": "20251217_9e8d7c6b5a49_notification_settings.py",
        "20251218_add_audit_log.py": "20251218_77aa88bb99cc_add_audit_log.py",
    }


def test_refuse_ambiguous_head_says_which_flag_decides(copy_fixture):
    root = copy_fixture("fix_refuse_ambiguous_head")
    before = snapshot(root)
    result = run("fix", "--archive", "--apply", "fix_refuse_ambiguous_head")
    assert result.exit_code == 2
    assert "--head 0002 or --head 0003" in result.output and result.output.count("\n") == 1
    assert snapshot(root) == before
    chosen = run("fix", "--archive", "--head", "0002", "--apply", "fix_refuse_ambiguous_head")
    assert chosen.exit_code == 0, chosen.output
    assert alembic_heads(root) == ["0002"]


def test_archive_folder_holding_same_name_gets_a_distinct_name(copy_fixture):
    # issue 12, item 6: a name collision in the archive is resolved, not refused
    root = copy_fixture("fix_refuse_archive_taken")
    earlier = root / "migrations" / "archive" / "earlier"
    before = (earlier / "0002b_create_carts.py").read_bytes()
    archive = "fix_refuse_archive_taken/migrations/archive/earlier"
    result = run("fix", "--archive", "--archive-dir", archive, "--apply", "fix_refuse_archive_taken")
    assert result.exit_code == 0, result.output
    assert (earlier / "0002b_create_carts.py").read_bytes() == before  # the earlier file is untouched
    assert (earlier / "0002b_create_carts-2.py").is_file()
    readme = next(earlier.glob("README*.md")).read_text()
    assert (
        "`0002b_create_carts.py` (revision 0002b, from" in readme and "archived as `0002b_create_carts-2.py`" in readme
    )
    journal = next((root / ".migdoc").rglob("*.json")).read_text()
    assert "0002b_create_carts-2.py" in journal


def test_refuse_file_changed_between_plan_and_apply(copy_fixture):
    root = copy_fixture("fix_story")
    plan = plan_for("fix_story", is_archive=True)
    target = root / "migrations" / "versions" / "0027_add_order_shipped_at.py"
    target.write_text(target.read_text() + "\n# edited meanwhile\n")
    before = snapshot(root)
    with pytest.raises(ApplyError, match="changed on disk"):
        apply_for("fix_story", plan)
    assert snapshot(root) == before


def test_refuse_read_only_folder(copy_fixture, monkeypatch):
    root = copy_fixture("fix_story")
    versions = root / "migrations" / "versions"
    plan = plan_for("fix_story", is_archive=True)
    before = snapshot(root)
    if os.geteuid() == 0:
        # root ignores mode bits; make the folder refuse new files the way a read-only mount does.
        import tempfile

        real = tempfile.mkstemp

        def mkstemp(*args, **kwargs):
            if os.path.realpath(str(kwargs.get("dir"))) == os.path.realpath(versions):
                raise PermissionError(13, "Permission denied", str(versions))
            return real(*args, **kwargs)

        monkeypatch.setattr(tempfile, "mkstemp", mkstemp)
    else:
        versions.chmod(0o555)
    try:
        with pytest.raises(ApplyError, match="not writable"):
            apply_for("fix_story", plan)
    finally:
        versions.chmod(0o755)
    assert snapshot(root) == before


def test_not_healthier_is_rolled_back(copy_fixture):
    from dataclasses import replace

    root = copy_fixture("fix_merge")
    plan = render_templates(load_project("fix_merge").layout, plan_for("fix_merge", is_merge=True))
    (create,) = plan.actions
    # A merge revision that merges nothing useful: the result is no healthier.
    broken = replace(create, content=create.content.replace("('0003', '0004')", "'0003'"))
    before = snapshot(root)
    result = apply_for("fix_merge", replace(plan, actions=(broken,)))
    assert result.is_rolled_back
    assert {k: v for k, v in snapshot(root).items() if not k.startswith(".migdoc")} == before


def test_archive_with_an_unreadable_revision_file_archives_nothing(in_tmp):
    # modelled on a public chain whose Python 2 files (print statements) migdoc cannot parse:
    # their children looked like dead branches, and --archive planned 90 moves of live revisions
    versions = in_tmp / "p" / "migrations" / "versions"
    versions.mkdir(parents=True)
    (in_tmp / "p" / "alembic.ini").write_text("[alembic]\nscript_location = %(here)s/migrations\n")
    for rev, parent in (("0001", None), ("0002", "0001"), ("0003", "0002"), ("0004", "0003")):
        body = 'print "legacy"' if rev == "0002" else "pass"
        (versions / f"{rev}_step.py").write_text(
            f"revision = {rev!r}\ndown_revision = {parent!r}\n\n\ndef upgrade():\n    {body}\n\n\n"
            "def downgrade():\n    pass\n"
        )
    plan = plan_for("p", is_archive=True)
    assert not plan.actions
    (line,) = plan.unresolved
    assert line.startswith(f"--archive: 1 revision file cannot be read (MD010: {versions / '0002_step.py'})")
    result = run("fix", "--archive", "p")
    assert result.exit_code == 1 and "nothing archived" in result.output
    assert "(MD010: p/migrations/versions/0002_step.py)" in result.output  # shown from the cwd
