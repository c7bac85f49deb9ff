"""Issue 11, item 6: SIGINT/SIGTERM at any moment of a run, even while migdoc still
imports, end it with exit 130/143 and one line, never a traceback or a death by the signal."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from environment import require
from hostile import write_project

pytestmark = [
    # may skip under CI: Linux only (see tests/environment.py)
    pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="reads /proc/<pid>/status"),
    pytest.mark.usefixtures("sigint_delivered"),  # the tests send SIGINT to the runs they start
]

EXPECTED = {signal.SIGINT: (130, "migdoc: interrupted (SIGINT)"), signal.SIGTERM: (143, "migdoc: terminated (SIGTERM)")}


def handles_sigterm(pid: int) -> bool:
    """True once migdoc's entry point has installed its handlers (Python itself catches
    only SIGINT, and before its standard streams exist, a window no program can close):
    from then on every moment of the run is migdoc's to handle."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return True  # gone already; communicate() will say how it ended
    caught = int(next(line.split()[1] for line in status.splitlines() if line.startswith("SigCgt:")), 16)
    return bool(caught & (1 << (signal.SIGTERM - 1)))


@pytest.fixture(scope="module")
def project(tmp_path_factory) -> Path:
    # past the parallel-parse threshold, so that the early delays land in imports and the parse pool
    root = tmp_path_factory.mktemp("signals") / "p"
    write_project(root, 1500)
    return root


@pytest.fixture(scope="module")
def silent_database() -> Iterator[str]:
    """A listener that accepts and never answers: after reading the project, the run waits on
    it (up to the timeout below), so however fast this machine is at the moment, every delay
    lands inside the run. A run that ended before its signal would prove nothing."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(64)
        yield f"postgresql+psycopg://deploy:pw@127.0.0.1:{listener.getsockname()[1]}/shop"


def start(command: list[str], project: Path, database_url: str) -> subprocess.Popen:
    env = {**os.environ, "MIGDOC_NO_CACHE": "1", "MIGDOC_DATABASE_TIMEOUT": "120"}
    process = subprocess.Popen(
        [*command, "check", str(project), "--database-url", database_url],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        env=env,
    )
    deadline = time.monotonic() + 10
    while not handles_sigterm(process.pid) and time.monotonic() < deadline:
        time.sleep(0.001)
    return process


@pytest.mark.parametrize("entry", ["console script", "python -m"])
@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_early_sigint_and_sigterm_exit_130_143_with_one_line(project, silent_database, entry, signum):
    script = Path(sys.executable).parent / "migdoc"
    command = [str(script)] if entry == "console script" else [sys.executable, "-m", "migdoc"]
    if entry == "console script" and (not script.exists() or "migdoc.__main__" not in script.read_text()):
        # an install made before the entry point moved: `pip install -e .` renews it
        require(False, "the migdoc console script here is missing or stale")
    code, line = EXPECTED[signum]
    for delay in (0.0, 0.01, 0.05, 0.15, 0.3, 0.7):
        process = start(command, project, silent_database)
        time.sleep(delay)
        assert process.poll() is None, (delay, process.communicate()[1].decode())  # still running
        process.send_signal(signum)
        _, err = process.communicate(timeout=60)
        assert (process.returncode, err.decode().strip()) == (code, line), (delay, err.decode())


SWALLOWED = """
import signal, sys, time
from migdoc.util import interrupts
interrupts.install()
class Collected:
    def __del__(self):  # Python cannot raise from here: it prints "Exception ignored" and goes on
        interrupts._on_signal(signal.SIGTERM, None)  # as if the signal had landed in it
try:
    Collected()
    for _ in range(1000):
        time.sleep(0.01)
    print("the signal was lost")
except KeyboardInterrupt as exc:
    sys.exit(interrupts.report(exc))
"""


def test_a_signal_that_lands_where_python_cannot_raise_is_delivered_again():
    # the import system runs weakref callbacks; a signal handled inside one was printed as
    # "Exception ignored" and the run finished with exit 0
    result = subprocess.run([sys.executable, "-c", SWALLOWED], capture_output=True, text=True, timeout=60)
    assert (result.returncode, result.stderr.strip(), result.stdout) == (143, "migdoc: terminated (SIGTERM)", "")


def test_the_console_script_starts_at_the_signal_handling_entry_point():
    pyproject = (Path(__file__).resolve().parent.parent / "pyproject.toml").read_text()
    assert 'migdoc = "migdoc.__main__:main"' in pyproject


HANDLED_BEFORE_CLICK = """
import signal, sys

class Watch:
    # records how SIGTERM is handled at the moment click is first imported
    def find_spec(self, name, path=None, target=None):
        if name == "click" and not hasattr(self, "seen"):
            self.seen = signal.getsignal(signal.SIGTERM)
            print("SIGTERM handled when click loads:", self.seen not in (signal.SIG_DFL, None))
        return None

sys.meta_path.insert(0, Watch())
from migdoc.__main__ import main
main(["--version"])
"""


def test_the_handlers_are_installed_before_click_and_migdoc_load():
    # the window that matters: a signal during the heavy imports, which used to die with -15
    result = subprocess.run([sys.executable, "-c", HANDLED_BEFORE_CLICK], capture_output=True, text=True, timeout=60)
    assert "SIGTERM handled when click loads: True" in result.stdout, result.stdout + result.stderr


def test_a_signal_while_click_parses_the_arguments_is_reported_not_aborted(monkeypatch, capsys):
    """click turns a KeyboardInterrupt raised outside a command (while it parses) into
    Abort ("aborted", exit 2); a signal that lands there is still 143 with its line."""
    from migdoc import cli
    from migdoc.util.interrupts import Interrupted

    def interrupted_while_parsing(*args, **kwargs):
        raise Interrupted(signal.SIGTERM)

    monkeypatch.setattr(cli.cli, "make_context", interrupted_while_parsing)
    with pytest.raises(SystemExit) as exited:
        cli.main(["check", "."])
    assert (exited.value.code, capsys.readouterr().err.strip()) == EXPECTED[signal.SIGTERM]
