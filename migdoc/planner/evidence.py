"""Which file of a duplicated id is the original, and which head is the main line, decided
by evidence, strongest first (issue 12). Pure: the edges read git history and the
database beforehand (``PlanContext.added``, ``FixOptions.applied_revisions``).

For the copies of one id the order is: ``--keep FILE``; the deployed database (the copy
whose parents it has applied); git history (the file added later is the copy); the file
name (the file whose name carries its id is the original, a suffixed ``0025b_x.py`` is
not); content (a file whose ``upgrade()`` repeats another revision's is the copy); and
only then Alembic's load order, and that only when the copies have the same parents (the
chain is the same whichever is kept). Otherwise the planner refuses and names ``--keep``.

Every decision returns its evidence as lines for the plan, including weaker evidence the
decision overrules, so a reader sees why.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence

from migdoc.errors import FixRefused
from migdoc.model import FixOptions
from migdoc.naming import parse_create_date
from migdoc.planner.context import PlanContext, name_of

Verdict = tuple[int | None, str]
"""(the index this evidence points at, or None when it says nothing decisive; what it says)."""


def _by_keep(context: PlanContext, options: FixOptions, copies: Sequence[int], rev: str) -> Verdict:
    chosen = [c for c in copies if any(names_file(context.files[c].path, k) for k in options.keep)]
    if len(chosen) == 1:
        return chosen[0], f"--keep {context.files[chosen[0]].path}"
    return None, ""


def names_file(path: str, wanted: str) -> bool:
    wanted = wanted.replace("\\", "/").removeprefix("./")
    return path == wanted or path.endswith("/" + wanted) or name_of(path) == wanted


def _by_database(context: PlanContext, options: FixOptions, copies: Sequence[int], rev: str) -> Verdict:
    """The copy whose parents the database applied. What it applied is walked from its
    current revisions through the parents of *every* copy of an id (not only the copy
    Alembic keeps): ``alembic_version`` does not say which copy ran, so a database past
    the duplicated id says nothing here; one that stopped on one copy's line does."""
    if not options.database_current:
        return None, ""
    files = context.files
    parents_of: dict[str, set[str]] = {}
    for rf in files:
        if rf.revision is not None:
            parents_of.setdefault(str(rf.revision), set()).update(rf.down_revisions)
    applied: set[str] = set()
    todo = list(options.database_current)
    while todo:
        current = todo.pop()
        if current not in applied:
            applied.add(current)
            todo += parents_of.get(current, ())
    ran = [c for c in copies if all(p in applied for p in files[c].down_revisions)]
    if len(ran) != 1:
        return None, ""
    others = [c for c in copies if c != ran[0]]
    missing = sorted({p for c in others for p in files[c].down_revisions if p not in applied})
    kept = files[ran[0]]
    return ran[0], (
        f"the deployed database (at {', '.join(options.database_current)}) applied "
        f"{', '.join(kept.down_revisions) or 'the base'} (parent of {name_of(kept.path)}), not {', '.join(missing)}"
    )


def _by_git(context: PlanContext, options: FixOptions, copies: Sequence[int], rev: str) -> Verdict:
    added = {c: context.added.get(context.files[c].path) for c in copies}
    known = {c: a for c, a in added.items() if a is not None}
    if not known:
        return None, ""
    first = min(a[0] for a in known.values())
    earliest = [c for c, a in known.items() if a[0] == first]
    said = "; ".join(
        f"{name_of(context.files[c].path)} added in {a[1]}" if a else f"{name_of(context.files[c].path)} not committed"
        for c, a in added.items()
    )
    if len(earliest) != 1:
        return None, f"git history: {said} (the same commit; says nothing)"
    return earliest[0], f"git history: {said} (the file added later is the copy)"


def carries_id(path: str, rev: str) -> bool:
    """The file name holds the id as a whole token (``0025_x.py``, ``2024_01_02_0025_x.py``), not ``0025b_x.py``."""
    stem = name_of(path).removesuffix(".py")
    return re.search(rf"(?:^|[_\-.]){re.escape(rev)}(?:[_\-.]|$)", stem) is not None


def _by_name(context: PlanContext, options: FixOptions, copies: Sequence[int], rev: str) -> Verdict:
    carrying = [c for c in copies if carries_id(context.files[c].path, rev)]
    if len(carrying) != 1:
        return None, ""
    others = ", ".join(name_of(context.files[c].path) for c in copies if c != carrying[0])
    return carrying[0], f"file name: {name_of(context.files[carrying[0]].path)} carries the id {rev}; {others} does not"


