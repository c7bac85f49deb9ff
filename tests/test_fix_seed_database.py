"""Issue 12, items 1 and 5, end to end on a real PostgreSQL: which copy of the seed story's
duplicated 0025 is the original is decided by the deployed database's alembic_version
(`fix --archive --database-url`), the plan prints that evidence, never archives a revision
the database applied without saying so, and prints the exact `alembic stamp` where it moves
the database's current revision out of the chain. migdoc only ever reads the database.

tests/test_fix_seed.py has the same decisions with the database's revisions given to the
pure planner; here they come from alembic_version through the command line."""

from __future__ import annotations

import json
import shlex
import subprocess
import sys

import pytest
from click.testing import CliRunner
from fixhelp import alembic_heads
from test_fix_database import stamp, versions_in
from test_fix_seed import HAND_REPAIR, chain

from migdoc.cli import cli

pytestmark = pytest.mark.postgres

ARCHIVE_DIR = "fix_seed/migrations/archive/2025-12-20"
ORIGINAL = "0025_add_channel_mtproto_settings.py"
COPY = "0025b_add_mtproto_audit_log.py"
COPYS_LINE_MOVES = {
    "0024_add_mtproto_sessions.py",
    ORIGINAL,
    "0026c_add_mtproto_sessions.py",
    "0026d_add_channel_title.py",
}


def run(*args: str):
    return CliRunner().invoke(cli, list(args))


def fix_archive(url: str, *more: str):
    return run("fix", "--archive", "--archive-dir", ARCHIVE_DIR, "fix_seed", "--database-url", url, *more)


def planned(url: str, *more: str) -> dict:
    result = fix_archive(url, "--format", "json", *more)
    assert result.exit_code == 1, result.output
    return json.loads(result.stdout)


def moves(payload: dict) -> dict[str, list[str]]:
    """Archived file name -> the warnings its move carries."""
    return {a["from"].rsplit("/", 1)[1]: a["warnings"] for a in payload["actions"] if a["action"] == "move"}


