"""The signal guard of a long run (a dry-run, the writing of a fix): the first SIGINT or
SIGTERM unwinds through the clean-up, any later one waits until that clean-up is done.

Standard library only: the CLI's entry point installs :mod:`migdoc.util.interrupts` before any
heavy import; this guard takes over for the span of one run.
"""

from __future__ import annotations

import signal
from collections.abc import Iterator
from contextlib import contextmanager


class Interrupted(KeyboardInterrupt):
    """SIGINT or SIGTERM during a guarded run; a KeyboardInterrupt, so every clean-up on the way out runs."""

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum


class FirstSignalGuard:
    """While a run runs, the first SIGINT or SIGTERM becomes :class:`Interrupted`, which
    unwinds through the clean-up of the server or database. Any later one (an impatient
    Ctrl-C, a supervisor's SIGTERM) must neither cut that clean-up short nor, once it is done,
    end migdoc by the signal instead of exit 130/143: it is blocked (pending until exit), and
    the handler stays, doing nothing for one that arrived before the block. Not SIG_IGN:
    Python reports such a one with a traceback."""

    def __init__(self) -> None:
        self.watched = (signal.SIGINT, signal.SIGTERM)
        self.first: int | None = None
        self._previous: dict[int, object] = {}

    def install(self) -> None:
        self._previous = {signum: signal.getsignal(signum) for signum in self.watched}
        for signum, handler in self._previous.items():
            # a SIGINT ignored by whoever started migdoc (nohup, `cmd &`) stays ignored
            if handler is not signal.SIG_IGN:
                signal.signal(signum, self)

    def uninstall(self) -> None:
        """Gives the signals back to their previous handlers, unless one arrived: then they stay blocked."""
        if self.first is not None:
            return
        for signum, handler in self._previous.items():
            signal.signal(signum, handler if handler is not None else signal.SIG_DFL)

    def __call__(self, signum: int, frame) -> None:
        # Python may run a second pending signal's handler inside this one, before its
        # first line; that inner call must leave the decision to the outer, earlier signal.
        if self.first is not None or _runs_inside(frame, FirstSignalGuard.__call__.__code__):
            return
        self.first = signum
        signal.pthread_sigmask(signal.SIG_BLOCK, self.watched)
        raise Interrupted(signum)


@contextmanager
def first_signal_guarded() -> Iterator[FirstSignalGuard]:
    """The guard installed for the span of the ``with`` block."""
    guard = FirstSignalGuard()
    guard.install()
    try:
        yield guard
    finally:
        guard.uninstall()


def _runs_inside(frame, code) -> bool:
    """True when ``frame`` or one of its callers executes ``code``."""
    while frame is not None:
        if frame.f_code is code:
            return True
        frame = frame.f_back
    return False
