"""Find a project's configuration and version files, as Alembic does. Reads disk.

Alembic's rules, followed here: ``alembic.ini`` section ``[alembic]`` (or
``-n``), with ``%(here)s``; ``pyproject.toml`` ``[tool.alembic]`` for any key
the ini does not set; ``script_location`` as a path or ``package:resource``;
``version_locations`` split by ``path_separator`` (or the legacy
``version_path_separator``, or legacy spaces/commas); default
``<script_location>/versions``; ``recursive_version_locations``;
``file_template``.

One decision of ours: relative paths in the configuration are resolved from
the configuration file's folder, which is where Alembic is normally run from
(Alembic itself resolves them from the current directory).
"""

from __future__ import annotations

import concurrent.futures.process  # eagerly: a signal during a lazy import must not leave BrokenProcessPool unresolvable
import configparser
import contextlib
import dataclasses
import difflib
import gc
import multiprocessing
import os
import re
import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from migdoc.errors import ConfigError
from migdoc.filesystem import read_regular_file
from migdoc.model import RevisionFile
from migdoc.read_cache import ReadCache
from migdoc.reader import read_revision

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on Python 3.10 only
    import tomli as tomllib

DEFAULT_FILE_TEMPLATE = "%(rev)s_%(slug)s"
_SOURCE_FILE = re.compile(r"(?!\.#|__init__)(.*\.py)$")
_SEPARATORS = {"space": " ", "newline": "\n", "os": os.pathsep, ":": ":", ";": ";"}


_MIGDOC_KEYS = ("select", "ignore", "severity")
"""The keys ``[tool.migdoc]`` may hold."""


@dataclass(frozen=True)
class MigdocSettings:
    """``[tool.migdoc]`` from pyproject.toml."""

    select: tuple[str, ...] = ()
    ignore: tuple[str, ...] = ()
    severity: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class ProjectLayout:
    """Where a project's revision files live and how they are named."""

    root: Path
    config_file: Path | None
    script_location: Path | None
    version_locations: tuple[Path, ...]
    is_recursive: bool = False
    file_template: str = DEFAULT_FILE_TEMPLATE
    has_explicit_file_template: bool = False
    prepend_sys_path: tuple[Path, ...] = ()
    settings: MigdocSettings = field(default_factory=MigdocSettings)
    ini_section: str = "alembic"
    notes: tuple[str, ...] = ()
    """Info lines about how the layout was found (printed on stderr, never findings)."""
    unread_subfolder_files: int = 0
    """Version files in subfolders Alembic would not read (no ``recursive_version_locations``)."""

    @property
    def archive_root(self) -> Path:
        base = self.script_location or self.version_locations[0].parent
        return base / "archive"


