"""Carry out a :class:`~migdoc.model.Plan` on disk: atomically, with a journal, undoably.

Invariants:
- one writer per project (``migdoc.fix.lock``); nothing starts while an earlier
  fix is unfinished (``migdoc.fix.journal``);
- before anything is written every action is checked (inside the project,
  content hashes, targets free, folders writable); a refusal leaves the disk untouched;
- each file is re-hashed immediately before its own step; each file is written
  as a temporary file in its own folder, then renamed over, or linked into
  place, so nothing is ever overwritten by a move or a new file;
- the journal (``.migdoc/journal/<timestamp>-<pid>-<random>.json`` under the
  project root) is written before the first change and records the original
  bytes of every edited file and the hash every file has before and after its
  step, so that how far an apply got is read from the disk alone; if any step
  fails, a signal arrives, or the re-read project is not healthier, every
  touched file is restored from it, and what could not be is named;
- nothing is deleted except files this run created, when it rolls back.

This module is the only part of ``fix`` that writes to the disk.

Over ~400 lines for a reason: the checks before writing, the writes, the roll-back and
the undo share one journal format and one set of invariants, and are read together when
any of them changes; the lock and the journal's reading are in ``lock`` and ``journal``.
"""

from __future__ import annotations

import base64
import contextlib
import ctypes
import errno
import glob
import hashlib
import io
import json
import os
import secrets
import signal
import tempfile
import tokenize
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from migdoc.errors import ApplyError, ApplyInterrupted, UndoError
from migdoc.fix.journal import (
    CLOSED,
    JOURNAL_DIR,
    find_unfinished,
    hash_file,
    is_inside,
    read_journals,
    step_state,
)
from migdoc.fix.journal import project_folders as project_folders  # re-exported: the API of fix
from migdoc.fix.journal import unfinished_journal as unfinished_journal
from migdoc.fix.lock import LOCK_FILE as LOCK_FILE  # re-exported
from migdoc.fix.lock import project_lock
from migdoc.model import CheckResult, CreateFile, EditText, MoveFile, Plan, RenameFile
from migdoc.util import owner
from migdoc.util.filesystem import display_path

# -- applying ----------------------------------------------------------------------


@dataclass(frozen=True)
class ApplyResult:
    journal: Path
    errors_before: int
    errors_after: int
    warnings_before: int
    warnings_after: int
    is_rolled_back: bool


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _encode_like(original: bytes, text: str) -> bytes:
    """Encode ``text`` as ``original`` was: same PEP 263 encoding, same BOM."""
    encoding, _ = tokenize.detect_encoding(io.BytesIO(original).readline)
    if encoding == "utf-8-sig" or original.startswith(b"\xef\xbb\xbf"):
        return b"\xef\xbb\xbf" + text.encode("utf-8")
    return text.encode(encoding)


def _refuse_changed(path: str, planned_sha256: str) -> None:
    """The file the plan read must still hold what it read, or nothing is written."""
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise ApplyError(f"{path}: cannot be read ({exc.strerror or exc}); nothing changed", path) from exc
    if _sha256(data) != planned_sha256:
        raise ApplyError(f"{path} changed on disk since the plan was made; run `migdoc fix` again", path)


def _preflight(plan: Plan, folders: tuple[Path, ...]) -> None:
    """Refuse before writing anything: paths outside the project, changed files, taken targets, read-only folders."""
    written: set[str] = set()
    checked: set[Path] = set()
    for action in plan.actions:
        for path in _paths_of(action):
            if not is_inside(os.path.abspath(path), folders):
                real = os.path.realpath(path)
                where = "" if real == os.path.abspath(path) else f" (it resolves to {real})"
                raise ApplyError(
                    f"{display_path(path)} lies outside the project{where}; migdoc writes only inside it; "
                    "nothing changed",
                    path,
                )
        if isinstance(action, (MoveFile, RenameFile)):
            _refuse_changed(action.source, action.sha256)
            _refuse_taken(action.target, written)
            checked |= {Path(action.source).parent, _existing_ancestor(Path(action.target).parent)}
        elif isinstance(action, EditText):
            _refuse_changed(action.path, action.old_sha256)
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
        raise ApplyError(f"{target} already exists; migdoc never overwrites a file; nothing changed", target)
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
        try:
            with os.fdopen(handle, "wb") as out:
                out.write(data)
                out.flush()
                os.fsync(out.fileno())
        except OSError as exc:
            if exc.filename is not None:
                raise
            # write(2) and fsync(2) errors (a full disk, a quota) name no file: name the one
            # being written, not its temporary twin
            raise OSError(exc.errno, exc.strerror or str(exc), str(path)) from exc
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


def _save_journal(path: Path, journal: dict) -> None:
    data = (json.dumps(journal, indent=2) + "\n").encode("utf-8")
    _write_atomic(path, data, exclusive=False)


