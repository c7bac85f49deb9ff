"""Version files as they are at a git ref, read without a checkout. Runs git.

Only read-only plumbing is used (``rev-parse``, ``merge-base``, ``ls-tree``,
``cat-file --batch``, ``log``), with ``GIT_OPTIONAL_LOCKS=0`` so not even the
index is refreshed: the working tree and the repository are never written.

The merge is computed per file path, as git would merge the version folders
of this working tree into REF, using the merge base of ``HEAD`` and REF to
tell "added here" from "deleted there". Without a merge base (a shallow
clone, unrelated histories) both sides are kept; ``has_merge_base`` says so.
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from migdoc.chain.graph import build_graph
from migdoc.errors import EnvironmentProblem, UsageError
from migdoc.model import RevisionFile
from migdoc.project.layout import ProjectLayout
from migdoc.project.reader import read_revision
from migdoc.project.scan import SOURCE_FILE, list_version_files
from migdoc.util.filesystem import read_regular_file

OURS, THEIRS, COMMON = "ours", "theirs", "common"


@dataclass(frozen=True)
class MergedView:
    """The version files after merging the working tree into ``ref``. Pure data."""

    ref: str
    commit: str
    files: tuple[RevisionFile, ...]
    """Working-tree records as they are, plus REF's files (shown as ``REF:path``)."""
    origins: dict[str, str]
    """File path -> ``ours`` (added or changed here), ``theirs`` (only at REF) or ``common``."""
    ref_heads: tuple[str, ...]
    """The heads at REF alone."""
    has_merge_base: bool
    ref_revisions: frozenset[str] = frozenset()
    """Every revision id declared at REF (a file changed here keeps its id: it is not new)."""


def _git(repo: Path, *args: str, stdin: bytes | None = None, check: bool = True) -> subprocess.CompletedProcess:
    env = {**os.environ, "GIT_OPTIONAL_LOCKS": "0", "GIT_TERMINAL_PROMPT": "0", "LC_ALL": "C"}
    try:
        done = subprocess.run(
            ["git", "-c", "core.quotepath=off", *args],
            cwd=repo,
            input=stdin,
            capture_output=True,
            env=env,
        )
    except FileNotFoundError:
        raise EnvironmentProblem(
            "git is not installed (needed for --base-ref and git history)", needs="git", remedy="install git"
        ) from None
    if check and done.returncode != 0:
        message = done.stderr.decode("utf-8", "replace").strip().splitlines()
        raise EnvironmentProblem(
            f"git {args[0]} failed: {message[-1] if message else done.returncode}", needs=f"git {args[0]}"
        )
    return done


def find_repository(path: Path) -> Path:
    """The top of the git working tree holding ``path``. Raises EnvironmentProblem."""
    start = path if path.is_dir() else path.parent
    done = _git(start, "rev-parse", "--show-toplevel", check=False)
    if done.returncode != 0:
        raise EnvironmentProblem(
            f"{start}: not a git repository (--base-ref reads the versions folder from git)",
            needs="a git repository",
        )
    return Path(done.stdout.decode().strip()).resolve()


def resolve_ref(repo: Path, ref: str) -> str:
    """The commit ``ref`` names. A missing ref is a UsageError naming the fetch that fixes it."""
    if ref.startswith("-") or not ref.strip():
        raise UsageError(f"--base-ref {ref!r} is not a git ref", option="--base-ref", value=ref)
    done = _git(repo, "rev-parse", "--verify", "--quiet", "--end-of-options", f"{ref}^{{commit}}", check=False)
    if done.returncode == 0:
        return done.stdout.decode().strip()
    raise UsageError(
        f"git ref {ref!r} does not exist in {repo}; {_fetch_hint(repo, ref)}", option="--base-ref", value=ref
    )


def _fetch_hint(repo: Path, ref: str) -> str:
    shallow = _git(repo, "rev-parse", "--is-shallow-repository", check=False).stdout.decode().strip() == "true"
    remotes = _git(repo, "remote", check=False).stdout.decode().split()
    remote, _, branch = ref.partition("/")
    if remote in remotes and branch:
        words = [remote, f"+refs/heads/{branch}:refs/remotes/{remote}/{branch}"]
    elif ref.startswith("refs/remotes/") and ref.count("/") >= 3:
        remote, branch = ref.split("/", 3)[2:]
        words = [remote, f"+refs/heads/{branch}:{ref}"]
    else:
        words = ["origin", ref]
    # a command to paste into a shell: a ref such as `$(id)` or `a;b` must stay one word, inert
    command = "git fetch --no-tags --depth=50 " + " ".join(shlex.quote(word) for word in words)
    where = "this is a shallow clone; " if shallow else ""
    return f"{where}`{command}` makes it available"


def _relative(repo: Path, path: Path) -> str:
    try:
        return path.resolve().relative_to(repo).as_posix()
    except ValueError:
        raise EnvironmentProblem(
            f"{path}: outside the git repository {repo}", needs="a path inside the git repository"
        ) from None


