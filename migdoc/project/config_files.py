"""Reading Alembic's configuration files: an ``alembic.ini`` section (with ``%(here)s``),
``pyproject.toml``'s ``[tool.alembic]`` and ``[tool.migdoc]`` tables. Reads disk."""

from __future__ import annotations

import configparser
import difflib
import sys
from dataclasses import dataclass, field
from pathlib import Path

from migdoc.errors import ConfigError, one_line
from migdoc.project.durations import lock_timeout_ms
from migdoc.util.filesystem import read_regular_file
from migdoc.util.masking import mask_secrets

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on Python 3.10 only
    import tomli as tomllib


INI_KEYS = (
    "script_location",
    "version_locations",
    "path_separator",
    "version_path_separator",
    "file_template",
    "prepend_sys_path",
    "recursive_version_locations",
)
"""The keys of an alembic.ini section migdoc reads (and so interpolates); nothing else."""

MIGDOC_KEYS = ("select", "ignore", "severity", "lock_timeout")
"""The keys ``[tool.migdoc]`` may hold."""


@dataclass(frozen=True)
class MigdocSettings:
    """``[tool.migdoc]`` from pyproject.toml."""

    select: tuple[str, ...] = ()
    ignore: tuple[str, ...] = ()
    severity: dict[str, str] = field(default_factory=dict)
    lock_timeout_ms: int | None = None
    """``lock_timeout`` in milliseconds: the timeout the migrations are run with (MD029 is quiet;
    the dry-run sets it on its connection). ``None``: not set."""


def read_ini(path: Path, section: str) -> dict[str, str]:
    here = str(path.parent.resolve())
    parser = configparser.ConfigParser(defaults={"here": here})
    try:
        parser.read_string(read_regular_file(path).decode("utf-8"), source=str(path))
    except (OSError, UnicodeDecodeError, configparser.Error) as exc:
        raise ConfigError(f"{path}: cannot read config: {mask_secrets(one_line(exc))}", str(path)) from exc
    if not parser.has_section(section):
        # Sections that configure an environment, for several environments in one ini.
        candidates = [s for s in parser.sections() if parser.has_option(s, "script_location")]
        if candidates:
            listing = ", ".join(f"[{s}]" for s in candidates)
            raise ConfigError(
                f"{path}: no [{section}] section; it configures {listing}: choose one with -n NAME",
                str(path),
            )
        if section != "alembic" or path.suffix != ".ini":
            raise ConfigError(f"{path}: no [{section}] section", str(path))
        return {}
    # Only the keys migdoc reads are interpolated, as Alembic interpolates only the options it
    # gets: a `%` in any other value (a password in sqlalchemy.url) is no error to either tool.
    values: dict[str, str] = {}
    for key in INI_KEYS:
        if not parser.has_option(section, key):
            continue
        try:
            values[key] = parser.get(section, key)
        except configparser.Error as exc:
            raise ConfigError(f"{path}: cannot read {key}: {mask_secrets(one_line(exc))}", str(path)) from exc
    return values


def read_toml(path: Path) -> dict[str, object]:
    try:
        return tomllib.loads(read_regular_file(path).decode("utf-8"))
    except RecursionError:  # arrays nested thousands deep: tomllib parses them recursively
        raise ConfigError(f"{path}: cannot read: values nested too deeply", str(path)) from None
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read: {one_line(exc)}", str(path)) from exc


def tool_table(path: Path, name: str) -> dict[str, object] | None:
    """``[tool.<name>]`` of pyproject.toml: None when absent; ConfigError when not a table."""
    tool = read_toml(path).get("tool", {})
    if not isinstance(tool, dict):
        raise ConfigError(f"{path}: 'tool' must be a table ([tool.{name}]), not {_toml_type(tool)}", str(path))
    section = tool.get(name)
    if section is not None and not isinstance(section, dict):
        raise ConfigError(f"{path}: [tool.{name}] must be a table, not {_toml_type(section)}", str(path))
    return section


def _toml_type(value: object) -> str:
    """How TOML would name the type of ``value``, for error lines."""
    import datetime

    names = ((bool, "a boolean"), (int, "an integer"), (float, "a float"), (str, "a string"), (list, "an array"))
    names += (
        (dict, "a table"),
        (datetime.datetime, "a date-time"),
        (datetime.date, "a date"),
        (datetime.time, "a time"),
    )
    return next((name for kind, name in names if isinstance(value, kind)), type(value).__name__)


# [tool.alembic] keys migdoc reads, and the TOML types Alembic accepts for them
_ALEMBIC_KEY_TYPES: dict[str, tuple[type, ...]] = {
    "script_location": (str,),
    "version_locations": (list, str),
    "file_template": (str,),
    "prepend_sys_path": (list, str),
    "recursive_version_locations": (bool, str),
}


def read_toml_alembic(path: Path) -> dict[str, object] | None:
    section = tool_table(path, "alembic")
    if section is None:
        return None
    here = {"here": str(path.parent.resolve())}
    result: dict[str, object] = {}
    for key, value in section.items():
        expected = _ALEMBIC_KEY_TYPES.get(key)
        if expected is not None and (
            not isinstance(value, expected) or (isinstance(value, list) and not all(isinstance(v, str) for v in value))
        ):
            raise ConfigError(
                f"{path}: [tool.alembic] {key} must be {' or '.join(_toml_type(t()) for t in expected)}"
                f"{' of strings' if list in expected else ''}, not {_toml_type(value)}",
                str(path),
            )
        try:
            if isinstance(value, str):
                value = value % here
            elif isinstance(value, list):
                value = [v % here if isinstance(v, str) else v for v in value]
        except (KeyError, ValueError, TypeError) as exc:
            raise ConfigError(f"{path}: [tool.alembic] {key}: {one_line(exc)}", str(path)) from exc
        result[key] = value
    return result


def read_migdoc_settings(path: Path) -> MigdocSettings:
    if not path.is_file():
        return MigdocSettings()
    section = tool_table(path, "migdoc")
    if section is None:
        return MigdocSettings()
    for key in section:
        if key not in MIGDOC_KEYS:
            close = difflib.get_close_matches(str(key), MIGDOC_KEYS, n=1)
            hint = f"; did you mean {close[0]!r}?" if close else f"; known keys: {', '.join(MIGDOC_KEYS)}"
            raise ConfigError(f"{path}: [tool.migdoc] has an unknown key {key!r}{hint}", str(path))

    def codes(key: str) -> tuple[str, ...]:
        value = section.get(key, [])
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise ConfigError(
                f"{path}: [tool.migdoc] {key} must be a code or an array of codes (strings), not {_toml_type(value)}"
                + (" holding other values" if isinstance(value, list) else ""),
                str(path),
            )
        return tuple(v.upper() for v in value)

    severity = section.get("severity", {})
    if not isinstance(severity, dict):
        raise ConfigError(f"{path}: [tool.migdoc] severity must be a table of CODE = level", str(path))
    lock_timeout = None
    if "lock_timeout" in section:
        try:
            lock_timeout = lock_timeout_ms(section["lock_timeout"])
        except ValueError as exc:
            raise ConfigError(f"{path}: [tool.migdoc] lock_timeout {exc}", str(path)) from None
    return MigdocSettings(
        lock_timeout_ms=lock_timeout,
        select=codes("select"),
        ignore=codes("ignore"),
        severity={str(k).upper(): str(v).lower() for k, v in severity.items()},
    )
