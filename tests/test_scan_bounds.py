"""Issue 23, item 8: the look for revision files in subfolders opens nothing but regular
files and is bounded; a version folder that cannot be listed is said, not read as empty."""

from __future__ import annotations

import os
import shutil
import signal
from contextlib import contextmanager
from pathlib import Path

import pytest
from click.testing import CliRunner

from migdoc.cli import cli
from migdoc.project.config import _NOTE_DEPTH, _NOTE_FOLDERS, find_layout
from migdoc.project.scan import declares_revision

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
REVISION = "revision = 'x1'\ndown_revision = None\n"


@contextmanager
def within(seconds: int):
    def expire(signum, frame):
        raise TimeoutError(f"ran longer than {seconds} s: a hang")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


def project(tmp_path: Path) -> Path:
    root = tmp_path / "p"
    shutil.copytree(FIXTURES / "healthy_numbered_merge", root)
    return root


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs here")
def test_a_fifo_named_py_in_a_subfolder_is_not_opened_for_reading(tmp_path, monkeypatch):
    root = project(tmp_path)
    sub = root / "migrations" / "versions" / "old"
    sub.mkdir()
    os.mkfifo(sub / "0000_pipe.py")
    (sub / "0000_real.py").write_text(REVISION)
    monkeypatch.chdir(tmp_path)
    assert declares_revision(sub / "0000_pipe.py") is False
    for command in ("check", "graph", "fix"):
        with within(20):
            result = CliRunner().invoke(cli, [command, "p"])
        assert result.exit_code == 0, result.output
        assert "1 more revision file lie in subfolders" in result.stderr


def test_the_subfolder_look_stops_at_its_depth(tmp_path):
    root = project(tmp_path)
    deep = root / "migrations" / "versions"
    for level in range(_NOTE_DEPTH + 2):
        deep = deep / f"d{level}"
    deep.mkdir(parents=True)
    (deep / "0000_deep.py").write_text(REVISION)
    assert find_layout(root).unread_subfolder_files == 0
    shallow = root / "migrations" / "versions" / "d0" / "0000_shallow.py"
    shallow.write_text(REVISION)
    assert find_layout(root).unread_subfolder_files == 1


def test_the_subfolder_look_stops_after_its_folder_count_and_says_at_least(tmp_path):
    root = project(tmp_path)
    versions = root / "migrations" / "versions"
    for number in range(_NOTE_FOLDERS + 20):
        folder = versions / f"s{number:04d}"
        folder.mkdir()
        (folder / "0000_x.py").write_text(REVISION)
    layout = find_layout(root)
    assert layout.unread_subfolder_files == _NOTE_FOLDERS
    assert f"at least {_NOTE_FOLDERS} more revision files" in layout.notes[-1]


def test_a_version_folder_that_cannot_be_listed_is_said(tmp_path, monkeypatch):
    root = project(tmp_path)
    versions = str(root / "migrations" / "versions")
    listing = os.scandir

    def denied(path="."):
        if os.fspath(path).rstrip("/") == versions:
            raise PermissionError(13, "Permission denied", os.fspath(path))
        return listing(path)

    monkeypatch.setattr(os, "scandir", denied)  # as root, chmod 000 would not stop the listing
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(cli, ["check", "p"])
    assert result.exit_code == 2, result.output
    [line] = result.stderr.strip().splitlines()
    assert "read 0 revisions" in line and "Permission denied" in line


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0, reason="root lists any folder")
def test_a_version_folder_without_read_permission_is_said(tmp_path, monkeypatch):
    root = project(tmp_path)
    versions = root / "migrations" / "versions"
    versions.chmod(0o000)
    try:
        monkeypatch.chdir(tmp_path)
        result = CliRunner().invoke(cli, ["check", "p"])
    finally:
        versions.chmod(0o755)
    assert result.exit_code == 2 and "Permission denied" in result.stderr
