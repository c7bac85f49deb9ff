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
import errno
import os
import re
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


def display_path(path: str | os.PathLike[str], cwd: str | os.PathLike[str] | None = None) -> str:
    """How every output shows a path (SPEC: relative to the current directory when it lies
    under it, else as it is). The one place that rule lives: records hold absolute paths
    (``migdoc.model``), and outputs, error lines and reports show them through here.

    A relative ``path`` is taken as relative to the current directory. ``cwd``: the folder
    to show from (default: the current one, read on every call, so a record rendered after
    a ``chdir`` is shown from where the process is then)."""
    text = os.fspath(path)
    if not os.path.isabs(text):
        text = os.path.realpath(text)
    base = _base(cwd)
    if text == base:
        return "."
    prefix = base if base.endswith("/") else base + "/"
    shown = text[len(prefix) :] if text.startswith(prefix) else text
    return shown.replace(os.sep, "/") if os.sep != "/" else shown


def display_text(text: str, cwd: str | os.PathLike[str] | None = None) -> str:
    """``text`` (a message, a note, a README line) with the absolute paths in it shown as
    :func:`display_path` shows them: ``/work/p/migrations/v/0001.py`` is ``migrations/v/0001.py``
    from ``/work/p``. A path is recognised by the current directory at its start (not after a
    letter, a dot or a slash, so ``/x/work/p/...`` is left alone). Shown from ``/``, nothing
    is rewritten: every slash would look like a path's start."""
    base = _base(cwd)
    if base == "/" or base not in text:
        return text
    prefix = base.rstrip("/")
    return re.sub(rf"(?<![\w./~-]){re.escape(prefix)}(?:/|(?=[\s'\"`),;:]|$))", _relative_match, text)


def _relative_match(match: re.Match[str]) -> str:
    return "" if match.group().endswith("/") else "."


def _base(cwd: str | os.PathLike[str] | None) -> str:
    # getcwd() is the kernel's name for the folder: symlinks already resolved
    return os.getcwd() if cwd is None else os.path.realpath(os.fspath(cwd))


def project_path(path: str | os.PathLike[str]) -> str:
    """A path as records hold it: absolute and normalised, its folder's symlinks resolved
    (as the configuration resolves version locations), a relative one taken from the current
    directory. For what a user names on the command line (``--archive-dir``, ``--keep``)."""
    absolute = os.path.abspath(os.fspath(path))
    folder, name = os.path.split(absolute)
    return os.path.join(os.path.realpath(folder), name) if name else os.path.realpath(absolute)


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
    half of it: a temporary file in the same folder, flushed to disk, then renamed over.

    Only a regular file (or nothing) is ever renamed over. A symlink is followed: its
    target is written (atomically, beside the target), the link stays. A character device
    (``/dev/null``, ``/dev/stdout``'s terminal) or a FIFO with a reader is written through,
    as a shell's ``>`` would. Anything else (a folder, a block device, a socket, a FIFO
    nobody reads) raises :class:`FileRefused` and is left as it was."""
    target = Path(os.path.realpath(path))  # through every symlink: the link is not ours to replace
    try:
        mode = os.stat(target).st_mode
    except FileNotFoundError:
        mode = None
    if mode is not None and (stat.S_ISCHR(mode) or stat.S_ISFIFO(mode)):
        _write_through(target, text, is_fifo=stat.S_ISFIFO(mode))
        return
    if mode is not None and not stat.S_ISREG(mode):
        kind = next((name for test, name in _KINDS if test(mode)), "not a regular file")
        raise FileRefused(path, f"it is {kind}; migdoc writes only a regular file, a character device or a FIFO")
    _replace_regular(target, text)


def _write_through(target: Path, text: str, *, is_fifo: bool) -> None:
    """Write into a device or a FIFO in place (never replaced). A FIFO is opened without
    blocking, so one nobody reads is refused instead of waiting forever."""
    flags = os.O_WRONLY | getattr(os, "O_CLOEXEC", 0) | (os.O_NONBLOCK if is_fifo else 0)
    try:
        handle = os.open(target, flags)
    except OSError as exc:
        if is_fifo and exc.errno == errno.ENXIO:
            raise FileRefused(target, "it is a FIFO (named pipe) nobody is reading") from exc
        raise
    try:
        if is_fifo:
            os.set_blocking(handle, True)  # a reader is there: wait for it as a pipe does
        data = text.encode("utf-8")
        view = memoryview(data)
        while view:
            view = view[os.write(handle, view) :]
    finally:
        os.close(handle)


def _replace_regular(target: Path, text: str) -> None:
    import tempfile

    folder = target.parent
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
