"""Carry out a :class:`~migdoc.plan.Plan` on disk: atomically, with a journal, undoably.

Invariants:
- before anything is written every action is checked (content hashes,
  targets free, folders writable); a refusal leaves the disk untouched;
- each file is written as a temporary file in its own folder, then renamed
  over (or linked into place, so nothing is ever overwritten by a move);
- the journal (``.migdoc/journal/<timestamp>.json`` under the project root) is
  written before the first change and records the original bytes of every
  edited file; if any step fails, or the re-read project is not healthier,
  every touched file is restored from it;
- nothing is deleted except files this run created, when it rolls back.

This module and ``prepare_context`` are the only parts of ``fix`` that touch the disk.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import ctypes
import errno
import fcntl
import glob
import hashlib
import io
import json
import os
import re
import secrets
import signal
import stat
import tempfile
import tokenize
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from migdoc import owner
from migdoc.errors import MigdocError, UsageError
from migdoc.model import CheckResult
from migdoc.plan import CreateFile, EditText, MoveFile, Plan, RenameFile
from migdoc.project import display_path
from migdoc.reader import decode_source

JOURNAL_DIR = Path(".migdoc") / "journal"


class ApplyError(MigdocError):
    """The plan cannot be applied safely; nothing on disk was changed."""


class UndoError(MigdocError):
    """The last journal cannot be undone safely."""


# -- reading what the planner needs --------------------------------------------


def prepare_context(project, diagnostics, archive_dir: str | None = None, now: datetime | None = None):
    """Read the texts and folder listings the pure planner needs (the edge of ``fix``)."""
    from migdoc.planner import PlanContext

    layout = project.layout
    sources: dict[str, str] = {}
    for rf in project.files:
        if rf.revision is None or rf.read_error is not None:
            continue
        try:
            sources[rf.path] = decode_source(Path(rf.path).read_bytes())
        except (OSError, ValueError, SyntaxError, UnicodeDecodeError):
            continue
    version_dirs = tuple(display_path(p) for p in layout.version_locations)
    archive_root = display_path(layout.archive_root)
    folders = set(version_dirs)
    if archive_dir:
        folders.add(archive_dir)
    if now is not None:
        folders.add(f"{archive_root}/{now:%Y-%m-%d}")
    existing = {}
    for folder in folders:
        try:
            existing[folder] = frozenset(os.listdir(folder))
        except OSError:
            existing[folder] = frozenset()
    script = None
    if layout.script_location is not None and (layout.script_location / "script.py.mako").is_file():
        try:
            script = (layout.script_location / "script.py.mako").read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError):
            script = None
    return PlanContext(
        graph=project.graph,
        diagnostics=tuple(diagnostics),
        sources=sources,
        version_dirs=version_dirs,
        archive_root=archive_root,
        existing_names=existing,
        file_template=layout.file_template,
        is_template_explicit=layout.has_explicit_file_template,
        script_template=script,
        archived=dict(project.archived),
    )


# -- one writer per project --------------------------------------------------------

LOCK_FILE = Path(".migdoc") / "lock"


class LockedError(MigdocError):
    """Another migdoc is writing this project; nothing was changed."""


@contextlib.contextmanager
def project_lock(root: Path, error: type[MigdocError] = ApplyError) -> Iterator[None]:
    """Hold the project's write lock: an exclusive ``flock`` on ``.migdoc/lock``.

    The kernel drops the lock when its holder ends, however it ends (even
    SIGKILL), so a lock left by a dead run never blocks anyone; the file only
    names the holder (pid, host, start time) for the run that is refused. The
    holder removes the file (and an empty ``.migdoc``) when done; a run that
    locked a file just removed notices (the path no longer names it) and tries again."""
    path = root / LOCK_FILE
    handle = _acquire(path, error)
    try:
        with contextlib.suppress(OSError):
            os.pwrite(handle, json.dumps(owner.this_process()).encode("utf-8"), 0)
        yield
    finally:
        with contextlib.suppress(OSError):
            os.unlink(path)  # while still holding it: nobody can lock this file in between
        os.close(handle)
        with contextlib.suppress(OSError):
            path.parent.rmdir()  # only when empty: a refused run leaves nothing behind


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
                f"{display_path(path)}); nothing changed; run it again when that one has finished"
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
            raise LockedError(
                f"another migdoc is writing this project ({owner.describe(_read_lock_owner(handle))}; lock "
                f"{display_path(path)}); run it again when that one has finished"
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


# -- where a fix may write ---------------------------------------------------------


def project_folders(layout) -> tuple[Path, ...]:
    """The folders a fix may write in (and an undo restore into): the project root,
    the script folder, every version folder and the archive."""
    folders = [layout.root, *layout.version_locations, layout.archive_root]
    if layout.script_location is not None:
        folders.append(layout.script_location)
    return tuple(dict.fromkeys(Path(os.path.realpath(folder)) for folder in folders))


def _is_inside(path: str, folders: tuple[Path, ...]) -> bool:
    """True when ``path`` (absolute) lies under one of ``folders``, symlinks and ``..`` resolved."""
    if not os.path.isabs(path) or "\0" in path:
        return False
    real = os.path.realpath(path)
    return any(real == str(folder) or real.startswith(str(folder).rstrip(os.sep) + os.sep) for folder in folders)


# -- applying ----------------------------------------------------------------------


@dataclass(frozen=True)
class ApplyResult:
    journal: Path
    errors_before: int
    errors_after: int
    warnings_before: int
    warnings_after: int
    is_rolled_back: bool


class ApplyInterrupted(KeyboardInterrupt):
    """SIGINT or SIGTERM while the plan was being written; the roll-back has run."""

    def __init__(self, signum: int, note: str) -> None:
        super().__init__(signum)
        self.signum = signum
        self.note = note


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _hash_file(path: Path) -> str | None:
    """The content hash of a regular file, None when there is none to read."""
    try:
        if not stat.S_ISREG(os.stat(path).st_mode):
            return None
        return _sha256(path.read_bytes())
    except (OSError, ValueError):
        return None


def _encode_like(original: bytes, text: str) -> bytes:
    """Encode ``text`` as ``original`` was: same PEP 263 encoding, same BOM."""
    encoding, _ = tokenize.detect_encoding(io.BytesIO(original).readline)
    if encoding == "utf-8-sig" or original.startswith(b"\xef\xbb\xbf"):
        return b"\xef\xbb\xbf" + text.encode("utf-8")
    return text.encode(encoding)


def _preflight(plan: Plan, folders: tuple[Path, ...]) -> None:
    """Refuse before writing anything: paths outside the project, changed files, taken targets, read-only folders."""
    written: set[str] = set()
    checked: set[Path] = set()
    for action in plan.actions:
        for path in _paths_of(action):
            if not _is_inside(os.path.abspath(path), folders):
                raise ApplyError(f"{path} lies outside the project; migdoc writes only inside it; nothing changed")
        if isinstance(action, (MoveFile, RenameFile)):
            source = Path(action.source)
            try:
                data = source.read_bytes()
            except OSError as exc:
                raise ApplyError(f"{action.source}: cannot be read ({exc.strerror or exc}); nothing changed") from exc
            if _sha256(data) != action.sha256:
                raise ApplyError(f"{action.source} changed on disk since the plan was made; run `migdoc fix` again")
            _refuse_taken(action.target, written)
            checked |= {source.parent, _existing_ancestor(Path(action.target).parent)}
        elif isinstance(action, EditText):
            try:
                data = Path(action.path).read_bytes()
            except OSError as exc:
                raise ApplyError(f"{action.path}: cannot be read ({exc.strerror or exc}); nothing changed") from exc
            if _sha256(data) != action.old_sha256:
                raise ApplyError(f"{action.path} changed on disk since the plan was made; run `migdoc fix` again")
            checked.add(Path(action.path).parent)
        elif isinstance(action, CreateFile):
            _refuse_taken(action.path, written)
            checked.add(_existing_ancestor(Path(action.path).parent))
    for folder in sorted(checked):
        _probe_writable(folder)


def _paths_of(action) -> tuple[str, ...]:
    if isinstance(action, (MoveFile, RenameFile)):
        return (action.source, action.target)
    return (action.path,)


def _refuse_taken(target: str, written: set[str]) -> None:
    if os.path.lexists(target) or target in written:
        raise ApplyError(f"{target} already exists; migdoc never overwrites a file; nothing changed")
    written.add(target)


def _existing_ancestor(folder: Path) -> Path:
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    return folder


def _probe_writable(folder: Path) -> None:
    """Create and remove a temporary file: the only honest test (root ignores mode bits)."""
    try:
        handle, name = tempfile.mkstemp(prefix=".migdoc-probe-", dir=folder)
        os.close(handle)
        os.unlink(name)
    except OSError as exc:
        raise ApplyError(f"{display_path(folder)} is not writable ({exc.strerror or exc}); nothing changed") from exc


_TEMP_SUFFIX = ".migdoc-tmp"


def _write_atomic(path: Path, data: bytes, *, exclusive: bool) -> None:
    """Temporary file in the same folder, fsync, then rename (or link when the target must not exist)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=_TEMP_SUFFIX, dir=path.parent)
    try:
        with os.fdopen(handle, "wb") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        if path.exists():
            os.chmod(name, path.stat().st_mode & 0o7777)
        else:
            os.chmod(name, 0o644)
        if exclusive:
            _move_no_clobber(Path(name), path)
        else:
            os.replace(name, path)
    finally:
        if os.path.exists(name):
            os.unlink(name)