def find_layout(
    path: str | os.PathLike[str] = ".",
    config: str | None = None,
    name: str = "alembic",
    version_locations: Sequence[str] = (),
) -> ProjectLayout:
    """Find the layout of the project at ``path``. Raises ConfigError.

    ``path`` may hold the configuration, be a script folder (``env.py`` and
    ``versions/``, read as ``ScriptDirectory(folder)`` reads it), a versions
    folder, or any folder inside a project whose ``alembic.ini`` or
    ``pyproject.toml`` lies above it (up to the repository root)."""
    root = Path(path)
    if not root.exists():
        raise ConfigError(f"{root}: no such file or directory", str(root))
    if root.is_file():
        if config is None and root.suffix in (".ini", ".toml"):
            config, root = str(root), root.parent
        else:
            raise ConfigError(f"{root}: expected a project folder or a versions folder", str(root))

    if version_locations:
        settings = _read_migdoc_settings(_nearest_pyproject(root))
        locations = tuple(Path(v).resolve() for v in version_locations)
        for location in locations:
            if not location.is_dir():
                raise ConfigError(f"{location}: version location is not a folder", str(location))
        return _with_subfolder_note(
            ProjectLayout(
                root=root.resolve(),
                config_file=None,
                script_location=locations[0].parent,
                version_locations=locations,
                settings=settings,
            )
        )

    if config:
        ini_path = Path(config)
        if not ini_path.exists():
            raise ConfigError(f"{ini_path}: config file not found", str(ini_path))
        return _with_subfolder_note(_layout_from_config_files(ini_path.parent, name, ini_path))
    if _has_config(root, name):
        return _with_subfolder_note(_layout_from_config_files(root, name))

    above = _config_above(root, name)
    resolved = root.resolve()
    is_folder_of_its_own = _is_script_folder(root) or _looks_like_versions_folder(root)
    if above is not None:
        try:
            layout = _layout_from_config_files(above, name)
        except ConfigError:
            # A configuration above that cannot be used (a template filled in by code)
            # does not stop a script or versions folder from being read alone.
            if not is_folder_of_its_own:
                raise
        else:
            # A script or versions folder the configuration above does not read is
            # its own project (a monorepo's second environment): read it alone.
            reads_it = resolved == layout.script_location or any(
                resolved == v or (layout.is_recursive and resolved.is_relative_to(v)) for v in layout.version_locations
            )
            if reads_it or not is_folder_of_its_own:
                return _with_subfolder_note(layout)
    settings = _read_migdoc_settings(_nearest_pyproject(root))
    if _is_script_folder(root):
        return _with_subfolder_note(
            ProjectLayout(
                root=resolved,
                config_file=None,
                script_location=resolved,
                version_locations=(resolved / "versions",),
                settings=settings,
            )
        )
    if _looks_like_versions_folder(root):
        return _with_subfolder_note(
            ProjectLayout(
                root=resolved,
                config_file=None,
                script_location=resolved.parent,
                version_locations=(resolved,),
                settings=settings,
            )
        )
    raise ConfigError(
        f"{root}: no alembic.ini, no [tool.alembic] in pyproject.toml (here or above, up to the "
        "repository root), no env.py with versions/, and no version files; pass the project folder, "
        "the script folder, a versions folder, or --version-location DIR",
        str(root),
    )


def _layout_from_config_files(folder: Path, name: str, explicit: Path | None = None) -> ProjectLayout:
    """The layout from ``folder``'s alembic.ini and pyproject.toml (or the file ``-c`` named)."""
    ini_path = explicit if explicit is not None else folder / "alembic.ini"
    toml_path = folder / "pyproject.toml"
    if ini_path.suffix == ".toml":
        toml_path, ini_path = ini_path, ini_path.with_name("__no_ini__")
    settings = _read_migdoc_settings(toml_path if toml_path.is_file() else _nearest_pyproject(folder))
    options: dict[str, str] = {}
    config_file: Path | None = None
    if ini_path.exists():
        options = _read_ini(ini_path, name)
        config_file = ini_path
    toml_options = _read_toml_alembic(toml_path) if toml_path.exists() else None
    if toml_options is not None and config_file is None:
        config_file = toml_path
    if config_file is None:
        raise ConfigError(f"{folder}: no alembic.ini and no [tool.alembic] in pyproject.toml", str(folder))
    return _layout_from_options(config_file, options, toml_options or {}, settings, name)


def _has_config(folder: Path, name: str) -> bool:
    """True when ``folder`` holds an alembic.ini or a pyproject.toml with [tool.alembic]."""
    if (folder / "alembic.ini").exists():  # not is_file(): a FIFO or device there is refused when read, by name
        return True
    toml = folder / "pyproject.toml"
    return toml.is_file() and _read_toml_alembic(toml) is not None


def _search_upward(start: Path) -> Iterator[Path]:
    """``start``'s parents, nearest first, up to the repository root (the folder holding ``.git``)."""
    current = start.resolve()
    if (current / ".git").exists():
        return
    for parent in current.parents:
        yield parent
        if (parent / ".git").exists():
            return


def _config_above(root: Path, name: str) -> Path | None:
    for folder in _search_upward(root):
        if _has_config(folder, name):
            return folder
    return None


