"""Benchmark: the rules alone (``run_checks``) on long chains, in CPU time.

Writes ``bench_scan``'s chains (20,000 revisions by default) once, reads each project,
then times ``run_checks`` on a fresh graph, best of ``--repeat``, with the garbage
collector paused as ``migdoc check`` pauses it, and the read and result caches off.
CPU time, not wall-clock: on a shared machine wall-clock varied by 2x between runs.

    python benchmarks/bench_rules.py                              # this checkout
    python benchmarks/bench_rules.py --keep /tmp/chains           # keep the chains to compare
    (cd /tmp && PYTHONPATH=/path/to/other/checkout python /path/to/bench_rules.py --keep /tmp/chains)

Run from outside the checkout (or with PYTHONPATH) to time another version of migdoc.
"""

from __future__ import annotations

import argparse
import gc
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_scan import write_project  # noqa: E402

SHAPES = ("add_column", "create_table", "wide_merge", "open_heads")


def rule_seconds(path: Path, repeat: int) -> float:
    from migdoc.chain.graph import build_graph
    from migdoc.doctor import load_project
    from migdoc.rules import CheckContext, run_checks

    project = load_project(path)
    best = float("inf")
    for _ in range(repeat):
        graph = build_graph(project.files)
        started = time.process_time()
        run_checks(CheckContext(graph))
        best = min(best, time.process_time() - started)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", type=int, default=20000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--keep", type=Path, default=None, help="write (or reuse) the chains here")
    args = parser.parse_args()
    os.environ["MIGDOC_NO_CACHE"] = "1"
    root = args.keep or Path(tempfile.mkdtemp(prefix="migdoc-bench-rules-"))
    import migdoc

    print(f"migdoc from {Path(migdoc.__file__).parent}")
    gc.disable()
    for shape in SHAPES:
        project = root / f"{shape}_{args.size}"
        if not project.exists():
            write_project(project, args.size, shape)
        print(f"{shape:>14}: rules {rule_seconds(project, args.repeat):.2f} s CPU")


if __name__ == "__main__":
    main()