def run_printed_stamp(root, url: str, command: str) -> None:
    """The command exactly as migdoc printed it, run by Alembic itself (env.py reads DATABASE_URL)."""
    argv = shlex.split(command)
    assert argv[0] == "alembic"
    done = subprocess.run(
        [sys.executable, "-m", "alembic", *argv[1:]],
        cwd=root.parent,
        env={"DATABASE_URL": url, "PATH": ""},
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr


def test_a_database_on_the_hand_repaired_line_keeps_the_original_and_the_name_agrees(
    copy_fixture, pg_server, pg_database
):
    root = copy_fixture("fix_seed")
    stamp(pg_server, pg_database, "0024")  # it ran 0024, the hand-repaired line, before 0025
    result = fix_archive(pg_database)
    assert result.exit_code == 1, result.output
    assert (
        f"  note: evidence for 0025: keeps {ORIGINAL} by database: the deployed database (at 0024) applied "
        f"0024 (parent of {ORIGINAL}), not 0024b\n"
    ) in result.output
    assert f"  note: evidence for 0025: file name agrees ({ORIGINAL} carries the id 0025;" in result.output
    payload = planned(pg_database)
    assert set(moves(payload)) == HAND_REPAIR
    assert all(warnings == [] for warnings in moves(payload).values())  # it applied none of them
    assert payload["stamp"] is None and "stamp" not in result.output
    applied = run("fix", "--archive", "--apply", "fix_seed", "--database-url", pg_database)
    assert applied.exit_code == 0, applied.output
    assert alembic_heads(root) == ["0027"]
    assert chain(root) == ["0027", "0025", "0024", "0023", "0013", "0001"]
    assert versions_in(pg_server, pg_database) == ["0024"]  # read, never written
    again = fix_archive(pg_database)
    assert again.exit_code == 0 and "nothing to do" in again.output, again.output


def test_a_database_at_the_hand_repaired_head_says_nothing_about_the_copies_and_each_applied_move_says_so(
    copy_fixture, pg_server, pg_database
):
    copy_fixture("fix_seed")
    stamp(pg_server, pg_database, "0027")  # past the duplicated id: which 0025 ran is not recorded
    result = fix_archive(pg_database)
    assert result.exit_code == 1, result.output
    assert f"  note: evidence for 0025: keeps {ORIGINAL} by file name:" in result.output
    assert "evidence for 0025: database" not in result.output
    # for the heads it does speak: it applied 0027, and the names and the content agree
    assert "  note: evidence for the main head: 0027 by database: the deployed database (at 0027) applied 0027 " in (
        result.output
    )
    assert "  note: evidence for the main head: file name agrees" in result.output
    payload = planned(pg_database)
    archived = moves(payload)
    assert set(archived) == HAND_REPAIR
    # every archived revision its alembic_version implies is named as applied, with what it means
    assert archived["0024b_add_mtproto_sessions.py"] == [
        "applied in the database: 0024b, an ancestor of its current 0027; alembic_version does not name it"
    ]
    assert archived["0026b_add_channel_mtproto_settings.py"] == [
        "applied in the database: 0026, an ancestor of its current 0027; alembic_version does not name it"
    ]
    assert "the id stays in the chain" in archived[COPY][0]
    assert archived["0026c_add_mtproto_sessions.py"] == archived["0026d_add_channel_title.py"] == []
    assert payload["stamp"] is None  # 0027 stays in the chain


def test_a_database_on_the_copys_line_keeps_the_copy_over_the_file_name(copy_fixture, pg_server, pg_database):
    root = copy_fixture("fix_seed")
    stamp(pg_server, pg_database, "0024b")
    result = fix_archive(pg_database)
    assert result.exit_code == 1, result.output
    assert (
        f"  note: evidence for 0025: keeps {COPY} by database: the deployed database (at 0024b) applied "
        f"0024b (parent of {COPY}), not 0024\n"
    ) in result.output
    assert f"file name points at {ORIGINAL}" in result.output and "overruled by the stronger database" in result.output
    payload = planned(pg_database)
    assert set(moves(payload)) == COPYS_LINE_MOVES
    assert all(warnings == [] for warnings in moves(payload).values())
    assert payload["stamp"] is None  # 0024b, where the database is, stays on the main line
    applied = run("fix", "--archive", "--apply", "fix_seed", "--database-url", pg_database)
    assert applied.exit_code == 0, applied.output
    assert alembic_heads(root) == ["0027"]
    assert chain(root) == ["0027", "0026", "0025", "0024b", "0023", "0013", "0001"]
    assert versions_in(pg_server, pg_database) == ["0024b"]


def test_keep_overruling_the_database_says_it_archives_the_applied_revision_and_prints_the_stamp(
    copy_fixture, pg_server, pg_database
):
    root = copy_fixture("fix_seed")
    stamp(pg_server, pg_database, "0024b")
    keep = ("--keep", ORIGINAL)
    result = fix_archive(pg_database, *keep)
    assert result.exit_code == 1, result.output
    assert f"  note: evidence for 0025: keeps {ORIGINAL} by --keep" in result.output
    assert f"database points at {COPY}" in result.output and "overruled by the stronger --keep" in result.output
    assert (
        "          warning: applied in the database: 0024b is its current revision; archiving takes it out "
        "of the chain, so the database must be stamped (below)\n"
    ) in result.output
    command = "alembic -c fix_seed/alembic.ini stamp --purge 0023"
    assert f"    {command}\n" in result.output
    payload = planned(pg_database, *keep)
    assert set(moves(payload)) == HAND_REPAIR
    assert payload["stamp"] == {
        "current": ["0024b"],
        "revisions": ["0023"],
        "command": command,
        "reason": payload["stamp"]["reason"],
    }
    diff = fix_archive(pg_database, *keep, "--diff")
    assert f"after applying, stamp the database: {command}" in diff.stderr
    applied = run("fix", "--archive", "--apply", *keep, "fix_seed", "--database-url", pg_database)
    assert applied.exit_code == 0, applied.output
    assert applied.output.rstrip().endswith(f"now stamp the database (migdoc did not): {command}")
    assert versions_in(pg_server, pg_database) == ["0024b"]
    run_printed_stamp(root, pg_database, command)
    assert versions_in(pg_server, pg_database) == ["0023"]
    again = fix_archive(pg_database)
    assert again.exit_code == 0 and "stamp" not in again.output, again.output


def test_a_database_on_the_side_branch_is_a_refusal_then_head_stamps_it_back_onto_the_main_line(
    copy_fixture, pg_server, pg_database
):
    root = copy_fixture("fix_seed")
    stamp(pg_server, pg_database, "0026d")
    # it applied 0026c and 0026d, the side branch; names and content point at 0027: the team decides
    refused = fix_archive(pg_database, "--format", "json")
    assert refused.exit_code == 2
    assert json.loads(refused.stdout)["refused"]["candidates"] == ["0026d", "0027"]
    assert "database points at 0026d (the deployed database (at 0026d) applied 0026c, 0026d" in refused.stderr
    assert "file name points at 0027" in refused.stderr and "content points at 0027" in refused.stderr
    payload = planned(pg_database, "--head", "0027")
    assert "evidence for the main head: file name agrees with --head" in "\n".join(payload["notes"])
    assert set(moves(payload)) == HAND_REPAIR
    assert moves(payload)["0026d_add_channel_title.py"][0].startswith(
        "applied in the database: 0026d is its current revision"
    )
    command = "alembic -c fix_seed/alembic.ini stamp --purge 0025"
    assert payload["stamp"]["command"] == command and payload["stamp"]["revisions"] == ["0025"]
    applied = run("fix", "--archive", "--apply", "--head", "0027", "fix_seed", "--database-url", pg_database)
    assert applied.exit_code == 0, applied.output
    run_printed_stamp(root, pg_database, command)
    assert versions_in(pg_server, pg_database) == ["0025"]
    assert "0025" in chain(root)  # the stamped revision is on the repaired chain
