"""What plain `migdoc fix` recommends on historical broken states of public projects,
against the commit that repaired each one (issue 18).

For each line of the list (``owner/name commit path repair_commit``): the repository is
cloned from MIRRORS/<owner>+<name>/repo (``git clone --shared``: the mirror is only read),
checked out at the broken commit (git history is there, so git evidence is used), planned
with plain ``migdoc fix``, applied with ``migdoc fix --apply`` (re-checked), and the
changes it makes to the version files that existed are compared with the changes the
repairing commit made to them. One row each: project, commit, what migdoc recommends,
what the engineers did, match/differ and why.

    python benchmarks/bench_fix_history.py /work/.mirror benchmarks/fix_history.txt [--work /tmp/fixhist]
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from migdoc import doctor
from migdoc.errors import MigdocError
from migdoc.model import CreateFile, EditText, FixOptions, MoveFile
from migdoc.project.reader import read_revision

Change = tuple[str, str, str]
"""(revision, what changed: ``revision``/``down_revision``/``removed``, the new value)."""


@dataclass(frozen=True)
class Case:
    repo: str
    commit: str
    path: str
    repair: str


def read_list(path: Path) -> list[Case]:
    cases = []
    for line in path.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            repo, commit, folder, repair = line.split()
            cases.append(Case(repo, commit, folder, repair))
    return cases


def git(cwd: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True, text=True).stdout


@dataclass(frozen=True)
class Version:
    revision: str
    parents: tuple[str, ...]
    body: str
    """What identifies the migration across a rename: its upgrade() fingerprint."""
    message: str
    """The docstring's message: identifies it when the upgrade() was rewritten as well."""


def version_files(clone: Path, commit: str, folder: str) -> dict[str, Version]:
    """Path -> what each version file at ``commit`` under ``folder`` declares."""
    names = [
        n
        for n in git(clone, "ls-tree", "-r", "--name-only", commit, "--", folder).splitlines()
        if n.endswith(".py") and "/versions/" in n
    ]
    batch = "".join(f"{commit}:{n}\n" for n in names).encode()
    data = subprocess.run(["git", "cat-file", "--batch"], cwd=clone, input=batch, capture_output=True).stdout
    out, position = {}, 0
    for name in names:
        end = data.index(b"\n", position)
        size = int(data[position:end].split()[2])
        rf = read_revision(name, data[end + 1 : end + 1 + size])
        position = end + 1 + size + 1
        if rf.revision is not None:
            body = rf.upgrade.fingerprint if rf.upgrade is not None and rf.upgrade.does_work else ""
            message = rf.header.message or ""
            out[name] = Version(str(rf.revision), tuple(rf.down_revisions), body or f"message:{message}", message)
    return out


def heads_of(files: dict[str, Version]) -> set[str]:
    named = {p for v in files.values() for p in v.parents}
    return {v.revision for v in files.values() if v.revision not in named}


def renamed_paths(clone: Path, case: Case) -> dict[str, str]:
    """Old path -> new path of the version files git sees renamed between the two commits."""
    out = git(clone, "diff", "-M", "--name-status", case.commit, case.repair, "--", case.path)
    return {parts[1]: parts[2] for parts in (line.split("\t") for line in out.splitlines()) if parts[0].startswith("R")}


def engineers_changes(
    before: dict[str, Version], after: dict[str, Version], renamed: dict[str, str]
) -> tuple[set[Change], tuple | None]:
    """What the repairing commit changed in the files that existed (a file renamed, with a new
    id or not, is found again by git's rename detection, its upgrade() or its message), and the
    parents of a merge revision it added (None: no merge)."""
    changes: set[Change] = set()
    after = {**after}
    for old, new in renamed.items():
        if new in after and old not in after:
            after[old] = after.pop(new)
    added = {path: v for path, v in after.items() if path not in before}
    by_body: dict[str, list[Version]] = {}
    by_message: dict[str, list[Version]] = {}
    for v in added.values():
        by_body.setdefault(v.body, []).append(v)
        if v.message:
            by_message.setdefault(v.message, []).append(v)
    for path, old in before.items():
        new = after.get(path)
        if new is None:
            found = by_body.get(old.body, [])
            if len(found) != 1 and old.message:
                found = by_message.get(old.message, [])
            if len(found) != 1:
                changes.add((old.revision, "removed", ""))
                continue
            new = found[0]
            added = {p: v for p, v in added.items() if v is not new}
        if new.revision != old.revision:
            changes.add((old.revision, "revision", new.revision))
        if set(new.parents) != set(old.parents):
            changes.add((old.revision, "down_revision", ",".join(sorted(new.parents))))
    merges = [tuple(sorted(v.parents)) for v in added.values() if len(v.parents) > 1]
    return changes, (merges[0] if merges else None)


def migdoc_changes(plan) -> tuple[set[Change], tuple[str, ...] | None]:
    changes: set[Change] = set()
    merge = None
    for action in plan.actions:
        if isinstance(action, MoveFile):
            changes.add((str(action.revision), "removed", ""))
        elif isinstance(action, EditText):
            old = read_revision(action.path, action.old_text.encode())
            new = read_revision(action.path, action.new_text.encode())
            if new.revision != old.revision:
                changes.add((str(old.revision), "revision", str(new.revision)))
            if set(new.down_revisions) != set(old.down_revisions):
                changes.add((str(old.revision), "down_revision", ",".join(sorted(new.down_revisions))))
        elif isinstance(action, CreateFile) and action.revision is not None and action.path.endswith(".py"):
            created = read_revision(action.path, action.content.encode())
            if len(created.down_revisions) > 1:
                merge = tuple(sorted(created.down_revisions))
    return changes, merge


