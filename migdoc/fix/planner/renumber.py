"""``--renumber``: file names follow revision ids; ids never change. Pure."""

from __future__ import annotations

import re
from pathlib import PurePosixPath

from migdoc.fix.planner.context import (
    FILENAME_MISMATCH,
    PartialPlan,
    PlanContext,
    PlanState,
    codes_on,
    folder_of,
    has_error,
    healthy_note,
    name_of,
)
from migdoc.model import (
    Action,
    FixOptions,
    RenameFile,
    Severity,
)
from migdoc.project.naming import (
    carries_revision,
    filename_revision,
    template_regex,
)

_DATE_TOKEN = re.compile(r"^(\d{8}|\d{10}|\d{12}|\d{14}|\d{4}-\d{2}-\d{2})$")
_HEX12 = re.compile(r"^[0-9a-f]{12}$")

# MD006 is a warning by default (Alembic loads a misnamed file fine): --renumber named by the
# user renames every mismatch; `fix` alone (the overview) proposes it only for an error-level one.
RENUMBER_HANDLE = f"an error-level {FILENAME_MISMATCH}, or any {FILENAME_MISMATCH} when --renumber is named"


# -- renumber ----------------------------------------------------------------


def plan_renumber(context: PlanContext, options: FixOptions, state: PlanState | None = None) -> PartialPlan:
    """Rename files whose name disagrees with their revision (MD006); ids, parent links and
    which copy of a duplicated id Alembic loads never change.

    Named (``--renumber``), every mismatch MD006 reports, warnings included; in the overview
    of ``fix`` alone, only on a chain with an error, and only error-level mismatches."""
    state = state or PlanState.initial(context)
    files = context.files
    if options.is_overview and not has_error(context):
        return PartialPlan(notes=(healthy_note("--renumber", "nothing to rename", RENUMBER_HANDLE),), state=state)
    severities = (Severity.ERROR,) if options.is_overview else tuple(Severity)
    mismatched = {i for i in state.survivors if FILENAME_MISMATCH in codes_on(context, files[i].path, severities)}
    if not mismatched:
        warned = any(FILENAME_MISMATCH in codes_on(context, files[i].path) for i in state.survivors)
        said = (
            f"--renumber: {FILENAME_MISMATCH} is a warning here, not an error; nothing to rename (it acts on {RENUMBER_HANDLE})"
            if warned
            else "--renumber: every file name carries its revision id; nothing to rename"
        )
        return PartialPlan(notes=(said,), state=state)
    template = options.file_template or (context.file_template if context.is_template_explicit else None)
    ids = {str(files[i].revision) for i in state.survivors}
    taken: dict[str, set[str]] = {}
    for rf in files:
        taken.setdefault(folder_of(rf.path), set()).add(name_of(rf.path))
    for folder, names in context.existing_names.items():
        taken.setdefault(folder, set()).update(names)
    actions: list[Action] = []
    unresolved: list[str] = []
    carrying = [
        (name_of(files[i].path).removesuffix(".py"), str(files[i].revision))
        for i in state.survivors
        if FILENAME_MISMATCH not in codes_on(context, files[i].path)
    ]
    learned = infer_pattern(carrying) if template is None else None
    for index in state.survivors:
        rf = files[index]
        if index not in mismatched:
            continue
        revision = str(rf.revision)
        path = PurePosixPath(rf.path)
        unsafe = unsafe_name_reason(revision)
        if unsafe is not None:
            # Never build a path from such an id: "../../x" would move the file out of the
            # project, "sub/r4" into a folder Alembic does not read.
            unresolved.append(
                f"{rf.path}: --renumber will not make a file name of revision {revision!r}: {unsafe}; rename it by hand"
            )
            continue
        if template is None:
            if learned is None:
                unresolved.append(
                    f"{rf.path}: --renumber cannot learn where the id sits in this project's file names "
                    "(no clear pattern among the names that carry their ids); set file_template "
                    "(alembic.ini) or pass --file-template, or rename it by hand"
                )
                continue
            stem = rename_by_pattern(path.stem, revision, learned, ids)
            if stem is None:
                unresolved.append(
                    f"{rf.path}: --renumber cannot tell which part of its name is the id "
                    f"(the project's pattern: {describe_pattern(learned)}); rename it by hand"
                )
                continue
        else:
            stem = new_stem(path.stem, revision, template, ids)
        if stem is None:
            unresolved.append(f"{rf.path}: --renumber cannot work out a name that carries revision {revision}")
            continue
        target = f"{path.parent}/{stem}{path.suffix}"
        folder = str(path.parent)
        if PurePosixPath(target).parent != path.parent or "\\" in stem or stem in (".", ".."):
            unresolved.append(f"{rf.path}: --renumber would rename it to {target!r}, outside its folder")
            continue
        if name_of(target) in taken.get(folder, set()):
            unresolved.append(f"{rf.path}: --renumber would rename it to {target}, which already exists")
            continue
        taken.setdefault(folder, set()).add(name_of(target))
        actions.append(
            RenameFile(
                source=rf.path,
                target=target,
                sha256=rf.sha256,
                reason=f"the file holds revision {revision}; its name now says so",
                answers=(FILENAME_MISMATCH,),
                revision=revision,
            )
        )
    actions, refused = _keeping_the_loaded_copies(context, actions)
    unresolved += refused
    notes = () if actions or unresolved else ("--renumber: every file name carries its revision id; nothing to rename",)
    return PartialPlan(actions=tuple(actions), notes=notes, unresolved=tuple(unresolved), state=state)


