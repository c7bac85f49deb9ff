"""`migdoc status` and MD016 against a real PostgreSQL: stamped with a known
revision, with a deleted one (found in git history), with an archived one."""

from __future__ import annotations

import json
import os
import re
import subprocess

import pytest
from click.testing import CliRunner
from golden import assert_golden

from migdoc.cli import cli
from migdoc.util.masking import mask_url

pytestmark = pytest.mark.postgres

GIT_ENV = {
    "GIT_AUTHOR_NAME": "Dev",
    "GIT_AUTHOR_EMAIL": "dev@example.com",
    "GIT_COMMITTER_NAME": "Dev",
    "GIT_COMMITTER_EMAIL": "dev@example.com",
    "GIT_AUTHOR_DATE": "2025-12-05T10:00:00Z",
    "GIT_COMMITTER_DATE": "2025-12-05T10:00:00Z",
    "GIT_CONFIG_GLOBAL": os.devnull,
    "GIT_CONFIG_SYSTEM": os.devnull,
}

DROPPED = '''"""add coupons

Revision ID: 0005
Revises: 0004
Create Date: 2025-12-04 09:00:00

"""
from alembic import op
import sqlalchemy as sa

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade():
    op.add_column("orders", sa.Column("coupon", sa.String(20)))


def downgrade():
    op.drop_column("orders", "coupon")
'''


def git(cwd, *args: str) -> str:
    return subprocess.run(
        ["git", *args], cwd=cwd, check=True, capture_output=True, text=True, env={**os.environ, **GIT_ENV}
    ).stdout


def stamp(pg_server, url: str, *revisions: str) -> None:
    from sqlalchemy.engine import make_url

    with pg_server.connect(make_url(url).database) as connection:
        connection.execute("CREATE TABLE alembic_version (version_num varchar(32) NOT NULL PRIMARY KEY)")
        for revision in revisions:
            connection.execute("INSERT INTO alembic_version VALUES (%s)", (revision,))


def run(*args: str):
    return CliRunner().invoke(cli, list(args))


def normalise(text: str, url: str) -> str:
    from migdoc.util.masking import mask_url

    return re.sub(r"commit [0-9a-f]{7,}", "commit <sha>", text.replace(mask_url(url), "<database>"))


def test_status_at_a_known_revision_lists_the_upgrades_in_order(copy_fixture, pg_server, pg_database):
    copy_fixture("deploy_chain")
    stamp(pg_server, pg_database, "0002")
    result = run("status", "deploy_chain", "--database-url", pg_database)
    assert result.exit_code == 0, result.output
    assert_golden("status/known_revision.txt", normalise(result.output, pg_database))
    payload = json.loads(run("status", "deploy_chain", "--database-url", pg_database, "--format", "json").output)
    assert [p["revision"] for p in payload["pending"]] == ["0003", "0004"]
    assert payload["heads"] == ["0004"] and payload["current"][0]["is_known"]
    check = run("check", "deploy_chain", "--database-url", pg_database)
    assert check.exit_code == 0, check.output
    assert "MD016" not in check.output


def test_status_up_to_date_and_at_base(copy_fixture, pg_server, pg_database):
    copy_fixture("deploy_chain")
    stamp(pg_server, pg_database)
    result = run("status", "deploy_chain", "--database-url", pg_database)
    assert result.exit_code == 0, result.output
    assert "alembic_version is empty" in result.output
    assert "upgrade heads would run 4 revisions" in result.output


def test_archived_revision_is_md016_and_says_where_it_went(copy_fixture, pg_server, pg_database):
    copy_fixture("deploy_chain")
    stamp(pg_server, pg_database, "0002a")
    status = run("status", "deploy_chain", "--database-url", pg_database)
    assert status.exit_code == 0, status.output
    assert_golden("status/archived_revision.txt", normalise(status.output, pg_database))
    check = run("check", "deploy_chain", "--database-url", pg_database)
    assert check.exit_code == 1
    assert_golden("status/archived_revision_check.txt", normalise(check.output, pg_database))


