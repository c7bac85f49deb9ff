"""The dry-run as a real process: signals, a server that dies, a terminal, two runs at once.

Each test starts ``python -m migdoc dryrun`` in its own process group (as a shell
starts a foreground job, so ``killpg`` is what Ctrl-C does) on a copy of a
fixture. ``dryrun_slow`` sleeps 20 s in the upgrade of ``aaaa00000002``; the
tests wait until that statement runs, act, and expect an exit well before the
sleep could end. Afterwards nothing of the run may remain: no run folder named
after the migdoc process, no process of its server (the postmaster leads its
own process group), no ``migdoc_dryrun_*`` database on a borrowed server.
"""

from __future__ import annotations

import contextlib
import fcntl
import itertools
import os
import pty
import re
import select
import signal
import subprocess
import sys
import tempfile
import termios
import time
from pathlib import Path

import pytest
from golden import assert_golden
from test_dryrun import normalised

from migdoc.dryrun.cluster import RUN_PREFIX, run_base_candidates

pytestmark = [pytest.mark.postgres, pytest.mark.usefixtures("sigint_delivered")]  # they send SIGINT

PROMPT = 5.0  # seconds from the signal to the exit; the statement itself would take 20
INTERRUPTED = {
    signal.SIGINT: (130, "migdoc: interrupted (SIGINT)"),
    signal.SIGTERM: (143, "migdoc: terminated (SIGTERM)"),
}


def start(*args: str, env: dict[str, str] | None = None, **popen) -> subprocess.Popen:
    environment = {**os.environ, "MIGDOC_DRYRUN_SERVER": "", **(env or {})}
    environment = {k: v for k, v in environment.items() if v is not None}
    popen.setdefault("stdout", subprocess.PIPE)
    popen.setdefault("stderr", subprocess.PIPE)
    return subprocess.Popen(
        [sys.executable, "-m", "migdoc", "dryrun", *args], env=environment, start_new_session=True, **popen
    )


def finish(process: subprocess.Popen, timeout: float = 60) -> tuple[str, str]:
    out, err = process.communicate(timeout=timeout)
    return out.decode(), err.decode()


def run_dirs(pid: int) -> list[Path]:
    """The run folders of the migdoc process ``pid`` (``migdoc-pg-<pid>-<random>``), in every place it uses."""
    bases = {*run_base_candidates(), Path(tempfile.gettempdir()), Path("/tmp")}
    return sorted(path for base in bases if base.is_dir() for path in base.glob(f"{RUN_PREFIX}{pid}-*"))


def server_processes(postmaster: int, run_dir: Path) -> list[str]:
    """Processes of that server: its process group (the postmaster called setsid) or naming its folder."""
    out = subprocess.run(["ps", "-eo", "pid=,pgid=,args="], capture_output=True, text=True, check=True).stdout
    found = []
    for line in out.splitlines():
        _, pgid, args = [*line.split(None, 2), ""][:3]
        if int(pgid) == postmaster or str(run_dir) in args:
            found.append(line.strip())
    return found


def wait_until(condition, what: str, process: subprocess.Popen, timeout: float = 30):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        if process.poll() is not None:
            out, err = finish(process)
            pytest.fail(f"migdoc exited ({process.returncode}) before {what}:\n{out}\n{err}")
        time.sleep(0.05)
    process.kill()
    pytest.fail(f"timed out waiting for {what}")


def is_sleeping(connect) -> bool:
    """True once the slow upgrade's ``pg_sleep`` runs on the server ``connect`` reaches."""
    import psycopg

    try:
        with connect() as connection:
            row = connection.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE state = 'active' "
                "AND query LIKE '%pg_sleep(20)%' AND pid <> pg_backend_pid()"
            ).fetchone()
    except psycopg.Error:
        return False  # not started (or not ready) yet
    return bool(row and row[0])