def _keeping_the_loaded_copies(context: PlanContext, actions: list[Action]) -> tuple[list[Action], list[str]]:
    """``actions`` without the renames that would change which copy of a duplicated id
    Alembic loads last (and keeps in its map): it reads each folder's files in name order,
    so a rename within the kept copy's folder can put another copy after it."""
    graph = context.graph
    new_name = {a.source: name_of(a.target) for a in actions if isinstance(a, RenameFile)}
    refused_paths: set[str] = set()
    refused: list[str] = []
    for revision, copies in graph.declarations.items():
        if len(copies) < 2 or not any(graph.files[i].path in new_name for i in copies):
            continue
        kept = graph.files[graph.kept[revision]].path
        beside = [graph.files[i].path for i in copies if folder_of(graph.files[i].path) == folder_of(kept)]
        last = max(beside, key=lambda path: new_name.get(path, name_of(path)))
        if last != kept:
            moved = [p for p in beside if p in new_name]
            refused_paths.update(moved)
            refused.append(
                f"{', '.join(moved)}: --renumber would make Alembic load {last} last and keep it for revision "
                f"{revision} instead of {kept} (it reads a folder in name order); archive one copy first (MD001)"
            )
    return [a for a in actions if not (isinstance(a, RenameFile) and a.source in refused_paths)], refused


_MAX_NAME_BYTES = 200  # under every file system's limit of 255, with room for a slug and ".py"


def unsafe_name_reason(word: str) -> str | None:
    """Why ``word`` cannot be (part of) a file name in a versions folder, or None when it can."""
    if not word:
        return "it is empty"
    if "/" in word or "\\" in word:
        return "it holds a path separator"
    if word in (".", "..") or word.startswith("."):
        return "it starts with a dot"
    if any(ord(ch) < 32 or ord(ch) == 127 for ch in word):
        return "it holds control characters"
    if len(word.encode("utf-8", "surrogatepass")) > _MAX_NAME_BYTES:
        return f"it is longer than {_MAX_NAME_BYTES} bytes"
    return None


def new_stem(stem: str, revision: str, template: str | None, ids: set[str]) -> str | None:
    """``stem`` with its revision token replaced by ``revision`` (date prefix and slug kept).

    Returns None when no name can be found that MD006 would accept.
    """
    candidate = _replace_token(stem, revision, template, ids)
    if candidate is None:
        return None
    if template is not None and template_regex(template) is not None:
        claimed = filename_revision(candidate, template)
        if claimed != revision:
            return None
    return candidate if carries_revision(candidate, revision) else None


