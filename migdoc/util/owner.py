"""Who owns a lock, a temporary folder or a throwaway database, and whether that owner is dead.

An owner is a small dict: ``pid``, ``host``, ``started`` (the process's start
time as the kernel counts it, so a recycled pid is not mistaken for the owner)
and ``since`` (wall clock, for people). A leftover may be removed only when
its owner is *provably* dead: same host, and that pid no longer runs the same
process. Anything else (another host, unreadable owner) is left alone.
"""

from __future__ import annotations

import contextlib
import os
import socket
from datetime import datetime, timezone


def process_start(pid: int) -> str | None:
    """The process's start time in clock ticks since boot (Linux ``/proc``), else None."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as handle:
            stat = handle.read().decode("ascii", "replace")
    except OSError:
        return None
    # the command name (field 2) may hold spaces and parentheses: split after the last ')'
    fields = stat.rpartition(")")[2].split()
    return fields[19] if len(fields) > 19 else None


def this_process() -> dict[str, object]:
    return {
        "pid": os.getpid(),
        "host": socket.gethostname(),
        "started": process_start(os.getpid()),
        "since": datetime.now(timezone.utc).replace(microsecond=0).isoformat(),
    }


def is_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError, ValueError):
        return True  # someone else's process (or a pid we cannot judge): alive as far as we know
    return True


def is_dead(owner: object) -> bool:
    """True only when ``owner`` is a well-formed owner of this host whose process is gone."""
    if not isinstance(owner, dict):
        return False
    pid, host, started = owner.get("pid"), owner.get("host"), owner.get("started")
    if not isinstance(pid, int) or isinstance(pid, bool) or pid <= 0 or host != socket.gethostname():
        return False
    if not is_alive(pid):
        return True
    # the pid runs, but a different process now holds it
    current = process_start(pid)
    return isinstance(started, str) and current is not None and current != started


def describe(owner: object) -> str:
    """``pid 4242 on host ci-7 since 2026-11-30T10:00:00+00:00`` (whatever of it is known)."""
    if not isinstance(owner, dict):
        return "an unknown process"
    parts = []
    with contextlib.suppress(TypeError, ValueError):
        parts.append(f"pid {int(owner.get('pid'))}")
    if isinstance(owner.get("host"), str):
        parts.append(f"on host {owner['host']}")
    if isinstance(owner.get("since"), str):
        parts.append(f"since {owner['since']}")
    return " ".join(parts) or "an unknown process"