# errno values with which link(2) says "no hard links here", not "the target exists"
_NO_HARD_LINKS = frozenset({errno.EPERM, errno.EOPNOTSUPP, errno.ENOTSUP, errno.ENOSYS, errno.EMLINK})
_RENAME_NOREPLACE = 1


def _move_no_clobber(source: Path, target: Path) -> None:
    """Move ``source`` to ``target``; never replace a ``target`` that exists, even one
    that appears between any check and the move (link(2) and renameat2's
    RENAME_NOREPLACE refuse atomically)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    if os.path.lexists(target):
        raise FileExistsError(errno.EEXIST, "already exists", str(target))
    try:
        os.link(source, target, follow_symlinks=False)
    except OSError as exc:
        if exc.errno not in _NO_HARD_LINKS:
            raise  # EEXIST above all: someone else's file is there now
        _rename_no_replace(source, target)
        return
    os.unlink(source)


def _rename_no_replace(source: Path, target: Path) -> None:
    """For file systems without hard links: an atomic rename that fails on an existing target."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        renameat2 = libc.renameat2
    except (OSError, AttributeError):
        renameat2 = None
    if renameat2 is not None:
        at_fdcwd = -100
        if renameat2(at_fdcwd, os.fsencode(source), at_fdcwd, os.fsencode(target), _RENAME_NOREPLACE) == 0:
            return
        code = ctypes.get_errno()
        if code not in (errno.ENOSYS, errno.EINVAL):
            raise OSError(code, os.strerror(code), str(target))
    # Neither hard links nor renameat2 (not Linux): the check is as close to the move as it gets.
    if os.path.lexists(target):
        raise FileExistsError(errno.EEXIST, "already exists", str(target))
    os.rename(source, target)