class PrivateRun:
    """A migdoc process on a private server, seen from outside: its run folder and postmaster."""

    def __init__(self, process: subprocess.Popen) -> None:
        self.process = process
        self.run_dir: Path | None = None
        self.postmaster: int | None = None

    def wait_for_sleep(self) -> None:
        def sleeping() -> bool:
            found = run_dirs(self.process.pid)
            if not found:
                return False
            self.run_dir = found[0]
            with_socket = (self.run_dir / ".s.PGSQL.5432").exists()
            return with_socket and is_sleeping(lambda: _connect(self.run_dir))

        wait_until(sleeping, "the slow upgrade runs", self.process)
        assert self.run_dir is not None
        self.postmaster = int((self.run_dir / "data" / "postmaster.pid").read_text().split("\n", 1)[0])

    def assert_nothing_left(self) -> None:
        assert self.run_dir is not None and self.postmaster is not None
        assert run_dirs(self.process.pid) == []
        # A backend orphaned by the postmaster's exit lingers as a zombie until init reaps it.
        deadline = time.monotonic() + 5
        while server_processes(self.postmaster, self.run_dir) and time.monotonic() < deadline:
            time.sleep(0.02)
        assert server_processes(self.postmaster, self.run_dir) == []


def _connect(socket_dir: Path):
    import psycopg

    return psycopg.connect(host=str(socket_dir), user="postgres", dbname="postgres", autocommit=True, connect_timeout=5)


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_signal_mid_run_stops_and_removes_the_private_server(copy_fixture, signum):
    root = copy_fixture("dryrun_slow")
    run = PrivateRun(start(str(root)))
    run.wait_for_sleep()
    signalled = time.monotonic()
    os.killpg(run.process.pid, signum)  # what the terminal does on Ctrl-C: the whole foreground job
    out, err = finish(run.process)
    assert time.monotonic() - signalled < PROMPT
    code, line = INTERRUPTED[signum]
    assert (run.process.returncode, err, out) == (code, line + "\n", "")
    run.assert_nothing_left()


def test_more_signals_during_the_clean_up_do_not_cut_it_short(copy_fixture):
    """An impatient user presses Ctrl-C again and again; a supervisor sends SIGTERM on top.

    Every 0.1 s: psycopg looks at signals when its 0.1 s poll ends, so a faster
    stream (a held-down Ctrl-C) delays the first one until the stream stops."""
    root = copy_fixture("dryrun_slow")
    run = PrivateRun(start(str(root)))
    run.wait_for_sleep()
    deadline = time.monotonic() + PROMPT
    for signum in itertools.cycle([signal.SIGINT, signal.SIGINT, signal.SIGTERM]):
        if run.process.poll() is not None or time.monotonic() > deadline:
            break
        with contextlib.suppress(ProcessLookupError):
            os.killpg(run.process.pid, signum)
        time.sleep(0.1)
    out, err = finish(run.process)
    assert (run.process.returncode, err, out) == (130, "migdoc: interrupted (SIGINT)\n", "")
    run.assert_nothing_left()


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_signal_mid_run_drops_the_borrowed_database(copy_fixture, pg_server, signum):
    root = copy_fixture("dryrun_slow")
    before = pg_server.databases()
    process = start(str(root), "--server", pg_server.url)
    wait_until(lambda: is_sleeping(pg_server.connect), "the slow upgrade runs", process)
    assert len({name for name in pg_server.databases() - before if name.startswith("migdoc_dryrun_")}) == 1
    signalled = time.monotonic()
    os.killpg(process.pid, signum)
    out, err = finish(process)
    assert time.monotonic() - signalled < PROMPT
    code, line = INTERRUPTED[signum]
    assert (process.returncode, err, out) == (code, line + "\n", "")
    assert pg_server.databases() == before


def test_server_killed_mid_run_is_one_line_and_exit_2(copy_fixture):
    root = copy_fixture("dryrun_slow")
    run = PrivateRun(start(str(root)))
    run.wait_for_sleep()
    assert run.postmaster is not None
    killed = time.monotonic()
    os.kill(run.postmaster, signal.SIGKILL)
    out, err = finish(run.process)
    assert time.monotonic() - killed < PROMPT
    assert run.process.returncode == 2, err
    assert out == ""
    assert re.fullmatch(r"migdoc: error: lost the database during upgrade of aaaa00000002: [^\n]+\n", err), err
    run.assert_nothing_left()


# --- on a terminal -------------------------------------------------------------


