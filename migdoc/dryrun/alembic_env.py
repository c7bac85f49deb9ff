"""Running a project's ``env.py`` through Alembic's API: the config class (``%`` escaped,
``[tool.alembic]`` honoured), labels and parents of its scripts, the import caches and
logging configuration a run must leave as it found them."""

from __future__ import annotations

import contextlib
import os
import re
import sys
from pathlib import Path


def script_parents(script) -> set[str]:
    """A revision's parents as Alembic resolved them: its down revisions and its
    ``depends_on`` (branch labels resolved to revisions)."""
    return set(script._normalized_down_revisions) | set(script._resolved_dependencies)


def ini_escaped(value: str) -> str:
    """A value for ``set_main_option``, which interpolates ``%``."""
    return value.replace("%", "%%")


def has_tool_alembic(path: Path) -> bool:
    if not path.is_file():
        return False
    try:
        import tomllib
    except ImportError:  # Python 3.10
        import tomli as tomllib  # type: ignore[no-redef]
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return isinstance(data.get("tool"), dict) and "alembic" in data["tool"]


_PERCENT = re.compile(r"%%|%\(|%")


def escape_percent(value: str) -> str:
    """``%`` -> ``%%`` as Alembic's documentation asks of values given to ``set_main_option``,
    for every ``%`` that cannot be read as ConfigParser syntax (``%%`` or ``%(name)s``): a
    value already escaped, or one meant to interpolate, is unchanged; only a value that
    would have raised "invalid interpolation syntax" is changed."""
    return _PERCENT.sub(lambda match: match.group() if len(match.group()) == 2 else "%%", value)


def dryrun_config_class():
    from alembic.config import Config

    class DryrunConfig(Config):
        """The Config env.py sees during a dry-run. Many env.py files pass the application's
        URL to ``config.set_main_option`` unescaped; the throwaway database's URL (a
        percent-encoded password, a socket folder in ``?host=``) then fails to load. It is
        escaped here on their behalf (see ``escape_percent``)."""

        def set_section_option(self, section: str, name: str, value: str) -> None:
            super().set_section_option(section, name, escape_percent(value) if isinstance(value, str) else value)

    return DryrunConfig


def script_label(script) -> str:
    message = (script.doc or "").strip().splitlines()[0] if script.doc else ""
    return f"{script.revision} {message}".strip()


def forget_relative_finders() -> None:
    """Alembic prepends ``prepend_sys_path`` as written (``.``), and Python caches the finder
    of a relative entry with the folder that was current when it was made: without this an
    earlier run's project would shadow this one's modules."""
    for entry in [key for key in sys.path_importer_cache if not os.path.isabs(key)]:
        sys.path_importer_cache.pop(entry, None)


def tolerant_file_config(original):
    def file_config(*args, **kwargs):
        with contextlib.suppress(Exception):
            original(*args, **kwargs)

    return file_config
