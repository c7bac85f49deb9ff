"""Issue 23 item 5: SIGINT/SIGTERM are migdoc's until the process is gone. A signal that lands
after the report, while Python exits (its atexit callbacks, its finalisation), is still exit
130/143 with one line: never a traceback ("Exception ignored in atexit callback") nor a death
by the signal (Python restores the default disposition while it finalises)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys

import pytest
from hostile import write_project

pytestmark = pytest.mark.usefixtures("sigint_delivered")  # the tests send SIGINT to the runs they start

EXPECTED = {signal.SIGINT: (130, "migdoc: interrupted (SIGINT)"), signal.SIGTERM: (143, "migdoc: terminated (SIGTERM)")}

# A slow atexit callback registered once migdoc's handlers are in (as logging, SQLAlchemy and
# the dry-run's temporary folders register theirs): it says when migdoc is exiting, then
# waits, so the signal lands inside the exit every time.
SLOW_EXIT = """
import atexit, sys, time
from migdoc.util import interrupts
interrupts.install()

def slow_exit():
    sys.stderr.write("exiting\\n")
    sys.stderr.flush()
    time.sleep(5)

atexit.register(slow_exit)
from migdoc.__main__ import main
main(sys.argv[1:])
"""


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_a_signal_while_migdoc_exits_is_130_143_with_one_line_and_the_whole_report(tmp_path, signum):
    write_project(tmp_path / "p")
    process = subprocess.Popen(
        [sys.executable, "-c", SLOW_EXIT, "check", str(tmp_path / "p"), "--format", "json"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env={**os.environ, "MIGDOC_NO_CACHE": "1"},
    )
    assert process.stderr.readline() == b"exiting\n"
    process.send_signal(signum)
    out, err = process.communicate(timeout=60)
    code, line = EXPECTED[signum]
    assert (process.returncode, err.decode().strip()) == (code, line)
    assert out.decode().rstrip().endswith("}")  # the report was written whole before the line


def test_a_signal_just_after_the_report_never_kills_migdoc_by_the_signal(tmp_path):
    """The reported race, without the slow callback: a SIGTERM sent as soon as the report is
    read. Each run ends with 143 and one line (or, when the signal lands in the last instant
    before the process is gone, the run's own code): never -15, never a traceback."""
    write_project(tmp_path / "p")
    for _ in range(5):
        process = subprocess.Popen(
            [sys.executable, "-m", "migdoc", "check", str(tmp_path / "p")],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env={**os.environ, "MIGDOC_NO_CACHE": "1"},
        )
        process.stdout.readline()
        process.send_signal(signal.SIGTERM)
        _, err = process.communicate(timeout=60)
        assert process.returncode in (143, 0), (process.returncode, err.decode())
        assert "Traceback" not in err.decode() and "Exception ignored" not in err.decode(), err.decode()
        if process.returncode == 143:
            assert err.decode().strip() == "migdoc: terminated (SIGTERM)"
