"""Find a project's configuration (alembic.ini, pyproject.toml, Flask-Migrate, a bare script
or versions folder) and turn it into a :class:`ProjectLayout`, as Alembic does. Reads disk.

Alembic's rules, followed here: ``alembic.ini`` section ``[alembic]`` (or
``-n``), with ``%(here)s``; ``pyproject.toml`` ``[tool.alembic]`` for any key
the ini does not set; ``script_location`` as a path or ``package:resource``;
``version_locations`` split by ``path_separator`` (or the legacy
``version_path_separator``, or legacy spaces/commas); default
``<script_location>/versions``; ``recursive_version_locations``;
``file_template``.

Relative paths in a configuration named with ``-c`` (or given as PATH) are resolved
from the current directory, as ``alembic -c FILE`` resolves them; where only the
file's own folder holds them, that folder is read, with a note. A configuration
found from PATH (in it or above it) is resolved from its own folder, where Alembic
would be run. ``%(here)s`` is always the file's folder.
"""

from __future__ import annotations

import dataclasses
import os
import re
import sys
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

from migdoc.errors import ConfigError
from migdoc.project.config_files import (
    MigdocSettings,
    read_ini,
    read_migdoc_settings,
    read_toml_alembic,
)
from migdoc.project.layout import DEFAULT_FILE_TEMPLATE, ProjectLayout
from migdoc.project.scan import SOURCE_FILE, declares_revision, folder_problems, looks_like_versions_folder

_SEPARATORS = {"space": " ", "newline": "\n", "os": os.pathsep, ":": ":", ";": ";"}


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
        locations = tuple(Path(v).resolve() for v in version_locations)
        for location in locations:
            if not location.is_dir():
                raise ConfigError(f"{location}: version location is not a folder", str(location))
        configured = _configured_layout(root, config, name)
        if configured is not None:
            # the configuration still says where env.py is and how files are named: only the
            # folders read change (a dry-run runs the project's own env.py)
            return _with_subfolder_note(dataclasses.replace(configured, version_locations=locations))
        return _with_subfolder_note(
            ProjectLayout(
                root=root.resolve(),
                config_file=None,
                script_location=locations[0].parent,
                version_locations=locations,
                settings=read_migdoc_settings(nearest_pyproject(root)),
            )
        )

    if config:
        ini_path = Path(config)
        if not ini_path.exists():
            raise ConfigError(f"{ini_path}: config file not found", str(ini_path))
        return _with_subfolder_note(_layout_from_config_files(ini_path.parent, name, ini_path, is_explicit=True))
    if _has_config(root, name):
        return _with_subfolder_note(_layout_from_config_files(root, name))

    above = _config_above(root, name)
    resolved = root.resolve()
    is_folder_of_its_own = _is_script_folder(root) or looks_like_versions_folder(root)
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
    settings = read_migdoc_settings(nearest_pyproject(root))
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
    if looks_like_versions_folder(root):
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


def _configured_layout(root: Path, config: str | None, name: str) -> ProjectLayout | None:
    """The layout the configuration gives (``-c``, or found at or above ``root``), with its
    version folders set aside; None when there is none, or it cannot be used on its own."""
    try:
        if config:
            ini_path = Path(config)
            return _layout_from_config_files(ini_path.parent, name, ini_path, is_explicit=True, needs_versions=False)
        folder = root if _has_config(root, name) else _config_above(root, name)
        if folder is None:
            return None
        return _layout_from_config_files(folder, name, needs_versions=False)
    except ConfigError:
        return None


