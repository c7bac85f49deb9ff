"""Issue 23: migdoc writes only where it belongs. ``-o FILE`` never renames over what is
not a regular file; ``fix`` never writes outside the project."""

from __future__ import annotations

import os
import stat
import threading

import pytest
from click.testing import CliRunner
from hostile import write_project

from migdoc.cli import cli
from migdoc.filesystem import FileRefused, write_atomically


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


@pytest.mark.skipif(os.geteuid() != 0, reason="mknod of a character device needs root")
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
