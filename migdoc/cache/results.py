"""The result cache: a ``check`` of an unchanged tree answered with the report and exit code
it gave last time. Reads and writes disk.

The answer is stored under a key made of everything it depends on: migdoc's version and the
hash of its own source files, the Python version, the current directory (paths are shown
relative to it), every option that changes the report (PATHs, ``-c``, ``-n``,
``--version-location``, format, select, ignore, statistics, quiet, exit-zero, the colour
decision), the layout each PATH was found to have (which holds the settings read from its
configuration), the content hash of each configuration file it may have read, the
repository root (SARIF paths are relative to it), the content hash of env.py (MD029, MD030),
and the name and content hash of every version file and every archived file. A check with ``--database-url``, ``--base-ref`` or
``--dryrun`` is never cached: a database or git may answer differently with the same files.

Computing the key finds the layout, lists the folders and hashes the files: nothing here
or in what it imports loads the graph (networkx), the rules, Alembic, SQLAlchemy or a
driver, so a hit costs the listing, the reading and the hashing, and no more.

The cache files live beside the read cache (``MIGDOC_CACHE_DIR``, else
``$XDG_CACHE_HOME/migdoc``; ``MIGDOC_NO_CACHE=1`` turns both off), one small file per key,
and are untrusted input as the read cache's are: JSON, checked field by field, with the
full key and a digest of the body inside, so a truncated, flipped or foreign file is a miss
(and is written again). At most :data:`MAX_ENTRIES` answers and :data:`MAX_TOTAL_BYTES`
are kept, the least recently used removed first. A folder that cannot be written costs the saving, never the command.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from migdoc.cache import files as cache_files
from migdoc.errors import MigdocError
from migdoc.options import Answer, CheckRequest
from migdoc.project.config import find_layout, nearest_pyproject
from migdoc.project.layout import ProjectLayout
from migdoc.project.scan import version_file_paths
from migdoc.util.filesystem import read_regular_file, repository_root

FORMAT = "migdoc-result-cache-1"
MAX_ENTRIES = 64
MAX_TOTAL_BYTES = 64 * 1024 * 1024
MAX_ENTRY_BYTES = MAX_TOTAL_BYTES
_NAME = re.compile(r"results-[0-9a-f]{32}\.json")
_TOUCH_AFTER_SECONDS = 60  # a hit marks its entry as used (for eviction), not more than once a minute


@dataclass
class Lookup:
    """A computed key and what the cache holds for it (``answer`` None: a miss)."""

    layouts: list[ProjectLayout]
    key: str
    hashes: list[list[str]]
    """Per PATH, the content hash of each version file in load order ("" where unreadable)."""
    answer: Answer | None = None

    @property
    def path(self) -> Path:
        return cache_files.cache_folder() / f"results-{self.key[:32]}.json"

    def store(self, answer: Answer, projects: list) -> None:
        """Keep ``answer``, unless the files read for it are not the ones the key hashed
        (one changed in between: then the answer belongs to neither)."""
        read = [[record.sha256 for record in project.files] for project in projects]
        if read != self.hashes:
            return
        body = json.dumps({"report": answer.report, "code": answer.code}, ensure_ascii=True).encode("ascii")
        header = json.dumps({"format": FORMAT, "key": self.key, "digest": _digest(self.key, body)}).encode("ascii")
        if cache_files.write_private(self.path, header + b"\n" + body + b"\n"):
            prune(self.path.parent, keep=self.path)


def open_for(request: CheckRequest) -> Lookup | None:
    """The key of ``request`` and the cached answer, if any; None when there is no cache
    to use (switched off, or a PATH whose layout cannot be found: the uncached run says why)."""
    if cache_files.is_disabled():
        return None
    try:
        layouts = [
            find_layout(path, config=request.config, name=request.name, version_locations=request.version_locations)
            for path in request.paths
        ]
        lookup = _lookup(request, layouts)
    except (MigdocError, OSError, ValueError):
        return None
    lookup.answer = _read(lookup.path, lookup.key)
    return lookup


def _lookup(request: CheckRequest, layouts: list[ProjectLayout]) -> Lookup:
    digest = hashlib.sha256()

    def add(*parts: object) -> None:
        digest.update(json.dumps(parts, default=str).encode() + b"\n")

    add(FORMAT, cache_files.package_fingerprint(), sys.version, os.getcwd())
    add(
        request.paths,
        request.config,
        request.name,
        request.version_locations,
        request.fmt,
        request.select,
        request.ignore,
        request.is_statistics,
        request.is_exit_zero,
        request.is_quiet,
        request.is_colour,
        request.is_snippets,
    )
    hashes = []
    for layout in layouts:
        add(repr(layout), str(repository_root(layout.root)))
        for config in _config_files(layout):
            add("config", str(config), _content_hash(config))
        listed = []
        lines = []  # one line per file, not a JSON document each: 5,000 files are hashed on every run
        for path, shown in version_file_paths(layout):
            sha = _content_hash(path)
            listed.append(sha if len(sha) == 64 else "")
            lines.append(f"{shown}\0{sha}\n")
        digest.update("".join(lines).encode("utf-8", "surrogateescape"))
        hashes.append(listed)
        archive = layout.archive_root
        if archive.is_dir():
            for path in sorted(archive.rglob("*.py")):
                add("archived", str(path), _content_hash(path))
        if layout.script_location is not None:  # MD029/MD030 and the lock timeout read env.py
            env = layout.script_location / "env.py"
            add("env.py", str(env), _content_hash(env))
    return Lookup(layouts, digest.hexdigest(), hashes)


def _config_files(layout: ProjectLayout) -> list[Path]:
    """Every file the layout's configuration may have come from (an absent one counts too:
    creating it can change the layout)."""
    found = [layout.root / "alembic.ini", layout.root / "pyproject.toml", nearest_pyproject(layout.root)]
    if layout.config_file is not None:
        found.append(layout.config_file)
    return sorted(set(found))


def _content_hash(path: str | os.PathLike[str]) -> str:
    """sha256 of the file's bytes (as the reader computes it), or why it cannot be read."""
    try:
        return hashlib.sha256(read_regular_file(path)).hexdigest()
    except OSError as exc:
        return f"unreadable: {exc.strerror or exc}"


