"""Benchmark: `migdoc fix` planning on long chains (issue 11: 20,000 revisions must plan).

Writes the chain ``bench_scan`` writes (Alembic's template, a fork and merge
every 40 revisions), then grows a dead branch of a fifth of N off its sixth
revision, so ``--archive`` has thousands of files to move and ``--merge`` two
heads to join. Times whole processes (the plan only, never ``--apply``) and
reports medians and peak memory.

    python benchmarks/bench_fix.py                  # N = 1000, 5000, 20000
    python benchmarks/bench_fix.py --sizes 20000 --repeat 1

Run by hand; a recursion in the planner's line graph shows here as exit 3.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_scan import rev_id, run_once, write_project, write_revision  # noqa: E402


def write_forked_chain(root: Path, count: int) -> None:
    """``count`` revisions: four fifths main line, one fifth a dead branch off revision 5."""
    branch = count // 5
    write_project(root, count - branch)
    versions = root / "migrations" / "versions"
    previous = rev_id(5)
    for n in range(10**7, 10**7 + branch):
        rev = rev_id(n)
        write_revision(versions, n, rev, (previous,))
        previous = rev


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 5000, 20000])
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    bindir = Path(sys.executable).parent
    commands = {
        "fix (overview)": [str(bindir / "migdoc"), "fix"],
        "fix --archive": [str(bindir / "migdoc"), "fix", "--archive", "--format", "json"],
        "fix --merge": [str(bindir / "migdoc"), "fix", "--merge", "--format", "json"],
    }
    print("| revisions | command | median (s) | peak MB |")
    print("|---:|---|---:|---:|")
    for size in args.sizes:
        root = Path(tempfile.mkdtemp(prefix="migdoc-bench-fix-"))
        try:
            write_forked_chain(root, size)
            run_once(commands["fix (overview)"], root)  # warm the page cache and migdoc's read cache
            for label, command in commands.items():
                runs = [run_once(command, root) for _ in range(args.repeat)]
                seconds = statistics.median(r[0] for r in runs)
                peak = max(r[2] for r in runs)  # (wall s, CPU s, peak MB)
                print(f"| {size:,} | `{label}` | {seconds:.2f} | {peak:.0f} |", flush=True)
        finally:
            shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
