"""The dry-run's signal handler, in process: the first signal decides, whatever comes after.

The end-to-end behaviour (exit codes, nothing left behind) is in test_dryrun_signals.py;
this pins the one race a real process shows only now and then."""

from __future__ import annotations

import signal
import sys

import pytest

from migdoc.util.signals import FirstSignalGuard, Interrupted


@pytest.fixture
def restored_mask():
    mask = signal.pthread_sigmask(signal.SIG_BLOCK, [])
    yield
    signal.pthread_sigmask(signal.SIG_SETMASK, mask)


def test_the_first_signal_raises_and_blocks_the_rest(restored_mask):
    guard = FirstSignalGuard()
    with pytest.raises(Interrupted) as caught:
        guard(signal.SIGINT, sys._getframe())
    assert caught.value.signum == signal.SIGINT
    assert {signal.SIGINT, signal.SIGTERM} <= signal.pthread_sigmask(signal.SIG_BLOCK, [])
    assert guard(signal.SIGTERM, sys._getframe()) is None  # one that slipped in before the block
    assert guard.first == signal.SIGINT


def test_a_signal_handled_inside_the_first_handler_leaves_the_decision_to_it(restored_mask):
    """CPython runs a handler for a signal that arrives as another handler starts inside that
    handler, before its first line, with the outer handler's frame. A trace hook on the outer
    call's start does exactly that here."""
    guard = FirstSignalGuard()
    handler_code = FirstSignalGuard.__call__.__code__

    def trace(frame, event, arg):
        if event == "call" and frame.f_code is handler_code and frame.f_locals["signum"] == signal.SIGINT:
            guard(signal.SIGTERM, frame)
        return None

    sys.settrace(trace)
    try:
        with pytest.raises(Interrupted) as caught:
            guard(signal.SIGINT, sys._getframe())
    finally:
        sys.settrace(None)
    assert (caught.value.signum, guard.first) == (signal.SIGINT, signal.SIGINT)