def _nearest_pyproject(root: Path) -> Path:
    """The project's pyproject.toml: in ``root`` or the nearest folder above it."""
    candidate = root / "pyproject.toml"
    if candidate.is_file():
        return candidate
    for folder in _search_upward(root):
        if (folder / "pyproject.toml").is_file():
            return folder / "pyproject.toml"
    return candidate


def _is_script_folder(path: Path) -> bool:
    """Alembic's script folder: ``env.py`` beside a ``versions/`` folder."""
    return (path / "env.py").is_file() and (path / "versions").is_dir()


def _with_subfolder_note(layout: ProjectLayout) -> ProjectLayout:
    """Alembic reads only the top of each version folder unless the configuration
    sets ``recursive_version_locations``; files below are not read, but said."""
    if layout.is_recursive:
        return layout
    locations = {str(v) for v in layout.version_locations}
    count = 0
    folders: list[str] = []
    for location in layout.version_locations:
        if not location.is_dir():
            continue
        for root, dirs, files in os.walk(location):
            dirs.sort()
            dirs[:] = [d for d in dirs if d != "__pycache__" and os.path.join(root, d) not in locations]
            if root == str(location):
                continue
            found = sum(1 for f in files if _SOURCE_FILE.match(f) and _declares_revision(os.path.join(root, f)))
            if found:
                count += found
                folders.append(display_path(Path(root)))
    if not count:
        return layout
    shown = ", ".join(folders[:3]) + (f" and {len(folders) - 3} more folders" if len(folders) > 3 else "")
    note = (
        f"{count} more revision file{'s' if count != 1 else ''} lie in subfolders that are not read "
        f"({shown}), as Alembic does not read them either; to include them set "
        "`recursive_version_locations = true` or pass --version-location DIR for each"
    )
    return dataclasses.replace(layout, notes=(*layout.notes, note), unread_subfolder_files=count)


def _layout_from_options(
    config_file: Path,
    ini: dict[str, str],
    toml: dict[str, object],
    settings: MigdocSettings,
    section: str,
) -> ProjectLayout:
    base = config_file.parent.resolve()

    def option(key: str) -> object:
        if key in ini:
            return ini[key]
        return toml.get(key)

    prepend = option("prepend_sys_path")
    prepend_paths: tuple[Path, ...] = ()
    if isinstance(prepend, str) and prepend:
        prepend_paths = tuple(_absolute(p, base) for p in re.split(r"[,:\s]+|;", prepend) if p)
    elif isinstance(prepend, list):
        prepend_paths = tuple(_absolute(str(p), base) for p in prepend)
    notes: tuple[str, ...] = ()
    script_location = option("script_location")
    if script_location:
        _check_path_value(config_file, "script_location", str(script_location))
        script_path = _resolve_script_location(str(script_location), base, config_file, prepend_paths)
    elif _is_script_folder(base):
        # Flask-Migrate writes alembic.ini into the script folder without
        # script_location and passes that folder to Alembic in code.
        script_path = base
        notes = (
            f"{display_path(config_file)} sets no script_location; reading its own folder "
            f"{display_path(base)} (env.py and versions/ beside it), as Flask-Migrate does",
        )
    else:
        raise ConfigError(
            f"{config_file}: no 'script_location' key found in configuration, and no env.py with "
            "versions/ beside it; pass the script folder or --version-location DIR",
            str(config_file),
        )

    raw_locations = ini.get("version_locations")
    locations: list[str]
    if raw_locations:
        separator_name = ini.get("path_separator") or ini.get("version_path_separator")
        if separator_name is None:
            locations = [p for p in re.split(r", *|(?: +)", raw_locations) if p]
        elif separator_name in _SEPARATORS:
            locations = [p.strip() for p in raw_locations.split(_SEPARATORS[separator_name]) if p.strip()]
        else:
            raise ConfigError(
                f"{config_file}: '{separator_name}' is not a valid path_separator; "
                "expected 'space', 'newline', 'os', ':', ';'",
                str(config_file),
            )
    elif isinstance(toml.get("version_locations"), list):
        locations = [str(p) for p in toml["version_locations"]]  # type: ignore[union-attr]
    else:
        locations = []
    for location in locations:
        _check_path_value(config_file, "version_locations", location)
    version_paths = tuple(_absolute(p, base) for p in locations) or (script_path / "versions",)
    if not any(p.is_dir() for p in version_paths):
        shown = ", ".join(str(p) for p in version_paths)
        raise ConfigError(
            f"{config_file}: no version folder found (looked for {shown}); "
            "pass the script folder or --version-location DIR",
            str(config_file),
        )

    template = option("file_template")
    return ProjectLayout(
        root=base,
        config_file=config_file.resolve(),
        script_location=script_path,
        version_locations=version_paths,
        is_recursive=_truthy(option("recursive_version_locations")),
        file_template=str(template) if template else DEFAULT_FILE_TEMPLATE,
        has_explicit_file_template=bool(template),
        prepend_sys_path=prepend_paths,
        settings=settings,
        ini_section=section,
        notes=notes,
    )


