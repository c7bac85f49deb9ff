"""Reading files a project names, safely: only regular files, and only so much. Reads disk.

A versions folder or a config path may hold anything: a FIFO (opening it for
reading waits for a writer forever), a symlink to ``/dev/zero`` or
``/dev/urandom`` (reading it never ends and eats memory), a file of
gigabytes. Every version and config file migdoc reads goes through
:func:`read_regular_file`, which opens without blocking, checks what the
opened file *is* (after symlinks, so a swap between a check and the open
cannot fool it), and reads at most the limit.
"""

from __future__ import annotations

import contextlib
import os
import stat
from pathlib import Path

MAX_FILE_BYTES = 8 * 1024 * 1024
"""The largest version or config file read: 30 times the largest version file seen in
the public projects migdoc was measured on (a 280 KB squashed initial migration)."""

_KINDS = (
    (stat.S_ISDIR, "a folder"),
    (stat.S_ISFIFO, "a FIFO (named pipe)"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISSOCK, "a socket"),
)


class FileRefused(OSError):
    """A file migdoc will not read; ``strerror`` says why, in words fit for one line."""

    def __init__(self, path: str | os.PathLike[str], reason: str) -> None:
        super().__init__(reason)
        self.strerror = reason
        self.filename = os.fspath(path)

    def __str__(self) -> str:
        return self.strerror


_READ_FLAGS = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_BINARY", 0)


def read_regular_file(path: str | os.PathLike[str], limit: int = MAX_FILE_BYTES) -> bytes:
    """The bytes of ``path`` when it is a regular file of at most ``limit`` bytes.

    Raises :class:`FileRefused` (an ``OSError``) for anything else, and
    ``OSError`` when it cannot be opened. Never blocks on a FIFO, never reads
    more than ``limit + 1`` bytes."""
    fd = os.open(path, _READ_FLAGS)
    try:
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            kind = next((name for test, name in _KINDS if test(mode)), "not a regular file")
            raise FileRefused(path, f"it is {kind}, not a regular file")
        chunks: list[bytes] = []
        total = 0
        while total <= limit:  # read to the end, not to st_size: a file may grow while read
            chunk = os.read(fd, min(1 << 20, limit + 1 - total))
            if not chunk:
                break
            chunks.append(chunk)
            total += len(chunk)
        if total > limit:
            raise FileRefused(path, f"it is larger than {_megabytes(limit)}, migdoc's limit for a file it reads")
        return b"".join(chunks)
    finally:
        os.close(fd)


def _megabytes(size: int) -> str:
    return f"{size / (1024 * 1024):g} MB"


def display_path(path: Path, cwd: Path | None = None) -> str:
    """Relative to the current directory when under it, else absolute."""
    cwd = (cwd or Path.cwd()).resolve()
    absolute = path.resolve() if not path.is_absolute() else path
    try:
        return absolute.relative_to(cwd).as_posix()
    except ValueError:
        return absolute.as_posix()


def repository_root(folder: Path) -> Path:
    """The repository holding ``folder`` (the nearest folder upward with ``.git``), else
    ``folder`` itself: what SARIF paths are relative to."""
    root = folder.resolve()
    for candidate in (root, *root.parents):
        if (candidate / ".git").exists():
            return candidate
    return root


def write_atomically(path: str | os.PathLike[str], text: str) -> None:
    """Write ``text`` to ``path`` so a reader sees the old file or the whole new one, never
    half of it: a temporary file in the same folder, flushed to disk, then renamed over."""
    import tempfile

    target = Path(path)
    folder = target.parent if str(target.parent) else Path(".")
    handle, temporary = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=folder)
    try:
        # mkstemp makes the file 0600; a report is for others too: the mode the file had,
        # else what the umask gives a new file, as open() would
        try:
            mode = stat.S_IMODE(target.stat().st_mode)
        except FileNotFoundError:
            umask = os.umask(0)
            os.umask(umask)
            mode = 0o666 & ~umask
        os.chmod(handle, mode)
        with os.fdopen(handle, "w", encoding="utf-8", newline="\n") as stream:
            stream.write(text)
            stream.flush()
            os.fsync(stream.fileno())
        os.replace(temporary, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise
