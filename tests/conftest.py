from __future__ import annotations

import os
import shutil
import signal
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


@pytest.fixture
def sigint_delivered():
    """SIGINT reaches the processes a test starts, whatever this one inherited: pytest run as
    a background job (``cmd &``, nohup) has SIGINT ignored, and its children inherit that, so
    migdoc (which keeps an ignored SIGINT ignored, as a shell job expects) would never see the
    test's Ctrl-C. A handled signal is reset to the default in a child at exec; an ignored one is not."""
    previous = signal.getsignal(signal.SIGINT)
    if previous is signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        yield
    finally:
        if previous is signal.SIG_IGN:
            signal.signal(signal.SIGINT, previous)


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