def _check_path_value(config_file: Path, key: str, value: str) -> None:
    """A path from the config that no system call could take is a config error, named as such
    (the OS would raise ValueError for a NUL byte and ENAMETOOLONG for the length)."""
    if "\0" in value:
        raise ConfigError(f"{config_file}: {key} holds a NUL byte", str(config_file))
    try:
        path_max, name_max = (
            os.pathconf(config_file.parent, "PC_PATH_MAX"),
            os.pathconf(config_file.parent, "PC_NAME_MAX"),
        )
    except (AttributeError, OSError, ValueError):
        path_max, name_max = 4096, 255
    encoded = os.fsencode(value)
    if len(encoded) >= path_max or any(len(part) > name_max for part in encoded.split(b"/")):
        raise ConfigError(
            f"{config_file}: {key} is longer than this system allows for a path ({len(encoded)} bytes)",
            str(config_file),
        )


def _truthy(value: object) -> bool:
    if isinstance(value, bool):
        return value
    return str(value).strip().lower() in ("true", "1", "yes", "on")


def _absolute(path: str, base: Path) -> Path:
    candidate = Path(os.path.expanduser(path))
    return (candidate if candidate.is_absolute() else base / candidate).resolve()


def _resolve_script_location(
    value: str, base: Path, config_file: Path | None = None, prepend_sys_path: Sequence[Path] = ()
) -> Path:
    # "package:resource", found on disk without importing the package. As
    # Alembic does (``coerce_resource_to_filename``), the first token is the
    # package and every further token one more path part: "pkg:sub:dir".
    if ":" in value and not os.path.isabs(value) and not re.match(r"^[A-Za-z]:[\\/]", value):
        package, *resource = value.split(":")
        relative = Path(*package.split("."))
        # The package may be installed, or in a source tree above the configuration
        # (a src/ layout): Alembic would import it from there.
        searched = [*prepend_sys_path, base, *_search_upward(base), *(Path(e or ".") for e in sys.path)]
        for entry in searched:
            for folder in (entry, entry / "src"):
                candidate = folder / relative
                if candidate.is_dir():
                    return candidate.joinpath(*resource).resolve()
        where = f"{config_file}: " if config_file is not None else ""
        raise ConfigError(
            f"{where}script_location {value!r}: package {package!r} not found (looked beside the "
            "configuration, above it and on sys.path); pass the script folder or --version-location DIR",
            value,
        )
    return _absolute(value, base)


def _read_ini(path: Path, section: str) -> dict[str, str]:
    here = str(path.parent.resolve())
    parser = configparser.ConfigParser(defaults={"here": here})
    try:
        parser.read_string(read_regular_file(path).decode("utf-8"), source=str(path))
    except (OSError, UnicodeDecodeError, configparser.Error) as exc:
        raise ConfigError(f"{path}: cannot read config: {_one_line(exc)}", str(path)) from exc
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
    try:
        return {key: parser.get(section, key) for key in parser.options(section) if key != "here"}
    except configparser.Error as exc:
        raise ConfigError(f"{path}: cannot read config: {_one_line(exc)}", str(path)) from exc


