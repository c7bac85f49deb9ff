"""One writer per project: the lock ``fix --apply`` and ``fix --undo`` hold while they write. Touches disk."""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import stat
from collections.abc import Iterator
from pathlib import Path

from migdoc.errors import LockedError, MigdocError
from migdoc.util import owner
from migdoc.util.filesystem import display_path

STATE_DIR = Path(".migdoc")
LOCK_FILE = STATE_DIR / "lock"
_JOURNALS = STATE_DIR / "journal"
GITIGNORE = STATE_DIR / ".gitignore"
_GITIGNORE_TEXT = "# Written by migdoc: its lock and fix journals are not for version control.\n*\n"


@contextlib.contextmanager
def project_lock(root: Path, error: type[MigdocError] = MigdocError) -> Iterator[None]:
    """Hold the project's write lock: an exclusive ``flock`` on ``.migdoc/lock``.

    The kernel drops the lock when its holder ends, however it ends (even
    SIGKILL), so a lock left by a dead run never blocks anyone; the file only
    names the holder (pid, host, start time) for the run that is refused. The
    holder removes the file (and an empty ``.migdoc``) when done; a run that
    locked a file just removed notices (the path no longer names it) and tries again."""
    path = root / LOCK_FILE
    refuse_state_outside(root, error)
    handle = _acquire(path, error)
    _ignore_in_git(root)
    try:
        with contextlib.suppress(OSError):
            os.pwrite(handle, json.dumps(owner.this_process()).encode("utf-8"), 0)
        yield
    finally:
        with contextlib.suppress(OSError):
            os.unlink(path)  # while still holding it: nobody can lock this file in between
        os.close(handle)
        _remove_if_only_ours(root)


def refuse_state_outside(root: Path, error: type[MigdocError] = MigdocError) -> None:
    """Refuse (``error``, one line) when ``.migdoc`` or ``.migdoc/journal`` resolves outside
    the project: a symlink there would send the lock and the journal (which holds the full
    text of every edited file) wherever it points."""
    base = os.path.realpath(root)
    for folder in (STATE_DIR, _JOURNALS):
        real = os.path.realpath(root / folder)
        if real != base and not real.startswith(base.rstrip(os.sep) + os.sep):
            raise error(
                f"{display_path(root / folder)} resolves to {real}, outside the project; migdoc keeps its lock "
                "and journals only inside the project; nothing changed; make it a plain folder or remove it",
                str(root / folder),
            )


def _ignore_in_git(root: Path) -> None:
    """``.migdoc/.gitignore`` holding ``*``, as ruff and pytest mark their caches: ``git status``
    stays clean. Best effort: an existing one is the user's and kept."""
    with contextlib.suppress(OSError):
        handle = os.open(root / GITIGNORE, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o644)
        try:
            os.write(handle, _GITIGNORE_TEXT.encode("utf-8"))
        finally:
            os.close(handle)


def _remove_if_only_ours(root: Path) -> None:
    """A run that leaves no journal leaves no ``.migdoc``: the folder goes when it holds
    nothing but the ``.gitignore`` migdoc wrote (a changed one is the user's and stays)."""
    with contextlib.suppress(OSError):
        if os.listdir(root / STATE_DIR) == [GITIGNORE.name] and _is_our_gitignore(root / GITIGNORE):
            os.unlink(root / GITIGNORE)
    with contextlib.suppress(OSError):
        (root / STATE_DIR).rmdir()  # only when empty: a refused run leaves nothing behind


def _is_our_gitignore(path: Path) -> bool:
    try:
        return not path.is_symlink() and path.read_text(encoding="utf-8") == _GITIGNORE_TEXT
    except (OSError, UnicodeDecodeError):
        return False


def _acquire(path: Path, error: type[MigdocError]) -> int:
    for _attempt in range(20):
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            handle = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC | os.O_NOFOLLOW, 0o644)
        except FileNotFoundError:
            continue  # the departing holder removed the folder under us
        except OSError as exc:
            raise error(f"cannot create the lock {display_path(path)}: {exc.strerror or exc}; nothing changed") from exc
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _read_lock_owner(handle)
            os.close(handle)
            raise LockedError(
                f"another migdoc is writing this project ({owner.describe(holder)}; lock "
                f"{display_path(path)}); nothing changed; run it again when that one has finished",
                str(path),
                holder,
            ) from None
        except OSError as exc:
            os.close(handle)
            raise error(
                f"cannot lock {display_path(path)} ({exc.strerror or exc}): this file system offers no locks; "
                "nothing changed"
            ) from exc
        try:
            is_current = os.stat(path, follow_symlinks=False).st_ino == os.fstat(handle).st_ino
        except OSError:
            is_current = False
        if is_current:
            return handle
        os.close(handle)  # we locked a file its holder had just removed: try the one there now
    raise error(f"cannot take the lock {display_path(path)}: it keeps changing hands; nothing changed")


def refuse_if_locked(root: Path) -> None:
    """Raise LockedError when a migdoc holds the project's lock now. Reads only: a shared
    ``flock`` probe on the lock file, if there is one (a plain ``fix`` writes nothing)."""
    path = root / LOCK_FILE
    try:
        handle = os.open(path, os.O_RDONLY | os.O_CLOEXEC | os.O_NOFOLLOW | os.O_NONBLOCK)
    except OSError:
        return
    try:
        if not stat.S_ISREG(os.fstat(handle).st_mode):
            return
        try:
            fcntl.flock(handle, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _read_lock_owner(handle)
            raise LockedError(
                f"another migdoc is writing this project ({owner.describe(holder)}; lock "
                f"{display_path(path)}); run it again when that one has finished",
                str(path),
                holder,
            ) from None
        except OSError:
            return
    finally:
        os.close(handle)


def _read_lock_owner(handle: int) -> object:
    try:
        return json.loads(os.pread(handle, 4096, 0).decode("utf-8"))
    except (OSError, ValueError, RecursionError):
        return None