def _tree_files(repo: Path, commit: str, layout: ProjectLayout) -> dict[str, str]:
    """Repo-relative path -> blob id of the version files at ``commit``."""
    found: dict[str, str] = {}
    for location in layout.version_locations:
        prefix = _relative(repo, location)
        spec = prefix if prefix else "."
        done = _git(repo, "ls-tree", "-r", "-z", "--full-tree", commit, "--", spec)
        for entry in done.stdout.decode("utf-8", "surrogateescape").split("\0"):
            if not entry:
                continue
            meta, _, path = entry.partition("\t")
            mode, kind, blob = meta.split()
            if kind != "blob" or mode == "120000":
                continue
            inside = PurePosixPath(path).relative_to(prefix) if prefix else PurePosixPath(path)
            if not layout.is_recursive and len(inside.parts) != 1:
                continue
            if "__pycache__" in inside.parts or not SOURCE_FILE.match(inside.name):
                continue
            found.setdefault(path, blob)
    return found


def read_blobs(repo: Path, objects: Sequence[str]) -> list[bytes | None]:
    """Contents of ``objects`` (blob ids or ``commit:path``) through one ``cat-file --batch``."""
    if not objects:
        return []
    done = _git(repo, "cat-file", "--batch", stdin="".join(f"{o}\n" for o in objects).encode())
    out, position, result = done.stdout, 0, []
    for _ in objects:
        end = out.index(b"\n", position)
        header = out[position:end].split()
        position = end + 1
        if len(header) == 3 and header[1] == b"blob":
            size = int(header[2])
            result.append(out[position : position + size])
            position += size + 1
        else:
            result.append(None)
    return result


def _merge_base(repo: Path, commit: str) -> str | None:
    done = _git(repo, "merge-base", "HEAD", commit, check=False)
    return done.stdout.decode().strip() or None if done.returncode == 0 else None


def merge_with_ref(layout: ProjectLayout, worktree: Sequence[RevisionFile], ref: str) -> MergedView:
    """The version files a merge of this working tree into ``ref`` would leave."""
    repo = find_repository(layout.root)
    commit = resolve_ref(repo, ref)
    at_ref = _tree_files(repo, commit, layout)
    base = _merge_base(repo, commit)
    at_base = _tree_files(repo, base, layout) if base else {}

    by_path = {rf.path: rf for rf in worktree}
    ours_paths: dict[str, RevisionFile] = {}
    for path in list_version_files(layout):
        record = by_path.get(str(path))
        if record is not None:
            ours_paths[_relative(repo, path)] = record

    blob_ids = sorted(set(at_ref.values()) | set(at_base.values()))
    contents = dict(zip(blob_ids, read_blobs(repo, blob_ids), strict=True))
    ref_bytes = {p: contents[b] for p, b in at_ref.items()}
    base_bytes = {p: contents[b] for p, b in at_base.items()}
    ref_paths = sorted(at_ref)

    files: list[RevisionFile] = []
    origins: dict[str, str] = {}
    for rel, record in ours_paths.items():
        mine = _read_worktree(repo / rel)
        theirs = ref_bytes.get(rel)
        before = base_bytes.get(rel)
        if theirs is not None and theirs == mine:
            origins[record.path] = COMMON
        elif theirs is None and base and before is not None and before == mine:
            continue  # deleted at REF since we branched, untouched here: the merge deletes it
        elif theirs is not None and base and before == mine:
            # Changed at REF only: the merge takes REF's version.
            shown = read_revision(f"{ref}:{rel}", theirs)
            files.append(shown)
            origins[shown.path] = THEIRS
            continue
        else:
            origins[record.path] = OURS
        files.append(record)
    for rel in ref_paths:
        if rel in ours_paths:
            continue
        data = ref_bytes[rel]
        if data is None or (base and base_bytes.get(rel) == data):
            continue  # deleted here since we branched: the merge deletes it
        shown = read_revision(f"{ref}:{rel}", data)
        files.append(shown)
        origins[shown.path] = THEIRS
    ref_records = [read_revision(rel, data) for rel, data in ref_bytes.items() if data is not None]
    return MergedView(
        ref,
        commit,
        tuple(files),
        origins,
        build_graph(ref_records).kept_heads,
        base is not None,
        frozenset(str(rf.revision) for rf in ref_records if rf.revision is not None),
    )


def _read_worktree(path: Path) -> bytes | None:
    try:
        return read_regular_file(path)  # a FIFO or a device in the versions folder must not hang
    except OSError:
        return None


