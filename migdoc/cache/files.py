"""The files of migdoc's caches (the read cache, the result cache): where they live, how one
is read without trusting it and written so no reader sees half of it, and the fingerprint of
the code that made them. Reads and writes disk. Standard library only: a cached ``check``
is answered through this module, before anything heavy is imported.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import os
import stat
from pathlib import Path

TEMP_PREFIX = ".reads-"
"""Temporary files of a cache being written (the read cache's prefix, which its clean-up knows)."""


def cache_folder() -> Path:
    return Path(
        os.environ.get("MIGDOC_CACHE_DIR")
        or os.path.join(os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "migdoc")
    )


def is_disabled() -> bool:
    """``MIGDOC_NO_CACHE=1``: no cache is read or written."""
    return bool(os.environ.get("MIGDOC_NO_CACHE"))


def read_capped(path: Path, limit: int) -> bytes | None:
    """The bytes of a regular file no larger than ``limit``; None for anything else.

    Opened without blocking and without following a symlink, then checked with
    fstat: a FIFO, a device or a link to ``/dev/zero`` is never read."""
    try:
        handle = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOFOLLOW | os.O_CLOEXEC)
    except OSError:
        return None
    try:
        info = os.fstat(handle)
        if not stat.S_ISREG(info.st_mode) or info.st_size > limit:
            return None
        chunks = []
        remaining = limit + 1
        while remaining > 0:
            chunk = os.read(handle, min(remaining, 1 << 22))
            if not chunk:
                break
            chunks.append(chunk)
            remaining -= len(chunk)
        data = b"".join(chunks)
        return data if len(data) <= limit else None
    except OSError:
        return None
    finally:
        os.close(handle)


def write_private(path: Path, content: bytes) -> bool:
    """Write ``content`` to ``path`` (mode 0600) through a temporary file renamed over it;
    False, and nothing left behind, when the folder cannot be written."""
    folder = path.parent
    temporary = folder / f"{TEMP_PREFIX}{os.getpid()}-{os.urandom(4).hex()}.tmp"
    try:
        folder.mkdir(parents=True, exist_ok=True)
        handle = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
        with os.fdopen(handle, "wb") as out:
            out.write(content)
        os.replace(temporary, path)
    except OSError:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        return False
    return True


@functools.lru_cache(maxsize=1)
def package_fingerprint() -> str:
    """migdoc's version and the hash of every source file of the package: a changed rule,
    format or reader makes another answer, so the results of other code are never used."""
    from migdoc import __version__

    return fingerprint_of(Path(__file__).parent, __version__)


def fingerprint_of(package: Path, version: str) -> str:
    """The hash of ``version`` and of the name and bytes of every ``.py`` file under ``package``."""
    digest = hashlib.sha256(version.encode())
    sources = []
    for folder, dirs, files in os.walk(package):
        dirs[:] = [d for d in dirs if d != "__pycache__"]
        sources += [os.path.join(folder, name) for name in files if name.endswith(".py")]
    for path in sorted(sources):
        with contextlib.suppress(OSError), open(path, "rb") as handle:
            data = handle.read()
            digest.update(f"{os.path.relpath(path, package)}\0{len(data)}\0".encode() + data)
    return digest.hexdigest()