def _make_controlling_terminal() -> None:
    fcntl.ioctl(0, termios.TIOCSCTTY, 0)  # after setsid: stdin's pty becomes the session's terminal


class Terminal:
    """migdoc on a pseudo-terminal: everything it writes to stdout and stderr, as the user sees it."""

    def __init__(self, *args: str, env: dict[str, str | None]) -> None:
        self.master, slave = pty.openpty()
        self.process = start(
            *args, env=env, stdin=slave, stdout=slave, stderr=slave, preexec_fn=_make_controlling_terminal
        )
        os.close(slave)
        self.text = ""

    def read(self, timeout: float) -> bool:
        """Read what is there within ``timeout``; False at the end of output."""
        ready, _, _ = select.select([self.master], [], [], timeout)
        if not ready:
            return True
        try:
            data = os.read(self.master, 4096)
        except OSError:  # EIO: the other side is closed
            return False
        self.text += data.decode(errors="replace").replace("\r\n", "\n")
        return bool(data)

    def wait_for(self, pattern: str, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while not re.search(pattern, self.text, re.MULTILINE):
            if time.monotonic() > deadline or not self.read(0.1):
                self.process.kill()
                pytest.fail(f"no {pattern!r} on the terminal; it shows:\n{self.text}")

    def close(self, timeout: float = 30) -> int:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and self.read(0.1):
            pass
        os.close(self.master)
        return self.process.wait(timeout=10)


def test_terminal_shows_each_revision_live_in_colour_and_ctrl_c_stops_it(copy_fixture):
    root = copy_fixture("dryrun_slow")
    terminal = Terminal(str(root), env={"NO_COLOR": None})
    run = PrivateRun(terminal.process)
    run.wait_for_sleep()
    # while 0002 runs, the finished 0001 is on screen already
    terminal.wait_for(r"ok .*aaaa00000001 create things.*up \d+ms.*down \d+ms.*same \d+ms.*up \d+ms")
    assert "\x1b[" in terminal.text  # colour, since NO_COLOR is not set
    assert "aaaa00000002" not in terminal.text
    os.write(terminal.master, b"\x03")  # Ctrl-C, typed
    assert terminal.close() == 130
    assert terminal.text.rstrip().splitlines()[-1].strip() == "migdoc: interrupted (SIGINT)"
    run.assert_nothing_left()


def test_terminal_progress_respects_no_color_and_a_pipe_gets_the_plain_report(copy_fixture):
    root = copy_fixture("dryrun_clean")
    terminal = Terminal(str(root), env={"NO_COLOR": "1"})
    assert terminal.close() == 0, terminal.text
    assert "\x1b" not in terminal.text
    lines = terminal.text.splitlines()
    assert lines[0].startswith("dry-run on private PostgreSQL")
    progress = [line.split()[:2] for line in lines[1:4]]
    assert progress == [["ok", "aaaa00000001"], ["ok", "aaaa00000002"], ["ok", "aaaa00000003"]]
    assert lines[4].startswith("dry-run passed: 3 revisions") and len(lines) == 5
    # not a terminal (a CI log, a pipe): the report alone, exactly as the golden file
    out, err = finish(start(str(root)))
    assert err == ""
    assert_golden("dryrun/clean.txt", normalised(out))


# --- two at once -----------------------------------------------------------------


def test_two_dry_runs_at_once_both_pass_even_with_a_cold_cache(copy_fixture, tmp_path):
    root = copy_fixture("dryrun_clean")
    cache = tmp_path / "cache"  # both runs initdb and race to fill the cache
    processes = [
        start(str(root), "--format", "json", env={"MIGDOC_CACHE_DIR": str(cache / "migdoc")}) for _ in range(2)
    ]
    results = [(p, *finish(p)) for p in processes]
    for process, out, err in results:
        assert process.returncode == 0, err
        assert '"ok": true' in out
    # one data directory, no staging left (the read cache's files live beside them)
    entries = [path.name for path in (cache / "migdoc").iterdir() if path.name.startswith(("pgdata-", ".tmp-"))]
    assert len(entries) == 1 and entries[0].startswith("pgdata-"), entries
    for process in processes:
        assert run_dirs(process.pid) == []