def _replace_token(stem: str, revision: str, template: str | None, ids: set[str]) -> str | None:
    regex = template_regex(template) if template else None
    if regex is not None:
        match = regex.match(stem)
        if match is not None:
            if _looks_like_id(match.group("rev"), revision, ids):
                return stem[: match.start("rev")] + revision + stem[match.end("rev") :]
            # The template's rev slot holds a word of the slug: the id was left out.
            return stem[: match.start("rev")] + revision + "_" + stem[match.start("rev") :]
    tokens = re.split(r"([_\-.])", stem)
    words = tokens[0::2]
    position = 0
    while position < len(words) and _DATE_TOKEN.match(words[position]) and not _same_shape(words[position], revision):
        position += 1
    for i in range(position, len(words)):
        if _looks_like_id(words[i], revision, ids):
            tokens[2 * i] = revision
            return "".join(tokens)
    prefix = "".join(tokens[: 2 * position])
    rest = "".join(tokens[2 * position :])
    return f"{prefix}{revision}_{rest}" if rest else f"{prefix}{revision}"


def _same_shape(word: str, revision: str) -> bool:
    if word.isdigit() and revision.isdigit():
        return len(word) == len(revision)
    return bool(_HEX12.match(word) and _HEX12.match(revision))


def _looks_like_id(word: str, revision: str, ids: set[str]) -> bool:
    if word in ids:
        return True
    lead = re.match(r"^\d+", revision)
    if lead and re.fullmatch(r"\d+[a-z]?", word) and len(re.match(r"^\d+", word).group(0)) == len(lead.group(0)):  # type: ignore[union-attr]
        return True
    return _same_shape(word, revision)


# -- the project's pattern, learned from the names that carry their ids --------------

Pattern = tuple[str, int]
"""("whole", 0): the stem is the id; ("at", k): the id follows k ``_``-separated words."""


def _pattern_of(stem: str, revision: str) -> Pattern | None:
    if stem == revision:
        return ("whole", 0)
    words = stem.split("_")
    width = revision.count("_") + 1
    for k in range(len(words) - width + 1):
        if "_".join(words[k : k + width]) == revision:
            return ("at", k)
    return None


def infer_pattern(carrying: list[tuple[str, str]]) -> Pattern | None:
    """The pattern at least three quarters of the names that carry their ids follow, or None
    (unclear: too few names, or no pattern dominates)."""
    counts: dict[Pattern, int] = {}
    for stem, revision in carrying:
        found = _pattern_of(stem, revision)
        if found is not None:
            counts[found] = counts.get(found, 0) + 1
    if not counts:
        return None
    best = max(counts, key=lambda p: counts[p])
    return best if counts[best] * 4 >= 3 * sum(counts.values()) else None


def describe_pattern(pattern: Pattern) -> str:
    return "the name is the id" if pattern[0] == "whole" else f"the id after {pattern[1]} words of the name"


def rename_by_pattern(stem: str, revision: str, pattern: Pattern, ids: set[str]) -> str | None:
    """``stem`` with only its id part changed to ``revision`` under ``pattern``, or None
    when which part is the id cannot be told."""
    words = stem.split("_")
    if pattern[0] == "whole":
        # the whole stem is the id: rename only when the old name is plainly this id
        # misspelt (same leading number), never a different id with a slug of its own
        lead, old_lead = revision.split("_")[0], words[0]
        return revision if lead.isdigit() and lead == old_lead else None
    k = pattern[1]
    if len(words) <= k or not all(w.isdigit() for w in words[:k]):
        return None
    if _looks_like_id(words[k], revision, ids) or words[k] in ids:
        words[k] = revision
        return "_".join(words)
    # A date the project's other names lack (a file made from a dated template, then copied):
    # the id is the id-like word after it (20251217_0001_x.py declaring 0008 -> 20251217_0008_x.py).
    after = k
    while after < len(words) and _DATE_TOKEN.match(words[after]) and not _same_shape(words[after], revision):
        after += 1
    if k < after < len(words) and _looks_like_id(words[after], revision, ids):
        words[after] = revision
    else:  # the id was left out of the name: put it where the project's names carry it
        words.insert(k, revision)
    return "_".join(words)