def _layout_from_config_files(
    folder: Path, name: str, explicit: Path | None = None, is_explicit: bool = False, needs_versions: bool = True
) -> ProjectLayout:
    """The layout from ``folder``'s alembic.ini and pyproject.toml (or the file ``-c`` named).

    ``is_explicit``: the file was named (``-c FILE``, or PATH is the file), as ``alembic -c
    FILE`` names it, so relative paths in it are resolved from the current directory first,
    as Alembic does; a configuration found from PATH is resolved from its own folder, where
    Alembic would be run."""
    ini_path = explicit if explicit is not None else folder / "alembic.ini"
    toml_path = folder / "pyproject.toml"
    if ini_path.suffix == ".toml":
        toml_path, ini_path = ini_path, ini_path.with_name("__no_ini__")
    settings = read_migdoc_settings(toml_path if toml_path.is_file() else nearest_pyproject(folder))
    options: dict[str, str] = {}
    config_file: Path | None = None
    if ini_path.exists():
        options = read_ini(ini_path, name)
        config_file = ini_path
    toml_options = read_toml_alembic(toml_path) if toml_path.exists() else None
    if toml_options is not None and config_file is None:
        config_file = toml_path
    if config_file is None:
        raise ConfigError(f"{folder}: no alembic.ini and no [tool.alembic] in pyproject.toml", str(folder))
    return _layout_from_options(config_file, options, toml_options or {}, settings, name, is_explicit, needs_versions)


def _has_config(folder: Path, name: str) -> bool:
    """True when ``folder`` holds an alembic.ini or a pyproject.toml with [tool.alembic]."""
    if (folder / "alembic.ini").exists():  # not is_file(): a FIFO or device there is refused when read, by name
        return True
    toml = folder / "pyproject.toml"
    return toml.is_file() and read_toml_alembic(toml) is not None


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


def nearest_pyproject(root: Path) -> Path:
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


_NOTE_DEPTH = 4
_NOTE_FOLDERS = 500


def _with_folder_problems(layout: ProjectLayout) -> ProjectLayout:
    """A version folder that cannot be listed is said (its revisions are missing)."""
    problems = folder_problems(layout)
    if not problems:
        return layout
    notes = tuple(f"{problem}; the revisions in it are not read" for problem in problems)
    return dataclasses.replace(layout, notes=(*layout.notes, *notes))