def repeats_other(context: PlanContext, index: int) -> str | None:
    """The id of an earlier revision (older Create Date) whose upgrade() this file's repeats
    (same operations and module-level values: the fingerprint), or None. Without dates to
    compare, nothing is said: which one repeats which is then unknown."""
    rf = context.files[index]
    body = rf.upgrade
    when = parse_create_date(rf.header.create_date)
    if body is None or not body.does_work or when is None:
        return None
    for other in context.files:
        if other.revision == rf.revision or other.upgrade is None or other.upgrade.fingerprint != body.fingerprint:
            continue
        then = parse_create_date(other.header.create_date)
        if then is not None and then < when:
            return str(other.revision)
    return None


def _by_content(context: PlanContext, options: FixOptions, copies: Sequence[int], rev: str) -> Verdict:
    repeats = {c: repeats_other(context, c) for c in copies}
    fresh = [c for c, r in repeats.items() if r is None]
    if len(fresh) != 1:
        return None, ""
    others = "; ".join(
        f"{name_of(context.files[c].path)} repeats {r}'s upgrade()" for c, r in repeats.items() if r is not None
    )
    return fresh[0], f"content: {others}"


LEVELS: tuple[tuple[str, Callable[..., Verdict]], ...] = (
    ("--keep", _by_keep),
    ("database", _by_database),
    ("git history", _by_git),
    ("file name", _by_name),
    ("content", _by_content),
)


def choose_original(
    context: PlanContext, options: FixOptions, copies: Sequence[int], rev: str
) -> tuple[int, list[str]]:
    """The copy of ``rev`` the main line keeps, and the evidence lines behind it."""
    files = context.files
    verdicts = [(name, *level(context, options, copies, rev)) for name, level in LEVELS]
    deciding = next(((n, c, t) for n, c, t in verdicts if c is not None), None)
    if deciding is None:
        if len({files[c].down_revisions for c in copies}) == 1:
            kept = context.graph.kept.get(rev, copies[-1])
            kept = kept if kept in copies else copies[-1]
            return kept, [
                f"evidence for {rev}: Alembic's load order keeps {name_of(files[kept].path)} (loaded last); "
                "no stronger evidence, and every copy has the same parent, so the chain is the same either way"
            ]
        listed = ", ".join(f"{files[c].path} (parent {', '.join(files[c].down_revisions) or 'none'})" for c in copies)
        choices = " or ".join(f"--keep {files[c].path}" for c in copies)
        raise FixRefused(
            f"--archive cannot tell which file of revision {rev} is the original: {listed}; no database, "
            f"git history, file name or content evidence decides; choose with {choices}",
            flag="--keep",
            candidates=tuple(files[c].path for c in copies),
        )
    name, kept, text = deciding
    out = [f"evidence for {rev}: keeps {name_of(files[kept].path)} by {name}: {text.removeprefix(name + ': ')}"]
    for other, chosen, said in verdicts:
        if chosen is None or other == name or not said:
            continue
        if chosen == kept:
            out.append(f"evidence for {rev}: {other} agrees ({said.removeprefix(other + ': ')})")
        else:
            out.append(
                f"evidence for {rev}: {other} points at {name_of(files[chosen].path)} "
                f"({said.removeprefix(other + ': ')}); overruled by the stronger {name}"
            )
    return kept, out


def choose_head_by_evidence(
    context: PlanContext, options: FixOptions, heads: Sequence[int], line_of: Callable[[int], set[int]]
) -> tuple[int | None, list[str]]:
    """The main head when the content of the branches decides, with its evidence: the one
    head whose own part of the chain (what no other head's line holds) does new work, where
    every other head's own part only repeats earlier revisions' upgrades.

    The database is not evidence here: a database left on a dead branch is stamped back onto
    the main line (the plan says how), as the repairs made by hand did."""
    files = context.files
    ids = sorted({str(files[h].revision) for h in heads})
    if len(ids) < 2:
        return None, []
    distinct = {str(files[h].revision): h for h in heads}
    lines = {rev: line_of(h) for rev, h in distinct.items()}
    repeats: dict[str, list[str]] = {}
    for rev, line in lines.items():
        elsewhere = set().union(*(other for r, other in lines.items() if r != rev))
        own = line - elsewhere
        said = [repeats_other(context, i) for i in sorted(own)]
        if own and all(s is not None for s in said):
            repeats[rev] = [f"{files[i].revision} repeats {s}" for i, s in zip(sorted(own), said, strict=True)]
    fresh = [rev for rev in ids if rev not in repeats]
    if len(fresh) == 1 and repeats:
        why = "; ".join(f"{rev}'s branch only repeats earlier work ({', '.join(r)})" for rev, r in repeats.items())
        return distinct[fresh[0]], [f"evidence for the main head: {fresh[0]} by content: {why}"]
    return None, []
