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
import hashlib
import io
import json
import os
import tempfile
import tokenize
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from migdoc.errors import MigdocError
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


def _preflight(plan: Plan) -> None:
    """Refuse before writing anything: changed files, taken targets, read-only folders."""
    written: set[str] = set()
    folders: set[Path] = set()
    for action in plan.actions:
        if isinstance(action, (MoveFile, RenameFile)):
            source = Path(action.source)
            try:
                data = source.read_bytes()
            except OSError as exc:
                raise ApplyError(f"{action.source}: cannot be read ({exc.strerror or exc}); nothing changed") from exc
            if _sha256(data) != action.sha256:
                raise ApplyError(f"{action.source} changed on disk since the plan was made; run `migdoc fix` again")
            _refuse_taken(action.target, written)
            folders |= {source.parent, _existing_ancestor(Path(action.target).parent)}
        elif isinstance(action, EditText):
            try:
                data = Path(action.path).read_bytes()
            except OSError as exc:
                raise ApplyError(f"{action.path}: cannot be read ({exc.strerror or exc}); nothing changed") from exc
            if _sha256(data) != action.old_sha256:
                raise ApplyError(f"{action.path} changed on disk since the plan was made; run `migdoc fix` again")
            folders.add(Path(action.path).parent)
        elif isinstance(action, CreateFile):
            _refuse_taken(action.path, written)
            folders.add(_existing_ancestor(Path(action.path).parent))
    for folder in sorted(folders):
        _probe_writable(folder)


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


