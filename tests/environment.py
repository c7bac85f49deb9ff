"""What the tests know about the machine they run on, in one place.

"In CI" has one meaning for every test and helper: the ``CI`` variable set to anything but
empty, ``0``, ``false``, ``no`` or ``off`` (GitHub Actions and GitLab set ``true``, others
``1``). Under CI a test that needs a tool the machine lacks fails, naming the tool: a
skipped test would pass a run that proved nothing. Elsewhere it skips, with the reason.
"""

from __future__ import annotations

import os

import pytest

_NOT_CI = ("", "0", "false", "no", "off")


def is_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() not in _NOT_CI


def require(condition: bool, reason: str) -> None:
    """Fail under CI, else skip, unless ``condition`` holds: for what a test needs of the
    machine (a tool, tmpfs, root, the console script)."""
    if condition:
        return
    if is_ci():
        pytest.fail(f"CI: {reason}; CI must provide it")
    pytest.skip(reason)


def require_tool(path: str | None, name: str) -> str:
    """The tool's path (``shutil.which``), or a skip (a failure under CI) naming it."""
    require(path is not None, f"{name} is not installed")
    return path  # type: ignore[return-value]


def is_root() -> bool:
    return os.geteuid() == 0


# Tests that may skip even under CI, and why (the rest fail there: see require):
# - root only (mknod of a device node, a tmpfs mount, the server run as another user,
#   a mount namespace): a hosted CI runner is an ordinary user with sudo, not root;
# - Linux only (/proc, the fork start method): migdoc's safety checks read /proc;
# - "flask is installed here": the test is about a machine without it.
MAY_SKIP_UNDER_CI = ("root", "Linux /proc", "flask absent")