# -- carrying out a plan -----------------------------------------------------------


def apply_plan(
    plan: Plan,
    root: Path,
    recheck: Callable[[], CheckResult],
    before: CheckResult,
    now: datetime,
    folders: tuple[Path, ...] | None = None,
    accept: Callable[[CheckResult, CheckResult], bool] | None = None,
) -> ApplyResult:
    """Write ``plan``; keep it only if the re-read project is healthier (or, with ``accept``,
    whatever it accepts: a squash repairs nothing, so it keeps what adds no error).

    Healthier: fewer error-level findings, or as many errors and fewer
    warnings (a rename answers warnings only). Otherwise every touched file
    is restored and ``is_rolled_back`` is set.

    Only one writer at a time (the project lock); nothing starts while an
    earlier fix is unfinished; the journal records, before the first change,
    every step with the hashes that tell from the disk alone whether it was
    carried out, so an apply killed at any instant can be undone.
    """
    folders = folders or (Path(os.path.realpath(root)),)
    with project_lock(root, ApplyError):
        _sweep_journal_temporaries(root)
        journals = read_journals(root, folders, ApplyError)
        blocking = find_unfinished(root, folders)
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
            shown = display_path(exc.filename) if exc.filename else "a file"
            raise ApplyError(f"could not write {shown} ({exc.strerror or exc}); {note}", exc.filename) from exc

        try:
            after = recheck()
            is_better = (accept or is_healthier)(before, after)
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
        if hash_file(source) != step["sha256"]:
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


def _restore(journal: dict) -> list[str]:
    """Undo every step that is on disk, newest first; returns what could not be restored."""
    kept, failed = _restore_steps(journal)
    return kept + failed


def _restore_steps(journal: dict) -> tuple[list[str], list[str]]:
    """Undo every step that is on disk, newest first. Returns what was kept as someone left
    it (a file changed since the fix: never reverted over) and what failed (a write that
    did not happen: trying again may succeed).

    Each step's state is read from the disk just before it is reverted, so a
    journal interrupted at any point (its ``done`` flags never written) is
    reverted exactly as far as it went."""
    kept: list[str] = []
    problems: list[str] = []
    for step in reversed(journal["steps"]):
        state, problem = step_state(step)
        if state == "pending":
            step["done"] = False
            continue
        if state == "conflict":
            kept.append(problem)
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
    return kept, problems


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


def _sweep_journal_temporaries(root: Path) -> None:
    """A journal's own temporary files, left when a run was killed while saving it (held lock: dead)."""
    with contextlib.suppress(OSError):
        for leftover in (root / JOURNAL_DIR).glob(f".*.json.*{_TEMP_SUFFIX}"):
            leftover.unlink()


# -- undoing -----------------------------------------------------------------------


@dataclass(frozen=True)
class UndoResult:
    """What an undo did: the journal it closed (or left open), the files it kept as someone
    changed them after the fix (closed all the same), and the restores that failed (open)."""

    journal: Path
    kept: tuple[str, ...]
    failed: tuple[str, ...]

    @property
    def is_closed(self) -> bool:
        return not self.failed


def undo_last(root: Path, folders: tuple[Path, ...] | None = None) -> UndoResult:
    """Revert the newest journal that is not closed: an interrupted one, or else the last applied.

    Journals are undone in the reverse order they were made, never an older
    fix while a newer one is on disk; every journal is validated first, and
    nothing is written outside ``folders``."""
    folders = folders or (Path(os.path.realpath(root)),)
    with project_lock(root, UndoError):
        _sweep_journal_temporaries(root)
        entries = [e for e in read_journals(root, folders, UndoError) if e.data["status"] not in CLOSED]
        if not entries:
            raise UndoError(f"nothing to undo: no applied fix in {display_path(root / JOURNAL_DIR)}")
        path, journal = entries[-1].path, entries[-1].data
        journal["status"] = "undoing"  # if this undo is interrupted too, the next one finds it first
        try:
            _save_journal(path, journal)
        except OSError as exc:
            raise UndoError(
                f"cannot update the journal {display_path(path)}: {exc.strerror or exc}; nothing changed", str(path)
            ) from exc
        kept, failed = _restore_steps(journal)
        # A file changed since the fix is kept as its author left it, and the journal is
        # closed all the same: leaving it open would block every later fix on a step no
        # undo will ever revert. A write that failed leaves it open: trying again may succeed.
        journal["status"] = "partly undone" if failed else "undone"
        if kept:
            journal["kept"] = kept
        try:
            _save_journal(path, journal)
        except OSError as exc:
            failed.append(
                f"the journal {display_path(path)} could not be updated ({exc.strerror or exc}); "
                "run `migdoc fix --undo` again once there is room"
            )
        return UndoResult(path, tuple(kept), tuple(failed))
