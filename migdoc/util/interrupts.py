"""SIGINT and SIGTERM from the first moment of a run: exit 130/143 with one line.

Python's own SIGINT handling turns a Ctrl-C during start-up (importing click,
SQLAlchemy, the reader) into a traceback and a death by the signal, and SIGTERM
kills the process outright: either way a caller sees -2/-15 and no message,
and no clean-up runs. :func:`install` is the first thing the entry point does,
before any heavy import, so the first signal becomes :class:`Interrupted`, a
``KeyboardInterrupt`` that unwinds through every ``finally`` and is reported by
:func:`report`. Standard library only: importing this module must cost nothing.
"""

from __future__ import annotations

import _thread
import atexit
import contextlib
import os
import signal
import sys
import time
from collections.abc import Iterator

WATCHED = (signal.SIGINT, signal.SIGTERM)

_first: list[int] = []


class Interrupted(KeyboardInterrupt):
    """The first SIGINT or SIGTERM of the run."""

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum


_exiting: list[bool] = []
"""Set by :func:`hold_until_exit`: the run is over and Python is exiting."""
_late: list[int] = []
"""A signal that arrived while exiting: reported by :func:`_report_late` as the process ends."""


def _on_signal(signum: int, frame) -> None:
    # The first signal decides; later ones wait, blocked, until the process exits,
    # so an impatient second Ctrl-C cannot cut the unwinding short with a traceback.
    if _first:
        return
    if _exiting:
        # Raising now would land in Python's own exit (an atexit callback, a thread join),
        # where it is printed as "Exception ignored" and lost: remember it instead.
        if not _late:
            _late.append(signum)
        return
    _first.append(signum)
    signal.pthread_sigmask(signal.SIG_BLOCK, WATCHED)
    raise Interrupted(signum)


def install() -> None:
    """Handle SIGINT and SIGTERM from now on; a signal ignored by whoever started
    migdoc (``nohup``, ``cmd &``) stays ignored."""
    for signum in WATCHED:
        if signal.getsignal(signum) is not signal.SIG_IGN:
            signal.signal(signum, _on_signal)
    if sys.unraisablehook is not _on_unraisable:
        _previous_hook[:] = [sys.unraisablehook]
        sys.unraisablehook = _on_unraisable
    if not _registered:
        # registered first, so it runs last of all atexit callbacks: the last moment
        # Python code runs before the interpreter resets the handlers to the default
        # (which would end the process by the signal, -15, instead of 143)
        atexit.register(_report_late)
        _registered.append(True)


_registered: list[bool] = []


def hold_until_exit(exit_code: object = None) -> None:
    """The run is over: from here to the end of the process a signal is held, neither raised
    into Python's exit nor left to the default disposition, and :func:`_report_late` reports
    it (one line, 130/143) as the process ends. Main thread only.

    ``exit_code``: the code the run exits with; 130 or 143 means a signal was reported
    already (by a guard of its own, a dry-run's or a fix's), and no later one is."""
    if exit_code in {128 + signum for signum in WATCHED}:
        _first.append(int(exit_code) - 128)  # type: ignore[call-overload]
    _exit_code[:] = [0 if exit_code is None else exit_code]
    _exiting.append(True)
    signal.pthread_sigmask(signal.SIG_BLOCK, WATCHED)


_exit_code: list[object] = []


def _report_late() -> None:
    """The last atexit callback: a signal that arrived while migdoc was exiting ends the
    process with its line and code, after the report already written is flushed.

    Either way the process ends here, with its code decided: what Python would still do
    (tear its modules down: tens of milliseconds after a dry-run) frees only memory, and a
    signal arriving meanwhile could only be dropped, the run ending 0 although terminated.
    Every atexit callback has run (this one was registered first, so it runs last) and
    every thread was joined before them."""
    if _first or not _exiting:
        return
    pending = sorted(signal.sigpending() & set(WATCHED))
    signum = _late[0] if _late else (pending[0] if pending else None)
    code = _exit_code[0] if _exit_code else None
    if signum is None and type(code) is not int:
        return  # sys.exit("text"): Python prints it; a signal from here on is held and dropped
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError, ValueError, AttributeError):
            stream.flush()
    if signum is not None:
        code = report(Interrupted(signum))
    os._exit(code)  # type: ignore[arg-type]


_previous_hook: list = []


def _on_unraisable(unraisable) -> None:
    """A signal handled inside a weakref callback or a ``__del__`` (the import system
    runs such callbacks) raises where Python cannot propagate it: it would print
    "Exception ignored" and the run would go on, the signal lost. Deliver it again
    instead, from another thread a moment later, when the main thread is back in
    ordinary code."""
    exc = unraisable.exc_value
    if not isinstance(exc, Interrupted):
        (_previous_hook[0] if _previous_hook else sys.__unraisablehook__)(unraisable)
        return
    _first.clear()
    signal.pthread_sigmask(signal.SIG_UNBLOCK, WATCHED)
    _thread.start_new_thread(_deliver_later, (exc.signum,))


def _deliver_later(signum: int) -> None:
    time.sleep(0.005)
    os.kill(os.getpid(), signum)


@contextlib.contextmanager
def deferred() -> Iterator[None]:
    """SIGINT and SIGTERM wait (blocked, not lost) while the body runs, and arrive as soon as
    it is done: for steps that a signal must not cut in half, such as starting a process
    pool (a pool interrupted between launching its workers and starting the thread that
    feeds them leaves workers Python's exit waits for, forever). Main thread only."""
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, WATCHED)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)


def report(exc: BaseException) -> int:
    """One line on stderr; the exit code a shell expects, 128 + the signal (130 SIGINT, 143 SIGTERM)."""
    signum = getattr(exc, "signum", signal.SIGINT)
    word = "terminated" if signum == signal.SIGTERM else "interrupted"
    start = "\n" if sys.stderr.isatty() else ""  # after the terminal's "^C"
    try:
        sys.stderr.write(f"{start}migdoc: {word} ({signal.Signals(signum).name})\n")
        sys.stderr.flush()
    except (OSError, ValueError):
        pass  # stderr closed: the exit code still says it
    return 128 + signum
