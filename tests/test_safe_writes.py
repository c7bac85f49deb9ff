"""Issue 23: migdoc writes only where it belongs. ``-o FILE`` never renames over what is
not a regular file; ``fix`` never writes outside the project."""

from __future__ import annotations

import errno
import json
import os
import stat
import subprocess
import threading
from pathlib import Path

import pytest
from click.testing import CliRunner
from environment import is_root
from fixhelp import apply_for, plan_for, snapshot
from hostile import write_project

from migdoc.cli import cli
from migdoc.errors import ApplyError
from migdoc.fix import apply as applying
from migdoc.util.filesystem import FileRefused, display_path, write_atomically


def run(*args: str):
    return CliRunner().invoke(cli, list(args))


# -- item 1: -o FILE on a device, a FIFO, a symlink ------------------------------------------


def test_output_to_a_symlink_writes_its_target_and_keeps_the_link(in_tmp):
    write_project(in_tmp / "p")
    (in_tmp / "reports").mkdir()
    (in_tmp / "reports" / "check.json").write_text("old\n")
    os.symlink("reports/check.json", "link.json")
    result = run("check", "p", "--format", "json", "-o", "link.json")
    assert result.exit_code == 0, result.output
    assert os.path.islink("link.json") and os.readlink("link.json") == "reports/check.json"
    assert '"summary"' in (in_tmp / "reports" / "check.json").read_text()


def test_output_to_a_dangling_symlink_creates_its_target(in_tmp):
    write_project(in_tmp / "p")
    os.symlink("made.json", "link.json")
    assert run("check", "p", "--format", "json", "-o", "link.json").exit_code == 0
    assert os.path.islink("link.json") and '"summary"' in (in_tmp / "made.json").read_text()


def test_output_through_a_symlink_to_a_character_device_writes_through(in_tmp):
    """Before: the link was replaced by a regular file. /dev/null itself is reached only
    through a link, so a regression replaces the link in tmp_path, never the machine's."""
    write_project(in_tmp / "p")
    os.symlink("/dev/null", "null")
    result = run("check", "p", "-o", "null")
    assert result.exit_code == 0, result.output
    assert os.readlink("null") == "/dev/null"
    assert stat.S_ISCHR(os.stat("/dev/null").st_mode)
    assert sorted(os.listdir(in_tmp)) == ["null", "p"]


@pytest.mark.skipif(not is_root(), reason="mknod of a character device needs root")  # may skip under CI
def test_output_to_a_character_device_node_writes_through_it(in_tmp):
    """The reported bug: ``-o /dev/null`` as root replaced /dev/null with a regular file.
    A private node with /dev/null's numbers stands in for it."""
    write_project(in_tmp / "p")
    os.mknod("null", stat.S_IFCHR | 0o666, os.makedev(1, 3))
    result = run("check", "p", "-o", "null")
    assert result.exit_code == 0, result.output
    assert stat.S_ISCHR(os.lstat("null").st_mode)


def test_output_to_a_fifo_with_a_reader_writes_into_the_pipe(in_tmp):
    os.mkfifo("pipe")
    received: list[bytes] = []

    def read_all() -> None:
        with open("pipe", "rb") as pipe:
            received.append(pipe.read())

    reader = threading.Thread(target=read_all, daemon=True)
    reader.start()
    for _ in range(200):  # until the reader has the FIFO open
        try:
            write_atomically("pipe", "report\n")
            break
        except FileRefused:
            threading.Event().wait(0.01)
    reader.join(timeout=10)
    assert received == [b"report\n"]
    assert stat.S_ISFIFO(os.lstat("pipe").st_mode)


def test_output_to_a_fifo_nobody_reads_is_one_line_and_exit_2(in_tmp):
    write_project(in_tmp / "p")
    os.mkfifo("pipe")
    result = run("check", "p", "-o", "pipe")
    assert result.exit_code == 2
    assert result.output.strip() == "migdoc: error: cannot write pipe: it is a FIFO (named pipe) nobody is reading"
    assert stat.S_ISFIFO(os.lstat("pipe").st_mode)


