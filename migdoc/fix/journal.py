"""Journals of ``fix --apply``, read back: where a fix may write, every journal validated in
full, and the state of each step told from the disk alone. Reads disk, writes nothing."""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import os
import re
import stat
from dataclasses import dataclass
from pathlib import Path

from migdoc.errors import MigdocError, UsageError, one_line
from migdoc.fix.lock import refuse_if_locked
from migdoc.util.filesystem import display_path

JOURNAL_DIR = Path(".migdoc") / "journal"


def project_folders(layout) -> tuple[Path, ...]:
    """The folders a fix may write in (and an undo restore into): the project root,
    the script folder and every version folder, each as it resolves. Not the archive as it
    resolves: it lies under the script folder, and a symlink there pointing elsewhere
    must not carry archived files out of the project."""
    folders = [layout.root, *layout.version_locations]
    if layout.script_location is not None:
        folders.append(layout.script_location)
    return tuple(dict.fromkeys(Path(os.path.realpath(folder)) for folder in folders))


def is_inside(path: str, folders: tuple[Path, ...]) -> bool:
    """True when ``path`` (absolute) lies under one of ``folders``, symlinks and ``..`` resolved."""
    if not os.path.isabs(path) or "\0" in path:
        return False
    real = os.path.realpath(path)
    return any(real == str(folder) or real.startswith(str(folder).rstrip(os.sep) + os.sep) for folder in folders)


# -- reading journals ------------------------------------------------------------

_STATUSES = ("applying", "applied", "rolled back", "rollback incomplete", "undoing", "undone", "partly undone")
CLOSED = ("undone", "rolled back")
"""A journal in any other status still has work on disk: undone only by ``fix --undo``, newest first."""
_UNDOING = ("undoing", "partly undone")
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
        if not is_inside(folder, folders):
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
    if not isinstance(kind, str) or kind not in _REQUIRED:
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
        if key in step and not is_inside(step[key], folders):
            return f"{step[key]!r} lies outside the project; migdoc never writes there"
    return None


def read_journals(root: Path, folders: tuple[Path, ...], error: type[MigdocError] = MigdocError) -> list[JournalEntry]:
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
    return one_line(getattr(exc, "strerror", None) or exc)[:200]


def unfinished_journal(root: Path, folders: tuple[Path, ...]) -> str | None:
    """What blocks a new fix: the newest journal that is neither applied nor closed, said in one line.

    Raises LockedError instead when a migdoc is writing the project now: its
    journal says "applying" because it is applying, not because it was interrupted."""
    refuse_if_locked(root)
    return find_unfinished(root, folders)


def find_unfinished(root: Path, folders: tuple[Path, ...]) -> str | None:
    entries = [e for e in read_journals(root, folders, UsageError) if e.data["status"] not in (*CLOSED, "applied")]
    if not entries:
        return None
    entry = entries[-1]
    steps = entry.data["steps"]
    done = sum(1 for step in steps if step_state(step)[0] in ("done", "linked"))
    if entry.data["status"] in _UNDOING:
        what = "the undo of an earlier fix did not finish"
    else:
        what = "an earlier fix was interrupted and is not finished"
    return (
        f"{what} ({display_path(entry.path)}: "
        f'"{entry.data["status"]}", {done} of {len(steps)} steps on disk); '
        "run `migdoc fix --undo` to revert it before anything else"
    )


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def hash_file(path: Path) -> str | None:
    """The content hash of a regular file, None when there is none to read."""
    try:
        if not stat.S_ISREG(os.stat(path).st_mode):
            return None
        return _sha256(path.read_bytes())
    except (OSError, ValueError):
        return None


def step_state(step: dict) -> tuple[str, str | None]:
    """Whether a step is on disk, told from the files alone (a journal's ``done`` flags may
    be stale after a kill): ``done``, ``pending``, ``linked`` (a move killed between its
    link and its unlink: the file is at both places) or ``conflict`` with the reason."""
    kind = step["kind"]
    if kind == "edit":
        path = Path(step["path"])
        current = hash_file(path)
        if current is not None and current == step["original_sha256"]:
            return "pending", None
        if current is not None and current == step.get("new_sha256"):
            return "done", None
        return "conflict", f"{path} changed since it was fixed; left as it is"
    if kind in ("move", "rename"):
        source, target = Path(step["source"]), Path(step["target"])
        at_source, at_target = hash_file(source), hash_file(target)
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
    if "sha256" in step and hash_file(path) == step["sha256"]:
        return "done", None
    return "conflict", f"{path} changed since it was created; left as it is"