def _digest(key: str, body: bytes) -> str:
    return hashlib.sha256(key.encode("ascii") + b"\n" + body).hexdigest()


def _read(path: Path, key: str) -> Answer | None:
    """The answer stored for ``key`` at ``path``; None for anything missing, foreign or damaged."""
    data = cache_files.read_capped(path, MAX_ENTRY_BYTES)
    if not data:
        return None
    header, _, body = data.partition(b"\n")
    try:
        meta = json.loads(header)
        if not isinstance(meta, dict) or meta.get("format") != FORMAT or meta.get("key") != key:
            return None
        if not body.endswith(b"\n") or meta.get("digest") != _digest(key, body[:-1]):
            return None
        value = json.loads(body)
    except (ValueError, RecursionError):
        return None
    if not isinstance(value, dict) or set(value) != {"report", "code"}:
        return None
    report, code = value["report"], value["code"]
    if type(report) is not str or type(code) is not int or code not in (0, 1):
        return None
    with contextlib.suppress(OSError):
        if time.time() - os.stat(path).st_mtime > _TOUCH_AFTER_SECONDS:
            os.utime(path)  # recently used: evicted last
    return Answer(report, code, is_cached=True)


def prune(folder: Path, keep: Path | None = None) -> list[Path]:
    """Keep the most recently used answers (``keep`` first), at most :data:`MAX_ENTRIES` of
    them and :data:`MAX_TOTAL_BYTES` together; remove the rest. Only names this module
    writes are considered. Returns what was removed."""
    try:
        names = [name for name in os.listdir(folder) if _NAME.fullmatch(name)]
    except OSError:
        return []
    entries = []
    for name in names:
        path = folder / name
        with contextlib.suppress(OSError):
            info = os.lstat(path)
            entries.append((path == keep, info.st_mtime, info.st_size, path))
    removed = []
    total = 0
    for number, (is_kept, _, size, path) in enumerate(sorted(entries, reverse=True)):
        total += size
        if is_kept or (number < MAX_ENTRIES and total <= MAX_TOTAL_BYTES):
            continue
        with contextlib.suppress(OSError):
            os.unlink(path)
            removed.append(path)
    return removed
