"""The edge that reads the project's env.py as text for MD029 / MD030 (never imports or runs it)."""

from __future__ import annotations

from migdoc.project.layout import ProjectLayout

_MAX_BYTES = 1_000_000  # an env.py is a few kilobytes; a bigger file is not read whole


def read_env_script(layout: ProjectLayout) -> tuple[str | None, str | None]:
    """(path, text) of ``<script_location>/env.py``; (None, None) when there is none or it
    cannot be read: the rules about it then say nothing."""
    if layout.script_location is None:
        return None, None
    path = layout.script_location / "env.py"
    try:
        if not path.is_file() or path.stat().st_size > _MAX_BYTES:
            return None, None
        return str(path), path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return None, None