def test_output_to_a_folder_is_refused_and_the_folder_kept(in_tmp):
    write_project(in_tmp / "p")
    (in_tmp / "out").mkdir()
    result = run("graph", "p", "-o", "out")
    assert result.exit_code == 2
    assert "cannot write out: it is a folder" in result.output and "Traceback" not in result.output
    assert (in_tmp / "out").is_dir() and not list((in_tmp / "out").iterdir())


# -- item 2: fix writes only inside the project ----------------------------------------------


def fix_story_with(copy_fixture, tmp_path):
    """fix_story (an --archive plan that moves files and edits one) beside a folder outside it."""
    root = copy_fixture("fix_story")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    return root, elsewhere


def assert_refused_with_nothing_written(result, root, before, elsewhere, *expected):
    assert result.exit_code == 2, result.output
    lines = result.output.strip().splitlines()
    assert lines[-1].startswith("migdoc: error:") and "Traceback" not in result.output, result.output
    for text in expected:
        assert text in lines[-1], lines[-1]
    assert snapshot(root) == before
    assert list(elsewhere.iterdir()) == []


def test_fix_refuses_an_archive_folder_that_is_a_symlink_out_of_the_project(copy_fixture, tmp_path):
    root, elsewhere = fix_story_with(copy_fixture, tmp_path)
    os.symlink("../../elsewhere", root / "migrations" / "archive")
    before = snapshot(root)
    result = run("fix", "fix_story", "--archive", "--apply")
    assert_refused_with_nothing_written(
        result, root, before, elsewhere, "lies outside the project (it resolves to elsewhere/", "nothing changed"
    )


@pytest.mark.parametrize("link", [".migdoc", ".migdoc/journal"])
def test_fix_refuses_a_state_folder_that_is_a_symlink_out_of_the_project(copy_fixture, tmp_path, link):
    """The journal holds the full text of every edited file; the lock names the host."""
    root, elsewhere = fix_story_with(copy_fixture, tmp_path)
    (root / ".migdoc").mkdir(exist_ok=True) if link != ".migdoc" else None
    os.symlink(elsewhere, root / link)
    before = snapshot(root)
    result = run("fix", "fix_story", "--archive", "--apply")
    assert_refused_with_nothing_written(
        result, root, before, elsewhere, f"{link} resolves to elsewhere, outside the project"
    )
    result = run("fix", "fix_story", "--undo")
    assert_refused_with_nothing_written(
        result, root, before, elsewhere, f"{link} resolves to elsewhere, outside the project"
    )