def _with_subfolder_note(layout: ProjectLayout) -> ProjectLayout:
    """Alembic reads only the top of each version folder unless the configuration
    sets ``recursive_version_locations``; files below are not read, but said. The look
    is bounded (``_NOTE_DEPTH`` levels, ``_NOTE_FOLDERS`` folders): ``version_locations = /``
    must not walk the whole disk for a note."""
    layout = _with_folder_problems(layout)
    if layout.is_recursive:
        return layout
    locations = {str(v) for v in layout.version_locations}
    count = 0
    folders: list[str] = []
    looked = 0
    is_cut_short = False
    for location in layout.version_locations:
        if not location.is_dir():
            continue
        top_depth = str(location).rstrip(os.sep).count(os.sep)
        for root, dirs, files in os.walk(location):
            dirs.sort()
            dirs[:] = [d for d in dirs if d != "__pycache__" and os.path.join(root, d) not in locations]
            if root.count(os.sep) - top_depth >= _NOTE_DEPTH:
                dirs[:] = []  # a note about files Alembic does not read is worth a glance, not a search
            if root == str(location):
                continue
            looked += 1
            if looked > _NOTE_FOLDERS:
                is_cut_short = True
                break
            found = sum(1 for f in files if SOURCE_FILE.match(f) and declares_revision(os.path.join(root, f)))
            if found:
                count += found
                folders.append(root)  # absolute, as records hold paths: shown by the CLI
    if not count:
        return layout
    shown = ", ".join(folders[:3]) + (f" and {len(folders) - 3} more folders" if len(folders) > 3 else "")
    at_least = f"at least {count}" if is_cut_short else f"{count}"
    note = (
        f"{at_least} more revision file{'s' if count != 1 else ''} lie in subfolders that are not read "
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
    is_explicit: bool = False,
    needs_versions: bool = True,
) -> ProjectLayout:
    base = config_file.parent.resolve()
    relocated: list[str] = []
    from_above: list[str] = []

    def configured_path(key: str, value: str) -> Path:
        path = _resolve_relative(value, base, is_explicit, relocated, key)
        if not path.exists() and not Path(os.path.expanduser(value)).is_absolute():
            above = _from_an_ancestor(value, base)
            if above is not None:
                from_above.append(f"{key} {value!r} is relative to {above}")
                return (above / value).resolve()
        return path

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
        script_path = _resolve_script_location(str(script_location), base, config_file, prepend_paths, configured_path)
    elif _is_script_folder(base):
        # Flask-Migrate writes alembic.ini into the script folder without
        # script_location and passes that folder to Alembic in code.
        script_path = base
        notes = (
            f"{config_file.resolve()} sets no script_location; reading its own folder "
            f"{base} (env.py and versions/ beside it), as Flask-Migrate does",
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
    version_paths = tuple(configured_path("version_locations", p) for p in locations) or (script_path / "versions",)
    if relocated:
        notes = (
            *notes,
            f"{config_file.resolve()}: {', '.join(relocated)} relative to the current directory {Path.cwd()} "
            f"(where Alembic looks) does not exist; reading it from the configuration's folder {base}, "
            "as Alembic run there would",
        )
    if from_above:
        notes = (
            *notes,
            f"{config_file.resolve()}: {'; '.join(from_above)} (the folder the application runs Alembic "
            "from; neither the current directory nor the configuration's folder holds it)",
        )
    if needs_versions and not any(p.is_dir() for p in version_paths):
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


def _resolve_relative(value: str, base: Path, is_explicit: bool, relocated: list[str], key: str) -> Path:
    """A path from the configuration, as Alembic resolves it: relative paths from the
    current directory when the file was named (``-c``), falling back to the file's own
    folder (said in ``relocated``) where only that one exists; from the file's folder when
    the configuration was found from PATH. ``%(here)s`` is already the file's folder."""
    candidate = Path(os.path.expanduser(value))
    if candidate.is_absolute() or not is_explicit:
        return _absolute(value, base)
    from_cwd = (Path.cwd() / candidate).resolve()
    from_config = (base / candidate).resolve()
    if from_cwd == from_config or from_cwd.exists() or not from_config.exists():
        return from_cwd
    relocated.append(f"{key} {value!r}")
    return from_config


def _from_an_ancestor(value: str, base: Path) -> Path | None:
    """The nearest folder above ``base`` from which the relative path ``value`` exists: a
    packaged application's ini names its scripts from the folder it runs Alembic in (mlflow's
    ``script_location = mlflow/store/db_migrations``, from site-packages)."""
    for folder in base.parents:
        if (folder / value).exists():
            return folder
    return None


def _absolute(path: str, base: Path) -> Path:
    candidate = Path(os.path.expanduser(path))
    return (candidate if candidate.is_absolute() else base / candidate).resolve()


def _resolve_script_location(
    value: str,
    base: Path,
    config_file: Path | None = None,
    prepend_sys_path: Sequence[Path] = (),
    resolve_path: Callable[[str, str], Path] | None = None,
) -> Path:
    # "package:resource", found on disk without importing the package. As
    # Alembic does (``coerce_resource_to_filename``), the first token is the
    # package and every further token one more path part: "pkg:sub:dir".
    if ":" in value and not os.path.isabs(value) and not re.match(r"^[A-Za-z]:[\\/]", value):
        package, *resource = value.split(":")
        relative = Path(*package.split("."))
        # The package may be installed, or in a source tree above the configuration
        # (a src/ layout): Alembic would import it from there.
        searched = [*prepend_sys_path, Path.cwd(), base, *_search_upward(base), *(Path(e or ".") for e in sys.path)]
        package_folders: list[Path] = []
        for entry in searched:
            for folder in (entry, entry / "src"):
                candidate = folder / relative
                if candidate.is_dir():
                    # a package without that resource is not the one meant: look further
                    if candidate.joinpath(*resource).is_dir():
                        return candidate.joinpath(*resource).resolve()
                    package_folders.append(candidate)
        where = f"{config_file}: " if config_file is not None else ""
        if package_folders:
            raise ConfigError(
                f"{where}script_location {value!r}: package {package!r} found at {package_folders[0]}, but it "
                f"has no folder {'/'.join(resource)}; pass the script folder or --version-location DIR",
                value,
            )
        raise ConfigError(
            f"{where}script_location {value!r}: package {package!r} not found (looked beside the "
            "configuration, above it and on sys.path); pass the script folder or --version-location DIR",
            value,
        )
    if resolve_path is not None:
        return resolve_path("script_location", value)
    return _absolute(value, base)