def describe(changes: set[Change], merge: tuple[str, ...] | None) -> str:
    said = []
    removed = sorted(rev for rev, what, _ in changes if what == "removed")
    for rev, what, value in sorted(changes):
        if what == "revision":
            said.append(f"re-id {rev}->{value}")
        elif what == "down_revision":
            said.append(f"{rev} onto {value}")
    if removed:
        said.append(f"removed {len(removed)} ({', '.join(removed[:3])}{'...' if len(removed) > 3 else ''})")
    if merge:
        said.append(f"merge {'+'.join(merge)}")
    return "; ".join(said) or "nothing"


def verdict(ours: tuple[set[Change], tuple | None], theirs: tuple[set[Change], tuple | None]) -> str:
    (mine, my_merge), (done, their_merge) = ours, theirs
    if mine == done and (my_merge is None) == (their_merge is None) and (my_merge or ()) == (their_merge or ()):
        return "match"
    moved = {(rev, value) for rev, what, value in done if what == "down_revision"}
    if (
        mine
        and not my_merge
        and not their_merge
        and {(rev, value) for rev, what, value in mine if what == "down_revision"} == moved
        and {(rev, w) for rev, w, _ in done} - {(rev, w) for rev, w, _ in mine}
        <= {(rev, "revision") for rev, _ in moved}
    ):
        return "match (engineers also gave it a new id)"
    if their_merge and not done and my_merge:
        return "match (merge)" if set(my_merge) == set(their_merge) else "differ: a merge of other heads"
    if done and all(what == "removed" for _, what, _ in done):
        return "differ: engineers deleted it (reverted or rewrote the migration)"
    their_moves = {rev for rev, what, _ in done if what == "down_revision"}
    my_moves = {rev for rev, what, _ in mine if what == "down_revision"}
    if their_merge and not my_merge:
        return "differ: engineers merged, migdoc re-pointed" if my_moves else "differ: engineers merged"
    if my_merge and not their_merge:
        return "differ: migdoc merged, engineers re-pointed" if their_moves else "differ: migdoc merged"
    if their_moves and my_moves and their_moves != my_moves:
        return "differ: the other branch was moved"
    if their_moves == my_moves and mine != done:
        return "differ: same revision moved, other parent or id"
    return "differ"


def run_case(case: Case, mirrors: Path, work: Path) -> dict:
    clone = work / case.repo.replace("/", "+")
    if not clone.exists():
        subprocess.run(
            [
                "git",
                "clone",
                "-q",
                "--shared",
                "--no-checkout",
                str(mirrors / case.repo.replace("/", "+") / "repo"),
                str(clone),
            ],
            check=True,
        )
    # only the project's folder: the mirrors lack some large blobs elsewhere in the tree
    git(clone, "sparse-checkout", "set", "--cone", case.path)
    git(clone, "checkout", "-q", "-f", case.commit)
    git(clone, "clean", "-q", "-fdx")
    before = version_files(clone, case.commit, case.path)
    after = version_files(clone, case.repair, case.path)
    theirs = engineers_changes(before, after, renamed_paths(clone, case))
    started = time.perf_counter()
    try:
        project = doctor.load_project(str(clone / case.path))
        proposal = doctor.plan_fix(project, FixOptions())
    except MigdocError as exc:
        return {
            "case": case,
            "recommended": f"refused: {exc}",
            "engineers": describe(*theirs),
            "verdict": "differ: refused",
        }
    seconds = time.perf_counter() - started
    name = proposal.recommended
    if name is None:
        shown = "none (" + ", ".join(proposal.overview or {}) + ")"
        return {
            "case": case,
            "recommended": shown,
            "engineers": describe(*theirs),
            "verdict": "differ: no recommendation",
            "seconds": seconds,
        }
    plan = proposal.overview[name]
    ours = migdoc_changes(plan)
    applied = doctor.apply_fix(project, doctor.FixProposal(proposal.before, proposal.options, plan=plan))
    result = f"errors {applied.errors_before}->{applied.errors_after}" + (
        " ROLLED BACK" if applied.is_rolled_back else ""
    )
    flags = " ".join(f"--{s}" for s in plan.strategies)
    return {
        "case": case,
        "recommended": f"{flags}: {describe(*ours)}",
        "engineers": describe(*theirs),
        "verdict": verdict(ours, theirs),
        "applied": result,
        "seconds": seconds,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("mirrors", type=Path, help="folder of bare mirrors, <owner>+<name>/repo")
    parser.add_argument("cases", type=Path, help="the list: owner/name commit path repair_commit")
    parser.add_argument("--work", type=Path, default=Path("/tmp/migdoc-fix-history"))
    parser.add_argument("--keep-clones", action="store_true", help="leave the clones in --work (faster reruns)")
    args = parser.parse_args(argv)
    args.work.mkdir(parents=True, exist_ok=True)
    rows = [run_case(case, args.mirrors, args.work) for case in read_list(args.cases)]
    print("| project | commit | migdoc recommends | engineers did (commit) | verdict | after --apply |")
    print("|---|---|---|---|---|---|")
    for row in rows:
        case = row["case"]
        print(
            f"| {case.repo.split('/')[1]} | {case.commit[:10]} | {row['recommended']} | "
            f"{row['engineers']} ({case.repair[:10]}) | {row['verdict']} | {row.get('applied', '-')} |"
        )
    matched = sum(1 for row in rows if row["verdict"].startswith("match"))
    print(f"\n{matched} of {len(rows)} match what the engineers did")
    if not args.keep_clones:
        shutil.rmtree(args.work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