# -- journals ----------------------------------------------------------------------

_STATUSES = ("applying", "applied", "rolled back", "rollback incomplete", "undoing", "undone", "partly undone")
_CLOSED = ("undone", "rolled back")
"""A journal in any other status still has work on disk: undone only by ``fix --undo``, newest first."""
_MAX_JOURNAL_BYTES = 256 * 1024 * 1024
_HEX64 = re.compile(r"[0-9a-f]{64}")
_REQUIRED = {
    "edit": ("path", "original", "original_sha256"),
    "move": ("source", "target", "sha256"),
    "rename": ("source", "target", "sha256"),
    "create": ("path",),
}


@dataclass(frozen=True)
class JournalEntry:
    path: Path
    data: dict


def _save_journal(path: Path, journal: dict) -> None:
    data = (json.dumps(journal, indent=2) + "\n").encode("utf-8")
    _write_atomic(path, data, exclusive=False)


def _journal_problem(data: object, folders: tuple[Path, ...]) -> str | None:
    """Why ``data`` is not a journal migdoc can act on, or None. Every field an undo reads is checked."""
    if not isinstance(data, dict):
        return "not a JSON object"
    if data.get("status") not in _STATUSES:
        return f"unknown status {data.get('status')!r}"
    if not isinstance(data.get("created"), str):
        return "no 'created' time"
    sequence = data.get("sequence", 0)
    if not isinstance(sequence, int) or isinstance(sequence, bool):
        return "'sequence' is not a number"
    steps = data.get("steps")
    if not isinstance(steps, list):
        return "no list of 'steps'"
    folders_made = data.get("created_dirs", [])
    if not isinstance(folders_made, list) or not all(isinstance(f, str) for f in folders_made):
        return "'created_dirs' is not a list of paths"
    for folder in folders_made:
        if not _is_inside(folder, folders):
            return f"folder {folder!r} lies outside the project"
    for number, step in enumerate(steps, 1):
        problem = _step_problem(step, folders)
        if problem is not None:
            return f"step {number}: {problem}"
    return None


