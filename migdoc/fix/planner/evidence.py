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
from migdoc.fix.planner.context import PlanContext, name_of
from migdoc.model import FixOptions
from migdoc.project.naming import parse_create_date

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
    applied = applied_ids(context, options)
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


HeadVerdict = tuple[str, str, str]
"""(the kind of evidence, the head revision it points at as the main line, what it says)."""


def head_verdicts(
    context: PlanContext, options: FixOptions, heads: Sequence[int], line_of: Callable[[int], set[int]]
) -> list[HeadVerdict]:
    """What each kind of evidence says about which head is the main line, strongest first:
    the deployed database, git history, the file names, the content. Each looks at every
    head's own part of the chain (what no other head's line holds) and speaks only when it
    singles out one head; a kind that says nothing is left out."""
    files = context.files
    distinct = {str(files[h].revision): h for h in heads}
    if len(distinct) < 2:
        return []
    lines = {rev: line_of(h) for rev, h in distinct.items()}
    own = {
        rev: sorted(line - set().union(*(other for r, other in lines.items() if r != rev)))
        for rev, line in lines.items()
    }
    found: list[HeadVerdict] = []
    for kind, level in (
        ("database", _head_by_database),
        ("git history", _head_by_git),
        ("file name", _head_by_name),
        ("content", _head_by_content),
    ):
        rev, said = level(context, options, own)
        if rev is not None:
            found.append((kind, rev, said))
    return found


def choose_head_by_evidence(
    context: PlanContext,
    options: FixOptions,
    heads: Sequence[int],
    line_of: Callable[[int], set[int]],
    longest: tuple[str, int] | None = None,
) -> tuple[int | None, list[str]]:
    """The main head when the evidence decides, with its lines for the plan; (None, []) when
    no evidence speaks (the longest path then decides). ``longest``: the head with the
    longest path from a base and its length, or None on a tie.

    Kinds that point at different heads are a refusal naming ``--head``: which branch a team
    deploys is not guessed. The longest path is the weakest kind: a shorter branch is the
    main line only when two kinds of evidence agree on it (one alone, a database left on a
    short branch say, against the longest path is a disagreement, refused)."""
    files = context.files
    distinct = {str(files[h].revision): h for h in heads}
    verdicts = head_verdicts(context, options, heads, line_of)
    if not verdicts:
        return None, []
    pointed = sorted({rev for _, rev, _ in verdicts})
    said = "; ".join(f"{kind} points at {rev} ({text})" for kind, rev, text in verdicts)
    if len(pointed) == 1 and longest is not None and longest[0] != pointed[0] and len(verdicts) == 1:
        said += f"; the longest path points at {longest[0]} ({longest[1]} revisions from a base)"
        pointed = sorted({pointed[0], longest[0]})
    if len(pointed) > 1:
        choices = " or ".join(f"--head {rev}" for rev in pointed)
        raise FixRefused(
            f"--archive cannot choose the main head: the evidence disagrees: {said}; choose with {choices}",
            flag="--head",
            candidates=tuple(pointed),
        )
    kind, rev, text = verdicts[0]
    out = [f"evidence for the main head: {rev} by {kind}: {text}"]
    out += [f"evidence for the main head: {other} agrees ({said})" for other, _, said in verdicts[1:]]
    if longest is not None and longest[0] != rev:
        out.append(
            f"evidence for the main head: the longest path points at {longest[0]} ({longest[1]} revisions "
            f"from a base); overruled by {len(verdicts)} kinds of evidence"
        )
    return distinct[rev], out


def head_evidence_against(
    context: PlanContext, options: FixOptions, heads: Sequence[int], line_of: Callable[[int], set[int]], chosen: str
) -> list[str]:
    """With ``--head``: the evidence, each kind said to agree or to be overruled by the flag."""
    return [
        f"evidence for the main head: {kind} agrees with --head ({text})"
        if rev == chosen
        else f"evidence for the main head: {kind} points at {rev} ({text}); overruled by --head {chosen}"
        for kind, rev, text in head_verdicts(context, options, heads, line_of)
    ]