def test_deleted_revision_is_found_in_git_history(copy_fixture, pg_server, pg_database):
    root = copy_fixture("deploy_chain")
    git(root, "init", "-q", "-b", "main")
    dropped = root / "migrations" / "versions" / "0005_add_coupons.py"
    dropped.write_text(DROPPED)
    git(root, "add", ".")
    git(root, "commit", "-q", "-m", "add coupons")
    git(root, "rm", "-q", str(dropped))
    git(root, "commit", "-q", "-m", "revert coupons, wrong branch")
    stamp(pg_server, pg_database, "0005")
    check = run("check", "deploy_chain", "--database-url", pg_database, "--format", "json")
    assert check.exit_code == 1
    (finding,) = [d for d in json.loads(check.output)["diagnostics"] if d["code"] == "MD016"]
    assert finding["revision"] == "0005"
    assert "deploy_chain/migrations/versions/0005_add_coupons.py was deleted in commit" in finding["message"]
    assert '"revert coupons, wrong branch"' in finding["message"]
    status = run("status", "deploy_chain", "--database-url", pg_database)
    assert status.exit_code == 0
    assert_golden("status/deleted_revision.txt", normalise(status.output, pg_database))


def test_renamed_revision_id_is_found_in_git_history(copy_fixture, pg_server, pg_database):
    root = copy_fixture("deploy_chain")
    git(root, "init", "-q", "-b", "main")
    git(root, "add", ".")
    git(root, "commit", "-q", "-m", "chain")
    target = root / "migrations" / "versions" / "0004_add_invoices.py"
    target.write_text(target.read_text().replace('revision = "0004"', 'revision = "0005"'))
    git(root, "commit", "-q", "-am", "renumber invoices")
    stamp(pg_server, pg_database, "0004")
    check = run("check", "deploy_chain", "--database-url", pg_database)
    assert check.exit_code == 1
    assert "its id was last changed in commit" in check.output and "renumber invoices" in check.output


def test_unknown_revision_outside_git(copy_fixture, pg_server, pg_database):
    copy_fixture("deploy_chain")
    stamp(pg_server, pg_database, "ffffffffffff")
    check = run("check", "deploy_chain", "--database-url", pg_database)
    assert check.exit_code == 1
    assert "neither the archive folder nor git history knows it" in check.output


def with_ini_url(root, url: str) -> None:
    ini = root / "alembic.ini"
    ini.write_text(re.sub(r"(?m)^sqlalchemy\.url = .*$", f"sqlalchemy.url = {url}", ini.read_text()))


def test_status_reads_the_projects_own_url_as_alembic_current_does(copy_fixture, pg_server, pg_database, monkeypatch):
    monkeypatch.delenv("MIGDOC_DATABASE_URL", raising=False)
    root = copy_fixture("deploy_chain")
    stamp(pg_server, pg_database, "0003")
    with_ini_url(root, pg_database.replace("%", "%%"))
    result = run("status", "deploy_chain")
    assert result.exit_code == 0, result.output
    assert "upgrade heads would run 1 revision" in result.output
    assert mask_url(pg_database) in result.output
    given = run("status", "deploy_chain", "--database-url", pg_database)
    assert given.output == result.output  # --database-url names the same database: the same answer


def test_status_without_any_url_says_what_to_pass(copy_fixture, monkeypatch):
    monkeypatch.delenv("MIGDOC_DATABASE_URL", raising=False)
    root = copy_fixture("deploy_chain")
    ini = root / "alembic.ini"
    ini.write_text(re.sub(r"(?m)^sqlalchemy\.url = .*\n", "", ini.read_text()))
    result = run("status", "deploy_chain")
    assert result.exit_code == 2
    assert "--database-url" in result.output and "sets no sqlalchemy.url" in result.output


def test_status_with_a_url_alembic_cannot_interpolate_masks_the_password(copy_fixture, monkeypatch):
    monkeypatch.delenv("MIGDOC_DATABASE_URL", raising=False)
    root = copy_fixture("deploy_chain")
    with_ini_url(root, "postgresql://deploy:%SuperSecret99@db.internal/prod")
    result = run("status", "deploy_chain")
    assert result.exit_code == 2, result.output
    assert "SuperSecret99" not in result.output and "sqlalchemy.url" in result.output
    assert "Traceback" not in result.output