def _step_problem(step: object, folders: tuple[Path, ...]) -> str | None:
    if not isinstance(step, dict):
        return "not a JSON object"
    kind = step.get("kind")
    if kind not in _REQUIRED:
        return f"unknown kind {kind!r}"
    if not isinstance(step.get("done", False), bool):
        return "'done' is not true or false"
    for key in _REQUIRED[kind]:
        if not isinstance(step.get(key), str):
            return f"'{key}' is missing or not text"
    for key in ("original_sha256", "new_sha256", "sha256"):
        if key in step and not (isinstance(step[key], str) and _HEX64.fullmatch(step[key])):
            return f"'{key}' is not a sha256"
    if kind == "edit":
        try:
            original = base64.b64decode(step["original"], validate=True)
        except (binascii.Error, ValueError):
            return "'original' is not base64"
        if _sha256(original) != step["original_sha256"]:
            return "'original' does not match 'original_sha256'"
    for key in ("path", "source", "target"):
        if key in step and not _is_inside(step[key], folders):
            return f"{step[key]!r} lies outside the project; migdoc never writes there"
    return None


def read_journals(root: Path, folders: tuple[Path, ...], error: type[MigdocError] = UndoError) -> list[JournalEntry]:
    """Every journal of the project, oldest first, each validated in full.

    Anything in the journal folder that is not a valid journal is refused with
    ``error`` (one line naming it) before anything acts on any journal."""
    folder = root / JOURNAL_DIR
    if not folder.is_dir():
        return []
    entries = []
    for path in sorted(folder.glob("*.json")):
        shown = display_path(path)
        try:
            info = os.lstat(path)
            if not stat.S_ISREG(info.st_mode):
                raise error(f"{shown} is not a regular file; move it out of {display_path(folder)}")
            if info.st_size > _MAX_JOURNAL_BYTES:
                raise error(f"{shown} is too large to be a migdoc journal; move it out of {display_path(folder)}")
            data = json.loads(path.read_bytes().decode("utf-8"))
        except (OSError, ValueError, RecursionError) as exc:
            raise error(
                f"{shown} cannot be read as a journal ({_one_line(exc)}); nothing changed; "
                f"move it out of {display_path(folder)} if it is not migdoc's"
            ) from exc
        problem = _journal_problem(data, folders)
        if problem is not None:
            raise error(
                f"{shown} is not a usable migdoc journal: {problem}; nothing changed; "
                f"move it out of {display_path(folder)} if it is not migdoc's"
            )
        entries.append(JournalEntry(path, data))
    entries.sort(key=lambda e: (e.data.get("sequence", 0), e.data["created"], e.path.name))
    return entries


def _one_line(exc: BaseException) -> str:
    return " ".join(str(getattr(exc, "strerror", None) or exc).split())[:200]


def unfinished_journal(root: Path, folders: tuple[Path, ...]) -> str | None:
    """What blocks a new fix: the newest journal that is neither applied nor closed, said in one line.

    Raises LockedError instead when a migdoc is writing the project now: its
    journal says "applying" because it is applying, not because it was interrupted."""
    refuse_if_locked(root)
    return _unfinished(root, folders)


def _unfinished(root: Path, folders: tuple[Path, ...]) -> str | None:
    entries = [e for e in read_journals(root, folders, UsageError) if e.data["status"] not in (*_CLOSED, "applied")]
    if not entries:
        return None
    entry = entries[-1]
    steps = entry.data["steps"]
    done = sum(1 for step in steps if _step_state(step)[0] in ("done", "linked"))
    return (
        f"an earlier fix was interrupted and is not finished ({display_path(entry.path)}: "
        f'"{entry.data["status"]}", {done} of {len(steps)} steps on disk); '
        "run `migdoc fix --undo` to revert it before anything else"
    )