def find_lost_revisions(layout: ProjectLayout, revisions: Iterable[str]) -> dict[str, str]:
    """Revision id -> where git history last saw it, for ids no current file declares.

    First the version files git deleted (``git log --diff-filter=D``; renames
    count as deletions), newest first; then, for ids still unknown, the newest
    commit that removed a ``revision = "<id>"`` line (a revision id renamed in
    place). Returns ``{}`` outside a git repository: history is a bonus here.
    """
    wanted = set(revisions)
    if not wanted:
        return {}
    try:
        repo = find_repository(layout.root)
        specs = [_relative(repo, p) or "." for p in (*layout.version_locations, layout.archive_root)]
    except EnvironmentProblem:
        return {}
    found: dict[str, str] = {}
    log = _git(
        repo,
        "log",
        "--no-renames",
        "--diff-filter=D",
        "--name-only",
        "--date=short",
        "--format=%x01%H%x00%h%x00%ad%x00%s",
        "--",
        *specs,
        check=False,
    )
    deleted: list[tuple[str, str, str]] = []
    for chunk in log.stdout.decode("utf-8", "replace").split("\x01"):
        if not chunk.strip():
            continue
        header, _, names = chunk.partition("\n")
        full, short, date, subject = (header.split("\x00") + ["", "", "", ""])[:4]
        where = f'commit {short} ({date}, "{subject}")'
        for name in names.split("\n"):
            if name.strip().endswith(".py"):
                deleted.append((full, name.strip(), where))
    contents = read_blobs(repo, [f"{full}^:{name}" for full, name, _ in deleted])
    for (_, name, where), data in zip(deleted, contents, strict=True):
        if data is None:
            continue
        record = read_revision(name, data)
        if record.revision in wanted and record.revision not in found:
            found[record.revision] = f"git history: {repo / name} was deleted in {where}"
    for revision in sorted(wanted - set(found)):
        pattern = r"revision[^=]*=[[:space:]]*['\"]" + re.escape(revision) + r"['\"]"
        done = _git(
            repo, "log", "-1", "--date=short", "--format=%h%x00%ad%x00%s", "-G", pattern, "--", *specs, check=False
        )
        line = done.stdout.decode("utf-8", "replace").strip()
        if done.returncode == 0 and line:
            short, date, subject = (line.split("\x00") + ["", ""])[:3]
            found[revision] = f'git history: its id was last changed in commit {short} ({date}, "{subject}")'
    return found


def first_added(layout: ProjectLayout, paths: Iterable[str]) -> dict[str, tuple[int, str]]:
    """Path (as given) -> (commit time, "commit <short> (<date>)") of the commit that added it.

    One ``git log --diff-filter=A`` over the version folders, oldest commit last; renames
    count as additions (``--no-renames``), so a file copied under a new name is "added"
    when the copy was made. Files git has never seen are left out, as is everything
    outside a repository: history is evidence here, not a requirement.
    """
    found = _first_additions(layout, list(paths))
    return {path: (stamp, f"commit {short} ({date})") for path, (stamp, short, date, _) in found.items()}


def first_arrived(layout: ProjectLayout, paths: Iterable[str]) -> dict[str, tuple[int, str, bool]]:
    """Path (as given) -> (commit time, "merge <short> (<date>)", whether a merge brought it) of
    the commit on the checked-out branch's first-parent line that brought each file: for a
    pull request merged with a merge commit, the merge, not the branch's own commit. Which of
    two pull requests reached the line later (the one whose migration engineers re-point) is
    told by this, not by when their commits were written. Empty outside a repository."""
    found = _first_additions(layout, list(paths), "--first-parent", "--diff-merges=first-parent")
    arrived = {}
    for path, (stamp, short, date, parents) in found.items():
        is_merge = len(parents.split()) > 1
        arrived[path] = (stamp, f"{'merge' if is_merge else 'commit'} {short} ({date})", is_merge)
    return arrived


def _first_additions(layout: ProjectLayout, paths: list[str], *flags: str) -> dict[str, tuple[int, str, str, str]]:
    """Path (as given) -> (commit time, short hash, date, parents) of the oldest commit that
    added it, by one ``git log --diff-filter=A`` over the version folders (``flags`` choose
    the commits walked). Empty outside a repository or for paths git never saw."""
    if not paths:
        return {}
    try:
        repo = find_repository(layout.root)
        specs = [_relative(repo, p) or "." for p in layout.version_locations]
    except EnvironmentProblem:
        return {}
    log = _git(
        repo,
        "log",
        *flags,
        "--no-renames",
        "--diff-filter=A",
        "--name-only",
        "--date=short",
        "--format=%x01%ct%x00%h%x00%cd%x00%p",
        "--",
        *specs,
        check=False,
    )
    added: list[tuple[str, tuple[int, str, str, str]]] = []  # newest first, as git logs
    for chunk in log.stdout.decode("utf-8", "replace").split("\x01"):
        if not chunk.strip():
            continue
        header, _, names = chunk.partition("\n")
        stamp, short, date, parents = (header.split("\x00") + ["", "", ""])[:4]
        if not stamp.isdigit():
            continue
        said = (int(stamp), short, date, parents)
        added += [(name.strip(), said) for name in names.split("\n") if name.strip()]
    # paths normalised, not resolved (resolving 20,000 paths one by one cost seconds); a
    # project reached through a symlink is matched again with resolved paths
    for spell, root in ((os.path.normpath, os.path.normpath(repo)), (_resolved, _resolved(str(repo)))):
        wanted = {spell(p): p for p in paths}
        found: dict[str, tuple[int, str, str, str]] = {}
        for name, said in added:
            path = wanted.get(spell(os.path.join(root, name)))
            if path is not None:
                found[path] = said  # the last addition seen is the first one made
        if found or not added:
            return found
    return {}


def _resolved(path: str) -> str:
    return str(Path(path).resolve())