def _read_toml(path: Path) -> dict[str, object]:
    try:
        return tomllib.loads(read_regular_file(path).decode("utf-8"))
    except RecursionError:  # arrays nested thousands deep: tomllib parses them recursively
        raise ConfigError(f"{path}: cannot read: values nested too deeply", str(path)) from None
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read: {_one_line(exc)}", str(path)) from exc


def _tool_table(path: Path, name: str) -> dict[str, object] | None:
    """``[tool.<name>]`` of pyproject.toml: None when absent; ConfigError when not a table."""
    tool = _read_toml(path).get("tool", {})
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


def _read_toml_alembic(path: Path) -> dict[str, object] | None:
    section = _tool_table(path, "alembic")
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
            raise ConfigError(f"{path}: [tool.alembic] {key}: {_one_line(exc)}", str(path)) from exc
        result[key] = value
    return result


def _read_migdoc_settings(path: Path) -> MigdocSettings:
    if not path.is_file():
        return MigdocSettings()
    section = _tool_table(path, "migdoc")
    if section is None:
        return MigdocSettings()
    for key in section:
        if key not in _MIGDOC_KEYS:
            close = difflib.get_close_matches(str(key), _MIGDOC_KEYS, n=1)
            hint = f"; did you mean {close[0]!r}?" if close else f"; known keys: {', '.join(_MIGDOC_KEYS)}"
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
    return MigdocSettings(
        select=codes("select"),
        ignore=codes("ignore"),
        severity={str(k).upper(): str(v).lower() for k, v in severity.items()},
    )


_DECLARES_REVISION = re.compile(rb"^(?:down_)?revision\s*(?::[^=\n]*)?=", re.MULTILINE)


def _declares_revision(path: str | Path) -> bool:
    try:
        with open(path, "rb") as handle:
            return _DECLARES_REVISION.search(handle.read(65536)) is not None
    except OSError:
        return False


def _looks_like_versions_folder(path: Path) -> bool:
    """True when a ``.py`` file directly in ``path`` assigns ``revision`` or
    ``down_revision`` at module level: a package's source folder is not a versions folder."""
    try:
        candidates = sorted(e for e in path.iterdir() if _SOURCE_FILE.match(e.name) and e.is_file())
    except OSError:
        return False
    return any(_declares_revision(entry) for entry in candidates[:200])


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split())


def list_version_files(layout: ProjectLayout) -> list[Path]:
    """Version files in Alembic's load order, each real path once."""
    return [Path(folder, name) for folder, names in _version_folders(layout) for name in names]


def _version_folders(layout: ProjectLayout) -> list[tuple[str, list[str]]]:
    """Each folder holding version files, with their names, in Alembic's load order.

    Plain strings, not Paths: a 20,000-file chain would spend a tenth of a
    warm ``check`` building Path objects."""
    found: list[tuple[str, list[str]]] = []
    seen: set[str] = set()
    for location in layout.version_locations:
        if not location.is_dir():
            continue
        for root, dirs, files in os.walk(location, topdown=True):
            if root.endswith("__pycache__"):
                dirs[:] = []
                continue
            # Resolve the folder once, not every file: symlinked folders listed
            # twice are caught, and a 20,000-file chain pays one realpath.
            real_root = os.path.realpath(root)
            names = []
            for filename in sorted(files):
                if not _SOURCE_FILE.match(filename):
                    continue
                real = os.path.join(real_root, filename)
                if real not in seen:
                    seen.add(real)
                    names.append(filename)
            if names:
                found.append((root, names))
            if not layout.is_recursive:
                break
            dirs.sort()
    return found


def display_path(path: Path, cwd: Path | None = None) -> str:
    """Relative to the current directory when under it, else absolute."""
    cwd = (cwd or Path.cwd()).resolve()
    absolute = path.resolve() if not path.is_absolute() else path
    try:
        return absolute.relative_to(cwd).as_posix()
    except ValueError:
        return absolute.as_posix()