# -- carrying out a plan -----------------------------------------------------------


def apply_plan(
    plan: Plan,
    root: Path,
    recheck: Callable[[], CheckResult],
    before: CheckResult,
    now: datetime,
    folders: tuple[Path, ...] | None = None,
) -> ApplyResult:
    """Write ``plan``; keep it only if the re-read project is healthier.

    Healthier: fewer error-level findings, or as many errors and fewer
    warnings (a rename answers warnings only). Otherwise every touched file
    is restored and ``is_rolled_back`` is set.

    Only one writer at a time (the project lock); nothing starts while an
    earlier fix is unfinished; the journal records, before the first change,
    every step with the hashes that tell from the disk alone whether it was
    carried out, so an apply killed at any instant can be undone.
    """
    folders = folders or (Path(os.path.realpath(root)),)
    with project_lock(root):
        journals = read_journals(root, folders, ApplyError)
        blocking = _unfinished(root, folders)
        if blocking is not None:
            raise ApplyError(blocking)
        _preflight(plan, folders)
        journal = _journal_for(plan, now, 1 + max((e.data.get("sequence", 0) for e in journals), default=0))
        journal_path = root / JOURNAL_DIR / f"{now:%Y%m%dT%H%M%S}-{os.getpid()}-{secrets.token_hex(3)}.json"
        created_dirs: list[str] = []
        try:
            try:
                _write_atomic(journal_path, (json.dumps(journal, indent=2) + "\n").encode("utf-8"), exclusive=True)
            except OSError as exc:
                raise ApplyError(
                    f"cannot write the journal {display_path(journal_path)}: {exc.strerror or exc}; nothing changed"
                ) from exc
            for action, step in zip(plan.actions, journal["steps"], strict=True):
                _carry_out(action, step, created_dirs)
                step["done"] = True
            journal["status"] = "applied"
            _save_journal(journal_path, journal)
        except KeyboardInterrupt as exc:
            note = _roll_back(journal_path, journal)[1] if journal_path.exists() else "nothing was changed"
            raise ApplyInterrupted(getattr(exc, "signum", signal.SIGINT), note) from exc
        except OSError as exc:
            note = _roll_back(journal_path, journal)[1]
            raise ApplyError(f"could not write ({exc.strerror or exc}): {exc.filename or ''}; {note}") from exc

        try:
            after = recheck()
            is_better = is_healthier(before, after)
        except KeyboardInterrupt as exc:  # not yet shown to be healthier: not applied
            note = _roll_back(journal_path, journal)[1]
            raise ApplyInterrupted(getattr(exc, "signum", signal.SIGINT), note) from exc
        result = ApplyResult(
            journal=journal_path,
            errors_before=before.summary.errors,
            errors_after=after.summary.errors,
            warnings_before=before.summary.warnings,
            warnings_after=after.summary.warnings,
            is_rolled_back=False,
        )
        if not is_better:
            problems, note = _roll_back(journal_path, journal)
            if problems:
                raise ApplyError(f"not applied: the result was not healthier; {note}")
            return ApplyResult(**{**result.__dict__, "is_rolled_back": True})
        return result