def _write_atomic(path: Path, data: bytes, *, exclusive: bool) -> None:
    """Temporary file in the same folder, fsync, then rename (or link when the target must not exist)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".migdoc-tmp", dir=path.parent)
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


def _move_no_clobber(source: Path, target: Path) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    if os.path.lexists(target):
        raise FileExistsError(f"{target} already exists")
    try:
        os.link(source, target)
    except OSError:
        # Filesystems without hard links: the existence check above is the guard.
        os.rename(source, target)
        return
    os.unlink(source)


def _journal_path(root: Path, now: datetime) -> Path:
    folder = root / JOURNAL_DIR
    stamp = now.strftime("%Y%m%dT%H%M%S")
    path = folder / f"{stamp}.json"
    counter = 2
    while path.exists():
        path = folder / f"{stamp}-{counter}.json"
        counter += 1
    return path


def _save_journal(path: Path, journal: dict) -> None:
    data = (json.dumps(journal, indent=2) + "\n").encode("utf-8")
    _write_atomic(path, data, exclusive=False)


def apply_plan(
    plan: Plan,
    root: Path,
    recheck: Callable[[], CheckResult],
    before: CheckResult,
    now: datetime,
) -> ApplyResult:
    """Write ``plan``; keep it only if the re-read project is healthier.

    Healthier: fewer error-level findings, or as many errors and fewer
    warnings (a rename answers warnings only). Otherwise every touched file
    is restored and ``is_rolled_back`` is set.
    """
    _preflight(plan)
    journal_path = _journal_path(root, now)
    journal: dict = {
        "created": now.isoformat(),
        "cwd": str(Path.cwd()),
        "strategies": list(plan.strategies),
        "status": "applying",
        "steps": [],
    }
    # The original bytes of every edited file, before anything changes.
    for action in plan.actions:
        if isinstance(action, EditText):
            original = Path(action.path).read_bytes()
            journal["steps"].append(
                {
                    "kind": "edit",
                    "path": str(Path(action.path).resolve()),
                    "original": base64.b64encode(original).decode("ascii"),
                    "original_sha256": _sha256(original),
                    "done": False,
                }
            )
        elif isinstance(action, (MoveFile, RenameFile)):
            journal["steps"].append(
                {
                    "kind": action.kind,
                    "source": str(Path(action.source).resolve()),
                    "target": str(Path(action.target).absolute()),
                    "sha256": action.sha256,
                    "done": False,
                }
            )
        else:
            journal["steps"].append({"kind": "create", "path": str(Path(action.path).absolute()), "done": False})
    try:
        _save_journal(journal_path, journal)
    except OSError as exc:
        raise ApplyError(f"cannot write the journal {journal_path}: {exc.strerror or exc}; nothing changed") from exc

    created_dirs: list[str] = []
    try:
        for action, step in zip(plan.actions, journal["steps"], strict=True):
            _carry_out(action, step, created_dirs)
            step["done"] = True
        journal["created_dirs"] = created_dirs
        journal["status"] = "applied"
        _save_journal(journal_path, journal)
    except OSError as exc:
        journal["created_dirs"] = created_dirs
        _restore(journal)
        journal["status"] = "rolled back"
        _save_journal(journal_path, journal)
        raise ApplyError(
            f"could not write ({exc.strerror or exc}): {exc.filename or ''}; every file was restored"
        ) from exc

    after = recheck()
    result = ApplyResult(
        journal=journal_path,
        errors_before=before.summary.errors,
        errors_after=after.summary.errors,
        warnings_before=before.summary.warnings,
        warnings_after=after.summary.warnings,
        is_rolled_back=False,
    )
    if not is_healthier(before, after):
        _restore(journal)
        journal["status"] = "rolled back"
        _save_journal(journal_path, journal)
        return ApplyResult(**{**result.__dict__, "is_rolled_back": True})
    return result


def is_healthier(before: CheckResult, after: CheckResult) -> bool:
    b, a = before.summary, after.summary
    return a.errors < b.errors or (a.errors == b.errors and a.warnings < b.warnings)


def _carry_out(action, step: dict, created_dirs: list[str]) -> None:
    if isinstance(action, EditText):
        path = Path(action.path)
        original = path.read_bytes()
        if _sha256(original) != action.old_sha256:
            raise OSError(0, "changed on disk during apply", str(path))
        data = _encode_like(original, action.new_text)
        _write_atomic(path, data, exclusive=False)
        step["new_sha256"] = _sha256(data)
    elif isinstance(action, (MoveFile, RenameFile)):
        target = Path(action.target)
        _make_dirs(target.parent, created_dirs)
        _move_no_clobber(Path(action.source), target)
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
    """Undo the done steps, newest first. Returns what could not be restored."""
    problems = []
    for step in reversed(journal["steps"]):
        if not step.get("done"):
            # A step that failed half-way may still have produced its target.
            if (
                step["kind"] in ("move", "rename")
                and not os.path.lexists(step["source"])
                and os.path.exists(step["target"])
            ):
                step["done"] = True
            else:
                continue
        try:
            if step["kind"] == "edit":
                path = Path(step["path"])
                current = path.read_bytes() if path.exists() else b""
                if "new_sha256" in step and _sha256(current) != step["new_sha256"]:
                    problems.append(f"{path} changed since it was fixed; left as it is")
                    continue
                _write_atomic(path, base64.b64decode(step["original"]), exclusive=False)
            elif step["kind"] in ("move", "rename"):
                target = Path(step["target"])
                if not target.exists() or _sha256(target.read_bytes()) != step["sha256"]:
                    problems.append(f"{target} is gone or changed; not moved back")
                    continue
                _move_no_clobber(target, Path(step["source"]))
            else:
                path = Path(step["path"])
                if path.exists() and "sha256" in step and _sha256(path.read_bytes()) == step["sha256"]:
                    path.unlink()  # a file this run created, unchanged
                elif path.exists():
                    problems.append(f"{path} changed since it was created; left as it is")
                    continue
            step["done"] = False
        except OSError as exc:
            problems.append(f"{exc.filename or ''}: {exc.strerror or exc}")
    for folder in reversed(journal.get("created_dirs", [])):
        try:
            os.rmdir(folder)  # only folders this run created, and only when empty
        except OSError:
            pass
    return problems


def last_journal(root: Path) -> Path | None:
    folder = root / JOURNAL_DIR
    if not folder.is_dir():
        return None
    for path in sorted(folder.glob("*.json"), key=lambda p: p.stat().st_mtime_ns, reverse=True):
        try:
            status = json.loads(path.read_text(encoding="utf-8")).get("status")
        except (OSError, ValueError):
            continue
        if status == "applied":
            return path
    return None


def undo_last(root: Path) -> tuple[Path, list[str]]:
    """Restore the files of the last applied journal; mark it undone."""
    path = last_journal(root)
    if path is None:
        raise UndoError(f"nothing to undo: no applied fix in {display_path(root / JOURNAL_DIR)}")
    journal = json.loads(path.read_text(encoding="utf-8"))
    problems = _restore(journal)
    journal["status"] = "undone" if not problems else "partly undone"
    _save_journal(path, journal)
    return path, problems
