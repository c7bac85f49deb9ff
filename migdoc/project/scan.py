"""Listing and reading a project's version files (in Alembic's load order, in parallel
when there are many, through the read cache), and the archive's. Reads disk.

Listing imports nothing but the standard library: the result cache lists the folders of
every ``check`` it answers. The reader, the records and the process pool are imported by
the functions that read."""

from __future__ import annotations

import contextlib
import gc
import os
import re
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from migdoc.util.filesystem import read_regular_file

if TYPE_CHECKING:
    from migdoc.model import RevisionFile
    from migdoc.project.layout import ProjectLayout

SOURCE_FILE = re.compile(r"(?!\.#|__init__)(.*\.py)$")
"""A file Alembic loads as a version file (not an editor's lock file, not ``__init__``)."""


_DECLARES_REVISION = re.compile(rb"^(?:down_)?revision\s*(?::[^=\n]*)?=", re.MULTILINE)


_OPEN_FLAGS = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_BINARY", 0)


def declares_revision(path: str | Path) -> bool:
    """True when the start of ``path``, a regular file, assigns ``revision`` at module level.
    Anything else (a FIFO named ``x.py``, a device, a folder) is opened without blocking
    and never read."""
    try:
        fd = os.open(path, _OPEN_FLAGS)
    except OSError:
        return False
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return False
        return _DECLARES_REVISION.search(os.read(fd, 65536)) is not None
    except OSError:
        return False
    finally:
        os.close(fd)


def folder_problems(layout: ProjectLayout) -> list[str]:
    """One line for each version folder that exists but cannot be listed (permission
    denied): its revisions are missing from the read, and that must be said."""
    problems = []
    for location in layout.version_locations:
        try:
            with os.scandir(location):
                pass
        except FileNotFoundError:
            continue  # a configured folder that is not there: the configuration says so
        except OSError as exc:
            problems.append(f"cannot list {location}: {exc.strerror or exc}")
    return problems


def looks_like_versions_folder(path: Path) -> bool:
    """True when a ``.py`` file directly in ``path`` assigns ``revision`` or
    ``down_revision`` at module level: a package's source folder is not a versions folder."""
    try:
        candidates = sorted(e for e in path.iterdir() if SOURCE_FILE.match(e.name) and e.is_file())
    except OSError:
        return False
    return any(declares_revision(entry) for entry in candidates[:200])


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
                if not SOURCE_FILE.match(filename):
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


def version_file_paths(layout: ProjectLayout) -> list[tuple[str, str]]:
    """(path to open, path the record holds) of every version file, in Alembic's load order:
    both the absolute path (the configuration resolves the version locations), whatever the
    current directory. The result cache keys on this listing."""
    files = []
    for folder, names in _version_folders(layout):
        for name in names:
            path = os.path.join(folder, name)
            files.append((path, path))
    return files


def _read_one(path: str, shown: str) -> RevisionFile:
    from migdoc.model import RevisionFile
    from migdoc.project.reader import read_revision

    try:
        data = read_regular_file(path)
    except OSError as exc:
        return RevisionFile(path=shown, read_error=f"cannot be opened: {exc.strerror or exc}")
    return read_revision(shown, data)


def _read_chunk(chunk: list[tuple[str, str]]) -> list[RevisionFile]:
    # Parsing makes and drops millions of AST nodes (freed by reference
    # counting: they hold no cycles); the cyclic collector would otherwise
    # rescan the growing list of records again and again. But each
    # ``ast.literal_eval`` leaves a few functions in a reference cycle (its nested
    # helpers): only the youngest objects are collected, every few hundred files,
    # or 50,000 files pile up ~5 KB of that garbage each (a first run's peak).
    records = []
    with gc_paused():
        for number, (path, shown) in enumerate(chunk, 1):
            records.append(_read_one(path, shown))
            if number % _COLLECT_EVERY == 0:
                gc.collect(0)
    return records


_COLLECT_EVERY = 256


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
    # before any pool: a signal during a lazy import must not leave BrokenProcessPool unresolvable
    import concurrent.futures.process  # noqa: F401
    import multiprocessing  # noqa: F401

    from migdoc.model import RevisionFile
    from migdoc.project.read_cache import ReadCache

    cache = ReadCache.open(layout.root) if use_cache else None
    if cache is None:  # nothing to look up: the readers open each file themselves, once
        return _parse_many(version_file_paths(layout))
    records: list[RevisionFile | None] = []
    misses: list[tuple[int, str, str]] = []
    for position, (path, display) in enumerate(version_file_paths(layout)):
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
    import concurrent.futures.process
    import multiprocessing

    workers = min(os.cpu_count() or 1, 8)
    if len(jobs) < _PARALLEL_THRESHOLD or workers < 2 or "fork" not in multiprocessing.get_all_start_methods():
        return _read_chunk(jobs)
    size = -(-len(jobs) // workers)
    chunks = [jobs[i : i + size] for i in range(0, len(jobs), size)]
    context = multiprocessing.get_context("fork")
    from migdoc.util.interrupts import deferred

    try:
        with deferred():  # a pool cut in half by a signal leaves workers the exit waits for
            pool = concurrent.futures.ProcessPoolExecutor(max_workers=len(chunks) - 1, mp_context=context)
            others = pool.map(_read_chunk, chunks[1:])
    except (OSError, concurrent.futures.process.BrokenProcessPool):
        return _read_chunk(jobs)  # no processes to be had here: read in this one
    try:
        with gc_paused():
            # this process reads the first share itself rather than wait idle (and unpickle it)
            records = [*_read_chunk(chunks[0]), *(record for part in others for record in part)]
    except concurrent.futures.process.BrokenProcessPool:
        pool.shutdown(wait=False, cancel_futures=True)
        return _read_chunk(jobs)
    except BaseException:
        # interrupted: the run is ending; the workers finish their share and are not waited for
        pool.shutdown(wait=False, cancel_futures=True)
        raise
    pool.shutdown(wait=True)
    return records


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
    return {record.revision: record.path for record in read_archived(layout) if record.revision is not None}


def read_archived(layout: ProjectLayout) -> list[RevisionFile]:
    """The files already moved to the archive folder, read as version files are (MD022 reads
    what they created: Alembic no longer runs them)."""
    archive = layout.archive_root
    if not archive.is_dir():
        return []
    from migdoc.project.reader import read_revision

    found: list[RevisionFile] = []
    for path in sorted(archive.rglob("*.py")):
        try:
            found.append(read_revision(str(path.absolute()), read_regular_file(path)))
        except OSError:
            continue
    return found