def applied_ids(context: PlanContext, options: FixOptions) -> set[str]:
    """The ids the database applied: its current revisions and their ancestors through the
    parents of *every* copy of an id (alembic_version does not say which copy ran)."""
    parents_of: dict[str, set[str]] = {}
    for rf in context.files:
        if rf.revision is not None:
            parents_of.setdefault(str(rf.revision), set()).update(rf.down_revisions)
    applied: set[str] = set()
    todo = list(options.database_current)
    while todo:
        current = todo.pop()
        if current not in applied:
            applied.add(current)
            todo += parents_of.get(current, ())
    return applied


def _head_by_database(context: PlanContext, options: FixOptions, own: dict[str, list[int]]) -> tuple[str | None, str]:
    """The head whose own part the database has applied. A duplicated id says nothing (which
    copy ran is not recorded), nor does a database that stopped before the heads part."""
    if not options.database_current:
        return None, ""
    applied = applied_ids(context, options)
    declarations = context.graph.declarations
    ran = {
        rev: [
            str(context.files[i].revision)
            for i in part
            if str(context.files[i].revision) in applied
            and len(declarations.get(str(context.files[i].revision), ())) == 1
        ]
        for rev, part in own.items()
    }
    hit = [rev for rev, revs in ran.items() if revs]
    if len(hit) != 1:
        return None, ""
    return hit[0], (
        f"the deployed database (at {', '.join(options.database_current)}) applied "
        f"{', '.join(ran[hit[0]])} of {hit[0]}'s branch and nothing of the other heads' own branches"
    )


def _head_by_git(context: PlanContext, options: FixOptions, own: dict[str, list[int]]) -> tuple[str | None, str]:
    """The head whose own branch was first added earlier (its earliest file's commit); a file
    git never saw counts as the newest. The branch added later is the newcomer."""
    first: dict[str, tuple[int, str] | None] = {}
    for rev, part in own.items():
        known = [a for a in (context.added.get(context.files[i].path) for i in part) if a is not None]
        first[rev] = min(known) if known else None
    if all(f is None for f in first.values()):
        return None, ""
    earliest = min(f[0] for f in first.values() if f is not None)
    winners = [rev for rev, f in first.items() if f is not None and f[0] == earliest]
    said = "; ".join(
        f"{rev}'s branch first added in {f[1]}" if f else f"{rev}'s branch not committed" for rev, f in first.items()
    )
    if len(winners) != 1:
        return None, ""
    return winners[0], f"{said} (the branch added later is the newcomer)"


_SUFFIXED = re.compile(r"(\d+)[a-z]+")


def _head_by_name(context: PlanContext, options: FixOptions, own: dict[str, list[int]]) -> tuple[str | None, str]:
    """The one head whose own branch holds a plainly numbered revision, where every other
    head's own branch holds only suffixed variants (``0024b`` beside a ``0024``): the
    convention of a side branch grown off a numbered chain."""
    declarations = context.graph.declarations

    def suffixed(index: int) -> bool:
        match = _SUFFIXED.fullmatch(str(context.files[index].revision))
        return match is not None and match.group(1) in declarations

    side = {
        rev: [str(context.files[i].revision) for i in part]
        for rev, part in own.items()
        if part and all(suffixed(i) for i in part)
    }
    plain = [rev for rev, part in own.items() if part and rev not in side]
    if len(plain) != 1 or not side:
        return None, ""
    listed = "; ".join(f"{rev}'s branch holds only suffixed ids ({', '.join(ids)})" for rev, ids in side.items())
    return plain[0], f"{listed}, variants of the chain's numbers; {plain[0]}'s does not"


def _head_by_content(context: PlanContext, options: FixOptions, own: dict[str, list[int]]) -> tuple[str | None, str]:
    """The one head whose own part does new work, where every other head's own part only
    repeats earlier revisions' upgrades."""
    files = context.files
    repeats: dict[str, list[str]] = {}
    for rev, part in own.items():
        said = [repeats_other(context, i) for i in part]
        if part and all(s is not None for s in said):
            repeats[rev] = [f"{files[i].revision} repeats {s}" for i, s in zip(part, said, strict=True)]
    fresh = [rev for rev in sorted(own) if rev not in repeats]
    if len(fresh) == 1 and repeats:
        why = "; ".join(f"{rev}'s branch only repeats earlier work ({', '.join(r)})" for rev, r in repeats.items())
        return fresh[0], why
    return None, ""
