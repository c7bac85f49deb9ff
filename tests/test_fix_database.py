"""`migdoc fix --database-url`: the plan says which actions touch revisions the
database has applied, and prints the `alembic stamp` that realigns it; migdoc
itself only ever reads the database."""

from __future__ import annotations

import json
import shlex
import subprocess
import sys

import pytest
from click.testing import CliRunner
from fixhelp import plan_for
from golden import assert_golden

from migdoc.cli import cli
from migdoc.database.upgrades import applied_revisions
from migdoc.doctor import load_project
from migdoc.model import EditText, MoveFile

ARCHIVE_DIR = "fix_story/migrations/archive/2025-12-20"
STAMP_0025 = "alembic -c fix_story/alembic.ini stamp --purge 0025"


def stamp(pg_server, url: str, *revisions: str) -> None:
    from sqlalchemy.engine import make_url

    with pg_server.connect(make_url(url).database) as connection:
        connection.execute("CREATE TABLE alembic_version (version_num varchar(32) NOT NULL PRIMARY KEY)")
        for revision in revisions:
            connection.execute("INSERT INTO alembic_version VALUES (%s)", (revision,))


def versions_in(pg_server, url: str) -> list[str]:
    from sqlalchemy.engine import make_url

    with pg_server.connect(make_url(url).database) as connection:
        return sorted(row[0] for row in connection.execute("SELECT version_num FROM alembic_version").fetchall())


def run(*args: str, env: dict[str, str] | None = None):
    return CliRunner().invoke(cli, list(args), env=env)


def fix_archive(url: str, *more: str):
    return run("fix", "--archive", "--archive-dir", ARCHIVE_DIR, "fix_story", "--database-url", url, *more)


def by_revision(actions: list[dict]) -> dict[str, dict]:
    return {f"{a['action']} {a['revision']}": a for a in actions if a["revision"]}


def plan_at(*current: str):
    project = load_project("fix_story")
    return plan_for(
        "fix_story",
        is_archive=True,
        database_current=current,
        applied_revisions=applied_revisions(project.graph, current),
        alembic_config="fix_story/alembic.ini",
    )


# -- the planner, with the database's revisions given -------------------------


def test_applied_set_is_the_current_revisions_and_their_ancestors(copy_fixture):
    copy_fixture("fix_story")
    graph = load_project("fix_story").graph
    assert applied_revisions(graph, ["0026b"]) == {"0001", "0002", "0003", "0023", "0024", "0025", "0026b"}
    assert applied_revisions(graph, ["0024b"]) == {"0001", "0002", "0003", "0023", "0024b"}
    assert applied_revisions(graph, ["gone"]) == {"gone"}
    assert applied_revisions(graph, []) == frozenset()


def test_two_current_revisions_are_both_stamped_again_after_the_purge(copy_fixture):
    copy_fixture("fix_story")
    # 0026d leaves; its nearest survivor 0025 is an ancestor of 0027, which the purge must keep.
    assert plan_at("0026d", "0027").realign.revisions == ("0027",)
    # 0024b -> 0023 and 0026c -> 0025; 0023 is an ancestor of 0025, so stamping 0025 says both.
    plan = plan_at("0024b", "0026c")
    assert plan.realign.revisions == ("0025",)
    assert plan.realign.command == STAMP_0025


def test_past_an_archived_revision_no_stamp_but_a_warning(copy_fixture):
    copy_fixture("fix_story")
    plan = plan_at("0027")  # 0026b (archived, relinked over) is applied
    assert plan.realign is None
    (move,) = [a for a in plan.actions if isinstance(a, MoveFile) and a.revision == "0026b"]
    assert move.warnings == (
        "applied in the database: 0026b, an ancestor of its current 0027; alembic_version does not name it",
    )
    (edit,) = [a for a in plan.actions if isinstance(a, EditText)]
    assert edit.warnings and edit.warnings[0].startswith("applied in the database: 0027; relinking")


def test_without_a_database_nothing_is_flagged(copy_fixture):
    copy_fixture("fix_story")
    plan = plan_for("fix_story", is_archive=True)
    assert plan.realign is None and not any(a.warnings for a in plan.actions)


# -- against a real PostgreSQL ------------------------------------------------


@pytest.mark.postgres
def test_at_an_archived_revision_the_plan_warns_and_prints_the_stamp(copy_fixture, pg_server, pg_database):
    copy_fixture("fix_story")
    stamp(pg_server, pg_database, "0026b")
    result = fix_archive(pg_database)
    assert result.exit_code == 1, result.output
    assert_golden("fix/database_at_0026b.txt", result.output)
    assert f"    {STAMP_0025}\n" in result.output
    payload = json.loads(fix_archive(pg_database, "--format", "json").output)
    assert payload["stamp"]["command"] == STAMP_0025
    assert payload["stamp"]["current"] == ["0026b"] and payload["stamp"]["revisions"] == ["0025"]
    actions = by_revision(payload["actions"])
    assert actions["move 0026b"]["warnings"][0].startswith("applied in the database: 0026b is its current revision")
    assert actions["edit 0027"]["warnings"] == []
    assert versions_in(pg_server, pg_database) == ["0026b"]  # read, never written


@pytest.mark.postgres
def test_the_diff_keeps_database_warnings_and_the_stamp_on_stderr(copy_fixture, pg_server, pg_database):
    copy_fixture("fix_story")
    stamp(pg_server, pg_database, "0026b")
    result = CliRunner().invoke(
        cli, ["fix", "--archive", "--archive-dir", ARCHIVE_DIR, "fix_story", "--database-url", pg_database, "--diff"]
    )
    assert result.exit_code == 1, result.output
    assert result.stdout.startswith("diff --git ")
    assert "warning: applied in the database: 0026b is its current revision" in result.stderr
    assert f"after applying, stamp the database: {STAMP_0025}" in result.stderr