def test_fix_marks_its_state_folder_ignored_by_git(copy_fixture):
    root = copy_fixture("fix_story")
    subprocess.run(["git", "init", "-q", str(root)], check=True)
    result = run("fix", "fix_story", "--archive", "--apply")
    assert result.exit_code == 0, result.output
    assert (root / ".migdoc" / ".gitignore").read_text().splitlines()[-1] == "*"
    status = subprocess.run(
        ["git", "-C", str(root), "status", "--porcelain", "--untracked-files=all"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert ".migdoc" not in status.stdout and "migrations/archive" in status.stdout


def test_a_refused_fix_leaves_no_state_folder_behind(copy_fixture):
    """The .gitignore goes with the folder when no journal stays."""
    root = copy_fixture("fix_merge")
    plan = plan_for("fix_merge", is_merge=True)
    (created,) = [a for a in plan.actions if a.kind == "create" and a.path.endswith(".py")]
    Path(created.path).write_text("# someone else's\n")
    with pytest.raises(ApplyError):
        apply_for("fix_merge", plan)
    assert not (root / ".migdoc").exists()


def test_a_gitignore_the_user_changed_is_kept(copy_fixture):
    root = copy_fixture("fix_merge")
    (root / ".migdoc").mkdir()
    (root / ".migdoc" / ".gitignore").write_text("lock\n")
    plan = plan_for("fix_merge", is_merge=True)
    assert not apply_for("fix_merge", plan).is_rolled_back
    applying.undo_last(root)
    assert (root / ".migdoc" / ".gitignore").read_text() == "lock\n"


# -- item 3: an undo over a file the user changed closes the journal -------------------------


def test_undo_keeps_a_file_changed_after_the_fix_closes_the_journal_and_a_later_fix_runs(copy_fixture):
    """Before: the journal stayed "partly undone", every later fix refused ("0 of 7 steps on
    disk") and --undo said "restored" with exit 1."""
    root = copy_fixture("fix_story")
    assert run("fix", "fix_story", "--archive", "--apply").exit_code == 0
    (edited,) = [a for a in plan_for_applied(root) if a["kind"] == "edit"]
    changed = Path(edited["path"])
    changed.write_text(changed.read_text() + "\n# a later change by hand\n")

    result = run("fix", "fix_story", "--undo")
    assert result.exit_code == 1, result.output
    first, *rest = result.output.splitlines()
    assert first.startswith("restored the files of fix_story/.migdoc/journal/")
    assert first.endswith(" except 1, kept as they were changed after the fix; the journal is closed")
    assert rest == [
        f"migdoc: kept: fix_story/migrations/versions/{changed.name} changed since it was fixed; left as it is"
    ]
    assert changed.read_text().endswith("# a later change by hand\n")
    (journal,) = journals(root)
    assert journal["status"] == "undone" and len(journal["kept"]) == 1

    after = run("fix", "fix_story")
    assert "interrupted" not in after.output and "--undo" not in after.output, after.output
    again = run("fix", "fix_story", "--undo")
    assert again.exit_code == 2 and "nothing to undo" in again.output


def test_undo_whose_write_fails_leaves_the_journal_open_and_says_so(copy_fixture, monkeypatch):
    root = copy_fixture("fix_story")
    assert run("fix", "fix_story", "--archive", "--apply").exit_code == 0
    real_move = applying._move_no_clobber

    def failing_move(source, target):
        raise OSError(28, "No space left on device", str(target))

    monkeypatch.setattr(applying, "_move_no_clobber", failing_move)
    result = run("fix", "fix_story", "--undo")
    assert result.exit_code == 1
    assert result.output.splitlines()[0].startswith("partly restored the files of")
    assert "migdoc: not restored:" in result.output
    assert journals(root)[0]["status"] == "partly undone"
    blocked = run("fix", "fix_story", "--archive")
    assert blocked.exit_code == 2 and "the undo of an earlier fix did not finish" in blocked.output
    monkeypatch.setattr(applying, "_move_no_clobber", real_move)
    assert run("fix", "fix_story", "--undo").exit_code == 0
    assert journals(root)[0]["status"] == "undone"


def journals(root: Path) -> list[dict]:
    return [json.loads(p.read_text()) for p in sorted((root / ".migdoc" / "journal").glob("*.json"))]


def plan_for_applied(root: Path) -> list[dict]:
    (journal,) = journals(root)
    return journal["steps"]


# -- item 6: a full disk names the file being written ----------------------------------------


def test_a_full_disk_names_the_file_being_written(copy_fixture, monkeypatch):
    """fsync(2)/write(2) errors carry no file name: before, the line ended "...device): ;"."""
    root = copy_fixture("fix_merge")
    plan = plan_for("fix_merge", is_merge=True)
    (created,) = [a for a in plan.actions if a.kind == "create" and a.path.endswith(".py")]
    real_fsync = os.fsync

    def full_for_the_merge_file(fd):
        if os.path.basename(os.readlink(f"/proc/self/fd/{fd}")).startswith(f".{Path(created.path).name}."):
            raise OSError(errno.ENOSPC, "No space left on device")
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", full_for_the_merge_file)
    before = snapshot(root / "migrations")
    with pytest.raises(ApplyError) as refused:
        apply_for("fix_merge", plan)
    message = str(refused.value)
    assert f"could not write {display_path(created.path)} (No space left on device); every file was restored" in message
    assert snapshot(root / "migrations") == before
    assert [p.name for p in Path(created.path).parent.iterdir() if "migdoc-tmp" in p.name] == []
