"""Golden files: compare output with ``tests/golden/<name>``.

With ``MIGDOC_UPDATE_GOLDENS=1`` in the environment the file is (re)written
instead, so a deliberate wording change is one command and one reviewed diff.
"""

from __future__ import annotations

import difflib
import os
from pathlib import Path

GOLDEN_ROOT = Path(__file__).resolve().parent / "golden"


def is_updating() -> bool:
    return os.environ.get("MIGDOC_UPDATE_GOLDENS", "") not in ("", "0")


def assert_golden(relative_name: str, actual: str) -> None:
    """Assert ``actual`` equals ``tests/golden/<relative_name>`` (or write it when updating)."""
    path = GOLDEN_ROOT / relative_name
    if is_updating():
        path.parent.mkdir(parents=True, exist_ok=True)
        if not path.exists() or path.read_text(encoding="utf-8") != actual:
            path.write_text(actual, encoding="utf-8", newline="\n")
        return
    if not path.exists():
        raise AssertionError(f"golden file {path} does not exist; run with MIGDOC_UPDATE_GOLDENS=1 to create it")
    expected = path.read_text(encoding="utf-8")
    if expected != actual:
        diff = "".join(
            difflib.unified_diff(
                expected.splitlines(keepends=True),
                actual.splitlines(keepends=True),
                fromfile=f"golden/{relative_name}",
                tofile="actual",
            )
        )
        raise AssertionError(
            f"output differs from golden/{relative_name} (MIGDOC_UPDATE_GOLDENS=1 rewrites it):\n{diff}"
        )
