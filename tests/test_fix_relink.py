"""Issue 12, item 4a: ``fix --relink`` re-points a cherry-picked revision whose parent is
not on the branch at the branch's current head; a near-miss id gets "did you mean"."""

from __future__ import annotations

from click.testing import CliRunner
from fixhelp import alembic_heads

from migdoc.cli import cli


def project(tmp_path, monkeypatch, chain):
    versions = tmp_path / "migrations" / "versions"
    versions.mkdir(parents=True)
    (tmp_path / "alembic.ini").write_text("[alembic]\nscript_location = %(here)s/migrations\n")
    (tmp_path / "migrations" / "env.py").write_text("")
    for rev, parent in chain:
        (versions / f"{rev}_step.py").write_text(
            f'"""step {rev}\n\nRevision ID: {rev}\nRevises: {parent or ""}\n"""\n'
            f"from alembic import op\nimport sqlalchemy as sa\n\n"
            f"revision = {rev!r}\ndown_revision = {parent!r}\nbranch_labels = None\ndepends_on = None\n\n\n"
            f"def upgrade():\n    op.create_table('t_{rev}', sa.Column('id', sa.Integer()))\n\n\n"
            f"def downgrade():\n    op.drop_table('t_{rev}')\n"
        )
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_a_cherry_pick_is_repointed_at_the_branch_head(tmp_path, monkeypatch):
    root = project(tmp_path, monkeypatch, [("0001", None), ("0002", "0001"), ("0003", "0002"), ("0007", "0006")])
    planned = CliRunner().invoke(cli, ["fix", "--relink", "."])
    assert planned.exit_code == 1, planned.output
    assert "its parent 0006 is not on this branch (a cherry-picked migration); re-pointed at" in planned.output
    assert "the branch's current head 0003" in planned.output
    applied = CliRunner().invoke(cli, ["fix", "--relink", "--apply", "."])
    assert applied.exit_code == 0, applied.output
    assert "down_revision = '0003'" in (root / "migrations" / "versions" / "0007_step.py").read_text()
    assert alembic_heads(root) == ["0007"]


def test_a_near_miss_says_did_you_mean_and_is_not_guessed(tmp_path, monkeypatch):
    chain = [("a1b2c3d4e5f6", None), ("0f0e0d0c0b0a", "a1b2c3d4e5f6"), ("9988776655aa", "0f0e0d0c0b0b")]
    project(tmp_path, monkeypatch, chain)
    result = CliRunner().invoke(cli, ["fix", "--relink", "."])
    assert "did you mean 0f0e0d0c0b0a?" in result.output
    assert "re-pointed" not in result.output


def test_base_ref_relink_rebases_this_branchs_new_revision_onto_the_refs_head(tmp_path, monkeypatch):
    # issue 12, item 4b: the MD017 "rebase your migration" step
    from gitutil import git

    root = project(tmp_path, monkeypatch, [("0001", None), ("0002", "0001")])
    git(root, "init", "-q", "-b", "main")
    git(root, "add", ".")
    git(root, "commit", "-q", "-m", "base chain")
    git(root, "checkout", "-q", "-b", "coupons")
    versions = root / "migrations" / "versions"
    text = (versions / "0002_step.py").read_text()
    (versions / "0003c_step.py").write_text(text.replace("0002", "0003c").replace("0001", "0002"))
    git(root, "add", ".")
    git(root, "commit", "-q", "-m", "coupons")
    git(root, "checkout", "-q", "main")
    (versions / "0003r_step.py").write_text(text.replace("0002", "0003r").replace("0001", "0002"))
    git(root, "add", ".")
    git(root, "commit", "-q", "-m", "refunds")
    git(root, "checkout", "-q", "coupons")
    before_merge = CliRunner().invoke(cli, ["fix", "--relink", "--base-ref", "main", "."])
    assert "main's head 0003r is not in this working tree; merge main into this branch first" in before_merge.output
    git(root, "merge", "-q", "--no-edit", "main")
    planned = CliRunner().invoke(cli, ["fix", "--relink", "--base-ref", "main", "."])
    assert planned.exit_code == 1, planned.output
    assert "main moved on to 0003r, so it is re-pointed onto 0003r (was 0002)" in planned.output
    applied = CliRunner().invoke(cli, ["fix", "--relink", "--base-ref", "main", "--apply", "."])
    assert applied.exit_code == 0, applied.output
    assert alembic_heads(root) == ["0003c"]
    checked = CliRunner().invoke(cli, ["check", "--base-ref", "main", "."])
    assert "MD017" not in checked.output and "MD003" not in checked.output
