"""Differential fuzz of migdoc's reader against Python, bigger than CI's (issue 23).

    python benchmarks/fuzz_reader.py                       # 20,000 modules, seed 23
    python benchmarks/fuzz_reader.py --count 100000 --seed 7
    python benchmarks/fuzz_reader.py --reader /tmp/main/migdoc/project/reader.py   # another reader

Prints how many modules were compared, how many did not import (not compared), silent
misreads, false MD014 and how often the reader honestly said it cannot know; ``--show N``
prints the first N misreads. Exit 1 when there is any misread or false MD014.
"""

from __future__ import annotations

import argparse
import importlib.util
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from assignment_fuzz import run  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--count", type=int, default=20_000)
    parser.add_argument("--seed", type=int, default=23)
    parser.add_argument("--reader", help="path of another reader.py (its read_revision is compared)")
    parser.add_argument("--show", type=int, default=0, help="print the first N misreads")
    args = parser.parse_args()
    if args.reader:
        spec = importlib.util.spec_from_file_location("other_reader", args.reader)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        read = module.read_revision
    else:
        from migdoc.project.reader import read_revision as read
    started = time.perf_counter()
    tally = run(args.count, args.seed, read)
    print(
        f"{args.count} modules (seed {args.seed}): {tally.compared} compared, {tally.not_importable} do not import; "
        f"silent misreads {len(tally.silent_misreads)}, false MD014 {len(tally.false_stray)}, "
        f"said it cannot know {tally.said_unknown}; {time.perf_counter() - started:.1f} s"
    )
    for source in tally.silent_misreads[: args.show]:
        print("----\n" + source)
    return 1 if tally.silent_misreads or tally.false_stray else 0


if __name__ == "__main__":
    sys.exit(main())