def _journal_for(plan: Plan, now: datetime, sequence: int) -> dict:
    """Every step with the hash its file has before and after it, so that the state of
    each can be told from the disk alone; the folders the plan will create."""
    journal: dict = {
        "created": now.isoformat(),
        "sequence": sequence,
        "cwd": str(Path.cwd()),
        "owner": owner.this_process(),
        "strategies": list(plan.strategies),
        "status": "applying",
        "steps": [],
        "created_dirs": [],
    }
    expected: dict[str, str] = {}  # path -> hash once the earlier steps are done
    planned_dirs: list[str] = []
    for action in plan.actions:
        if isinstance(action, EditText):
            original = Path(action.path).read_bytes()
            try:
                new = _encode_like(original, action.new_text)
            except (UnicodeError, SyntaxError, LookupError) as exc:
                raise ApplyError(
                    f"{action.path}: the edit cannot be encoded like the file ({exc}); nothing changed"
                ) from exc
            key = os.path.abspath(action.path)
            expected[key] = _sha256(new)
            journal["steps"].append(
                {
                    "kind": "edit",
                    "path": str(Path(action.path).resolve()),
                    "original": base64.b64encode(original).decode("ascii"),
                    "original_sha256": _sha256(original),
                    "new_sha256": _sha256(new),
                    "done": False,
                }
            )
        elif isinstance(action, (MoveFile, RenameFile)):
            source = os.path.abspath(action.source)
            _plan_dirs(Path(os.path.abspath(action.target)).parent, planned_dirs)
            journal["steps"].append(
                {
                    "kind": action.kind,
                    "source": str(Path(action.source).resolve()),
                    "target": str(Path(os.path.abspath(action.target))),
                    # an edited file is renamed after its edit: it must then have the edit's hash
                    "sha256": expected.pop(source, action.sha256),
                    "done": False,
                }
            )
        else:
            _plan_dirs(Path(os.path.abspath(action.path)).parent, planned_dirs)
            journal["steps"].append(
                {
                    "kind": "create",
                    "path": str(Path(os.path.abspath(action.path))),
                    "sha256": _sha256(action.content.encode("utf-8")),
                    "done": False,
                }
            )
    journal["created_dirs"] = planned_dirs
    return journal


def _plan_dirs(folder: Path, planned: list[str]) -> None:
    missing = []
    while not folder.exists() and str(folder) not in planned and folder != folder.parent:
        missing.append(str(folder))
        folder = folder.parent
    planned.extend(reversed(missing))


def _roll_back(journal_path: Path, journal: dict) -> tuple[list[str], str]:
    """Restore every touched file and say so in one clause; the journal keeps what could not be."""
    problems = _restore(journal)
    journal["status"] = "rolled back" if not problems else "rollback incomplete"
    shown = display_path(journal_path)
    try:
        _save_journal(journal_path, journal)
        saved = None
    except OSError as exc:
        saved = exc.strerror or str(exc)
    if not problems and saved is None:
        return problems, "every file was restored"
    if not problems:
        return problems, (
            f"every file was restored, but the journal {shown} could not be updated ({saved}) and still says "
            '"applying": `migdoc fix --undo` closes it'
        )
    kept = "keeps" if saved is None else f"(not updated: {saved}) still records"
    return problems, (
        f"NOT restored: {'; '.join(problems)}; the journal {shown} {kept} every step: "
        "`migdoc fix --undo` finishes the restore"
    )


def is_healthier(before: CheckResult, after: CheckResult) -> bool:
    b, a = before.summary, after.summary
    return a.errors < b.errors or (a.errors == b.errors and a.warnings < b.warnings)


class _ChangedOnDisk(OSError):
    """A file's hash, checked just before its own step, is not what the plan expects."""


def _carry_out(action, step: dict, created_dirs: list[str]) -> None:
    """One step; the file it touches is re-hashed immediately before it is touched."""
    if isinstance(action, EditText):
        path = Path(action.path)
        original = path.read_bytes()
        if _sha256(original) != action.old_sha256:
            raise _ChangedOnDisk(0, "changed on disk during apply", str(path))
        data = _encode_like(original, action.new_text)
        _write_atomic(path, data, exclusive=False)
        step["new_sha256"] = _sha256(data)
    elif isinstance(action, (MoveFile, RenameFile)):
        source, target = Path(action.source), Path(action.target)
        if _hash_file(source) != step["sha256"]:
            raise _ChangedOnDisk(0, "changed on disk during apply", str(source))
        _make_dirs(target.parent, created_dirs)
        _move_no_clobber(source, target)
    elif isinstance(action, CreateFile):
        path = Path(action.path)
        _make_dirs(path.parent, created_dirs)
        data = action.content.encode("utf-8")
        _write_atomic(path, data, exclusive=True)
        step["sha256"] = _sha256(data)


def _make_dirs(folder: Path, created: list[str]) -> None:
    missing = []
    current = folder
    while not current.exists():
        missing.append(current)
        current = current.parent
    for path in reversed(missing):
        path.mkdir()
        created.append(str(path.absolute()))


