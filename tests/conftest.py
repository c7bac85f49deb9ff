from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import pytest
from pg import pg_binaries, pg_database, pg_server  # noqa: F401  (shared PostgreSQL fixtures)

REPO = Path(__file__).resolve().parent.parent
FIXTURES = REPO / "fixtures"


@pytest.fixture
def in_tmp(tmp_path, monkeypatch):
    """Run with the current directory at tmp_path (paths in output are relative)."""
    monkeypatch.chdir(tmp_path)
    return tmp_path


@pytest.fixture
def copy_fixture(tmp_path, monkeypatch):
    """Copy fixtures/<name> into tmp_path and chdir there."""

    def copy(name: str) -> Path:
        target = tmp_path / name
        shutil.copytree(FIXTURES / name, target)
        monkeypatch.chdir(tmp_path)
        return target

    return copy


def pytest_configure(config):
    os.environ.setdefault("NO_COLOR", "1")
    # Keep the read cache out of the user's home; it is content-addressed, so
    # sharing it across the session's tests is safe.
    if "MIGDOC_CACHE_DIR" not in os.environ:
        config._migdoc_cache_dir = tempfile.mkdtemp(prefix="migdoc-test-cache-")
        os.environ["MIGDOC_CACHE_DIR"] = config._migdoc_cache_dir


def pytest_unconfigure(config):
    cache_dir = getattr(config, "_migdoc_cache_dir", None)
    if cache_dir:
        shutil.rmtree(cache_dir, ignore_errors=True)
        os.environ.pop("MIGDOC_CACHE_DIR", None)
