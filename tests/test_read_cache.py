"""The read cache and the parallel reader must give exactly what a plain read gives."""

from __future__ import annotations

import shutil
import sys

import pytest

from migdoc.project import read_cache, scan
from migdoc.project.config import find_layout
from migdoc.project.scan import read_project_files
from tests.conftest import FIXTURES


@pytest.fixture
def demo(tmp_path, monkeypatch):
    target = tmp_path / "demo"
    shutil.copytree(FIXTURES / "demo", target)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MIGDOC_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.delenv("MIGDOC_NO_CACHE", raising=False)
    return target


def test_cached_read_equals_fresh_read_and_sees_edits(demo, tmp_path):
    layout = find_layout("demo")
    fresh = read_project_files(layout, use_cache=False)
    first = read_project_files(layout)
    assert list((tmp_path / "cache").glob("reads-*.jsonl")), "the first read should fill the cache"
    second = read_project_files(layout)
    assert first == fresh and second == fresh

    edited = demo / "migrations" / "versions" / "0004_add_order_status.py"
    edited.write_text(edited.read_text().replace('revision = "0004"', 'revision = "0004x"'))
    after = read_project_files(layout)
    assert "0004x" in {r.revision for r in after}
    assert "0004" not in {r.revision for r in after}


def test_cache_written_from_one_folder_is_right_read_from_another(demo, tmp_path, monkeypatch):
    """Issue 10: records hold absolute paths, so a cache written with the current directory
    at ``tmp_path`` gives the same records read from inside the project (and from outside
    it, where the project is named by an absolute path)."""
    written = read_project_files(find_layout("demo"))
    assert list((tmp_path / "cache").glob("reads-*.jsonl"))
    versions = (demo / "migrations" / "versions").resolve()
    assert all(r.path.startswith(f"{versions}/") for r in written)
    monkeypatch.chdir(demo / "migrations")
    from_inside = read_project_files(find_layout(".."))
    monkeypatch.chdir("/")
    from_root = read_project_files(find_layout(str(demo)))
    assert from_inside == written and from_root == written
    fresh = read_project_files(find_layout(str(demo)), use_cache=False)
    assert fresh == written


def test_corrupt_cache_is_ignored(demo, tmp_path):
    layout = find_layout("demo")
    read_project_files(layout)
    for cache_file in (tmp_path / "cache").glob("reads-*.jsonl"):
        cache_file.write_bytes(b"not a cache")
    assert read_project_files(layout) == read_project_files(layout, use_cache=False)


def test_no_cache_environment_writes_nothing(demo, tmp_path, monkeypatch):
    monkeypatch.setenv("MIGDOC_NO_CACHE", "1")
    read_project_files(find_layout("demo"))
    assert not (tmp_path / "cache").exists()


@pytest.mark.parametrize("cores", [2, 3])
def test_parallel_read_equals_serial_read(demo, monkeypatch, cores):
    layout = find_layout("demo")
    serial = read_project_files(layout, use_cache=False)
    monkeypatch.setattr(scan, "_PARALLEL_THRESHOLD", 1)
    monkeypatch.setattr(scan.os, "cpu_count", lambda: cores)
    assert read_project_files(layout, use_cache=False) == serial


def test_fix_without_apply_writes_no_cache(demo, tmp_path):
    from click.testing import CliRunner

    from migdoc.cli import cli

    result = CliRunner().invoke(cli, ["fix", "demo", "--archive"])
    assert result.exit_code == 1, result.output  # a plan shown, not applied
    assert not (tmp_path / "cache").exists()
    CliRunner().invoke(cli, ["check", "demo"])
    assert list((tmp_path / "cache").glob("reads-*.jsonl")), "check does use the cache"


def test_warm_records_are_lean_and_equal_to_fresh_ones(demo):
    """Issue 13 (memory at 50,000 revisions): records carry no ``__dict__``; a warm read shares
    equal assignments and one string per revision id, and still equals a fresh read."""
    layout = find_layout("demo")
    fresh = read_project_files(layout, use_cache=False)
    read_project_files(layout)
    assert read_cache.ReadCache.open(layout.root).is_verified  # written line by line, its digest holds
    warm = read_project_files(layout)
    assert warm == fresh
    record = next(r for r in warm if r.upgrade is not None and r.upgrade.operations)
    for value in (record, record.header, record.upgrade, record.upgrade.operations[0], record.revision_at):
        assert not hasattr(value, "__dict__"), type(value).__name__
    by_revision = {r.revision: r for r in warm if r.revision is not None}
    child = next(r for r in warm if r.down_revisions and r.down_revisions[0] in by_revision)
    assert child.down_revisions[0] is by_revision[child.down_revisions[0]].revision
    placed = [r.branch_labels_at for r in warm if r.branch_labels_at is not None]
    assert len(placed) > 2 and len(set(placed)) < len(placed), "the demo's files place branch_labels alike"
    first = {}
    assert all(first.setdefault(at, at) is at for at in placed)
    kinds = [op.kind for r in warm if r.upgrade for op in r.upgrade.operations]
    assert all(kind is sys.intern(kind) for kind in kinds)
