"""A signal while the parse pool is being set up must not leave worker processes that
nobody will ever feed: Python's exit joins them, and migdoc would hang instead of exiting
143 (seen once in a loaded test run of test_early_signals)."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from hostile import write_project

SCRIPT = textwrap.dedent(
    """
    import os, signal, sys
    import concurrent.futures.process as process

    from migdoc.util import interrupts
    from migdoc.project.config import find_layout
    from migdoc.project.scan import read_project_files

    interrupts.install()
    launch = process.ProcessPoolExecutor._launch_processes

    def launch_then_signal(self):
        # the workers exist, the thread that feeds them does not yet: the worst moment
        launch(self)
        os.kill(os.getpid(), signal.SIGTERM)

    process.ProcessPoolExecutor._launch_processes = launch_then_signal
    try:
        read_project_files(find_layout(sys.argv[1]), use_cache=False)
    except KeyboardInterrupt as exc:
        sys.exit(interrupts.report(exc))
    """
)


@pytest.mark.skipif(sys.platform == "win32", reason="fork start method")
def test_a_signal_while_the_pool_starts_exits_143_instead_of_hanging(tmp_path: Path):
    root = tmp_path / "p"
    write_project(root, 700)  # past the parallel-parse threshold
    try:
        done = subprocess.run(
            [sys.executable, "-c", SCRIPT, str(root)], capture_output=True, text=True, timeout=60, cwd=tmp_path
        )
    except subprocess.TimeoutExpired:
        pytest.fail("hung: a worker process was left waiting for work")
    assert (done.returncode, done.stderr.strip()) == (143, "migdoc: terminated (SIGTERM)")