@pytest.mark.postgres
def test_at_a_kept_revision_no_stamp_and_the_relink_is_fine(copy_fixture, pg_server, pg_database):
    copy_fixture("fix_story")
    stamp(pg_server, pg_database, "0025")
    result = fix_archive(pg_database)
    assert result.exit_code == 1, result.output
    assert "stamp" not in result.output
    assert "the database is at 0025" in result.output
    payload = json.loads(fix_archive(pg_database, "--format", "json").output)
    assert payload["stamp"] is None
    actions = by_revision(payload["actions"])
    assert actions["edit 0027"]["warnings"] == []
    # The stray second copy of 0025 is archived, but the id stays: said, nothing to do.
    assert "stays in the chain" in actions["move 0025"]["warnings"][0]
    dead = [actions[k]["warnings"] for k in ("move 0024b", "move 0026b", "move 0026c", "move 0026d")]
    assert dead == [[], [], [], []]


@pytest.mark.postgres
def test_on_a_dead_branch_stamp_its_branch_point(copy_fixture, pg_server, pg_database):
    copy_fixture("fix_story")
    stamp(pg_server, pg_database, "0024b")
    # the database alone says 0024b's branch is the one deployed, the longest path says 0027: refused
    refused = fix_archive(pg_database)
    assert refused.exit_code == 2, refused.output
    assert "the evidence disagrees: database points at 0024b" in refused.output
    assert "the longest path points at 0027 (8 revisions from a base); choose with --head 0024b or --head 0027" in (
        refused.output
    )
    result = fix_archive(pg_database, "--head", "0027")
    assert result.exit_code == 1, result.output
    assert "evidence for the main head: database points at 0024b (" in result.output
    assert "overruled by --head 0027" in result.output
    assert "warning: applied in the database: 0024b is its current revision" in result.output
    assert "alembic -c fix_story/alembic.ini stamp --purge 0023\n" in result.output
    payload = json.loads(fix_archive(pg_database, "--head", "0027", "--format", "json").output)
    assert payload["stamp"]["revisions"] == ["0023"]
    assert payload["stamp"]["command"] == "alembic -c fix_story/alembic.ini stamp --purge 0023"
    assert "schema stays as it is" in payload["stamp"]["reason"]
    actions = by_revision(payload["actions"])
    assert actions["move 0024b"]["warnings"] and not actions["edit 0027"]["warnings"]


@pytest.mark.postgres
def test_apply_prints_the_stamp_after_and_the_printed_command_realigns(copy_fixture, pg_server, pg_database):
    root = copy_fixture("fix_story")
    stamp(pg_server, pg_database, "0026b")
    result = run("fix", "--archive", "--apply", "fix_story", env={"MIGDOC_DATABASE_URL": pg_database})
    assert result.exit_code == 0, result.output
    assert result.output.rstrip().endswith(f"now stamp the database (migdoc did not): {STAMP_0025}")
    assert versions_in(pg_server, pg_database) == ["0026b"]
    status = run("status", "fix_story", "--database-url", pg_database)
    assert "0026b" in status.output and "no version file declares" in status.output
    # The command as printed, run by Alembic itself (env.py reads DATABASE_URL).
    argv = shlex.split(STAMP_0025)
    done = subprocess.run(
        [sys.executable, "-m", "alembic", *argv[1:]],
        cwd=root.parent,
        env={"DATABASE_URL": pg_database, "PATH": ""},
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr
    assert versions_in(pg_server, pg_database) == ["0025"]
    again = fix_archive(pg_database)
    assert again.exit_code == 0 and "stamp" not in again.output, again.output


@pytest.mark.postgres
def test_another_config_and_section_appear_in_the_stamp(copy_fixture, pg_server, pg_database):
    root = copy_fixture("fix_story")
    ini = (root / "alembic.ini").read_text().replace("[alembic]", "[story]")
    (root / "story.ini").write_text(ini)
    stamp(pg_server, pg_database, "0026b")
    result = run(
        "fix", "--archive", "fix_story", "-c", "fix_story/story.ini", "-n", "story", "--database-url", pg_database
    )
    assert result.exit_code == 1, result.output
    assert "    alembic -c fix_story/story.ini -n story stamp --purge 0025\n" in result.output


@pytest.mark.postgres
def test_unreachable_database_one_line_exit_2_password_masked(copy_fixture, pg_server, tmp_path):
    root = copy_fixture("fix_story")
    url = f"postgresql+psycopg://postgres:s3cr3t-pw@/postgres?host={tmp_path / 'no-server-here'}"
    result = run("fix", "--archive", "--apply", "fix_story", "--database-url", url)
    assert result.exit_code == 2, result.output
    assert "s3cr3t-pw" not in result.output and "***" in result.output
    assert result.output.count("\n") == 1 and result.output.startswith("migdoc: error: ")
    assert not (root / "migrations" / "archive").exists() and not (root / ".migdoc").exists()


@pytest.mark.postgres
def test_never_stamped_database_exit_2_nothing_planned(copy_fixture, pg_database):
    root = copy_fixture("fix_story")
    result = run("fix", "--archive", "--apply", "fix_story", "--database-url", pg_database)
    assert result.exit_code == 2, result.output
    assert "no alembic_version table" in result.output and result.output.count("\n") == 1
    assert not (root / "migrations" / "archive").exists()