def _version_files_shown(layout: ProjectLayout) -> list[tuple[str, str]]:
    """(path to open, path to show) of every version file, resolving each folder once."""
    cwd = Path.cwd().resolve()
    files = []
    for folder, names in _version_folders(layout):
        prefix = display_path(Path(folder), cwd)
        for name in names:
            files.append((os.path.join(folder, name), name if prefix in ("", ".") else f"{prefix}/{name}"))
    return files


def _read_one(path: str, shown: str) -> RevisionFile:
    try:
        data = read_regular_file(path)
    except OSError as exc:
        return RevisionFile(path=shown, read_error=f"cannot be opened: {exc.strerror or exc}")
    return read_revision(shown, data)


def _read_chunk(chunk: list[tuple[str, str]]) -> list[RevisionFile]:
    # Parsing makes and drops millions of AST nodes (freed by reference
    # counting: they hold no cycles); the cyclic collector would otherwise
    # rescan the growing list of records again and again.
    with gc_paused():
        return [_read_one(path, shown) for path, shown in chunk]


# Below this many files a process pool costs more than it saves.
_PARALLEL_THRESHOLD = 600


def read_project_files(layout: ProjectLayout, use_cache: bool = True, write_cache: bool = True) -> list[RevisionFile]:
    """Read every version file; unreadable ones become records with read_error.

    What the reader made of a file is cached by the file's content hash (as
    Python caches bytecode next to a module), so an unchanged file is not
    parsed again; the cache lives in the user's cache folder, never in the
    project. Files not in the cache are parsed, by a pool of worker processes
    when there are many: parsing is CPU-bound and the GIL would serialise threads.
    """
    cache = ReadCache.open(layout.root) if use_cache else None
    if cache is None:  # nothing to look up: the readers open each file themselves, once
        return _parse_many(_version_files_shown(layout))
    records: list[RevisionFile | None] = []
    misses: list[tuple[int, str, str]] = []
    for position, (path, display) in enumerate(_version_files_shown(layout)):
        try:
            data = read_regular_file(path)
        except OSError as exc:
            records.append(RevisionFile(path=display, read_error=f"cannot be opened: {exc.strerror or exc}"))
            continue
        hit = cache.get(data, display)
        records.append(hit)
        if hit is None:
            misses.append((position, path, display))
    for (position, _, _), record in zip(misses, _parse_many([(p, d) for _, p, d in misses]), strict=True):
        records[position] = record
    complete = [record for record in records if record is not None]
    if write_cache and misses:
        cache.save(complete)
    return complete


def _parse_many(jobs: list[tuple[str, str]]) -> list[RevisionFile]:
    workers = min(os.cpu_count() or 1, 8)
    if len(jobs) < _PARALLEL_THRESHOLD or workers < 2 or "fork" not in multiprocessing.get_all_start_methods():
        return _read_chunk(jobs)
    size = -(-len(jobs) // workers)
    chunks = [jobs[i : i + size] for i in range(0, len(jobs), size)]
    context = multiprocessing.get_context("fork")
    try:
        with (
            concurrent.futures.ProcessPoolExecutor(max_workers=len(chunks) - 1, mp_context=context) as pool,
            gc_paused(),
        ):
            # this process reads the first share itself rather than wait idle (and unpickle it)
            others = pool.map(_read_chunk, chunks[1:])
            return [*_read_chunk(chunks[0]), *(record for part in others for record in part)]
    except (OSError, concurrent.futures.process.BrokenProcessPool):
        return _read_chunk(jobs)  # no processes to be had here: read in this one


@contextlib.contextmanager
def gc_paused() -> Iterator[None]:
    """Loading tens of thousands of small records makes the cyclic garbage
    collector run over and over for nothing (none of them form cycles)."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def find_archived(layout: ProjectLayout) -> dict[str, str]:
    """Revision id -> path of files already moved to the archive folder."""
    archive = layout.archive_root
    if not archive.is_dir():
        return {}
    found: dict[str, str] = {}
    for path in sorted(archive.rglob("*.py")):
        try:
            record = read_revision(display_path(path), read_regular_file(path))
        except OSError:
            continue
        if record.revision is not None:
            found[record.revision] = record.path
    return found