def _step_state(step: dict) -> tuple[str, str | None]:
    """Whether a step is on disk, told from the files alone (a journal's ``done`` flags may
    be stale after a kill): ``done``, ``pending``, ``linked`` (a move killed between its
    link and its unlink: the file is at both places) or ``conflict`` with the reason."""
    kind = step["kind"]
    if kind == "edit":
        path = Path(step["path"])
        current = _hash_file(path)
        if current is not None and current == step["original_sha256"]:
            return "pending", None
        if current is not None and current == step.get("new_sha256"):
            return "done", None
        return "conflict", f"{path} changed since it was fixed; left as it is"
    if kind in ("move", "rename"):
        source, target = Path(step["source"]), Path(step["target"])
        at_source, at_target = _hash_file(source), _hash_file(target)
        if at_target == step["sha256"] and not os.path.lexists(source):
            return "done", None
        if at_source == step["sha256"] and not os.path.lexists(target):
            return "pending", None
        if at_source == at_target == step["sha256"] and os.path.samefile(source, target):
            return "linked", None
        return "conflict", f"{target} is gone or changed; not moved back"
    path = Path(step["path"])
    if not os.path.lexists(path):
        return "pending", None
    if "sha256" in step and _hash_file(path) == step["sha256"]:
        return "done", None
    return "conflict", f"{path} changed since it was created; left as it is"


def _restore(journal: dict) -> list[str]:
    """Undo every step that is on disk, newest first; returns what could not be restored.

    Each step's state is read from the disk just before it is reverted, so a
    journal interrupted at any point (its ``done`` flags never written) is
    reverted exactly as far as it went."""
    problems = []
    for step in reversed(journal["steps"]):
        state, problem = _step_state(step)
        if state == "pending":
            step["done"] = False
            continue
        if state == "conflict":
            problems.append(problem)
            continue
        try:
            if step["kind"] == "edit":
                _write_atomic(Path(step["path"]), base64.b64decode(step["original"]), exclusive=False)
            elif state == "linked":
                os.unlink(step["target"])  # the source is still in place: drop the half-made link
            elif step["kind"] in ("move", "rename"):
                _move_no_clobber(Path(step["target"]), Path(step["source"]))
            else:
                os.unlink(step["path"])  # a file this run created, unchanged
            step["done"] = False
        except OSError as exc:
            problems.append(f"{exc.filename or ''}: {exc.strerror or exc}")
    _sweep_temporaries(journal)
    for folder in reversed(journal.get("created_dirs", [])):
        try:
            os.rmdir(folder)  # only folders this run created, and only when empty
        except OSError:
            pass
    return problems


def _sweep_temporaries(journal: dict) -> None:
    """Temporary files a killed write left beside the journal's files (``.<name>.*.migdoc-tmp``):
    under the project lock no other migdoc writes, so any there is a dead run's."""
    for step in journal["steps"]:
        for key in ("path", "target"):
            if key not in step:
                continue
            path = Path(step[key])
            with contextlib.suppress(OSError):
                for leftover in path.parent.glob(f".{glob.escape(path.name)}.*{_TEMP_SUFFIX}"):
                    leftover.unlink()


# -- undoing -----------------------------------------------------------------------


def undo_last(root: Path, folders: tuple[Path, ...] | None = None) -> tuple[Path, list[str]]:
    """Revert the newest journal that is not closed: an interrupted one, or else the last applied.

    Journals are undone in the reverse order they were made, never an older
    fix while a newer one is on disk; every journal is validated first, and
    nothing is written outside ``folders``."""
    folders = folders or (Path(os.path.realpath(root)),)
    with project_lock(root, UndoError):
        entries = [e for e in read_journals(root, folders, UndoError) if e.data["status"] not in _CLOSED]
        if not entries:
            raise UndoError(f"nothing to undo: no applied fix in {display_path(root / JOURNAL_DIR)}")
        path, journal = entries[-1].path, entries[-1].data
        journal["status"] = "undoing"  # if this undo is interrupted too, the next one finds it first
        try:
            _save_journal(path, journal)
        except OSError as exc:
            raise UndoError(
                f"cannot update the journal {display_path(path)}: {exc.strerror or exc}; nothing changed"
            ) from exc
        problems = _restore(journal)
        journal["status"] = "undone" if not problems else "partly undone"
        try:
            _save_journal(path, journal)
        except OSError as exc:
            problems.append(
                f"the journal {display_path(path)} could not be updated ({exc.strerror or exc}); "
                "run `migdoc fix --undo` again once there is room"
            )
        return path, problems
