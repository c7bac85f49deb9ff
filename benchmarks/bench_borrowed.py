"""What containment costs on a borrowed server, run by hand:
``python benchmarks/bench_borrowed.py [--sizes 3,200] [--repeat 3]``.

A private PostgreSQL stands in for the borrowed server (its URL is a superuser's). For each
chain (``dryrun_clean``'s 3 revisions, or a chain generated as ``bench_dryrun.py`` makes
it), ``migdoc dryrun --server URL`` as the user runs it: the project's code as the role made
for the run (the default) against ``--run-as-server-role`` (the URL's own role), the two
interleaved; medians of wall time. Then the server-state read that runs before and after
every borrowed run, alone.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

from bench_dryrun import make_chain

from migdoc.dryrun.binaries import find_binaries
from migdoc.dryrun.borrowed import server_state
from migdoc.dryrun.cluster import PrivateServer

FIXTURE = Path(__file__).resolve().parent.parent / "fixtures" / "dryrun_clean"
MODES = {"run role (default)": [], "--run-as-server-role": ["--run-as-server-role"]}


def project(size: int, folder: Path) -> Path:
    if size == 3:
        return Path(shutil.copytree(FIXTURE, folder / "dryrun_clean"))
    return make_chain(folder / f"chain{size}", size)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="3,200")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    server = PrivateServer(find_binaries())
    server.start()
    try:
        with tempfile.TemporaryDirectory() as folder:
            print("| revisions | " + " | ".join(MODES) + " |\n|---:|---:|---:|")
            for size in (int(size) for size in args.sizes.split(",")):
                root = project(size, Path(folder))
                times: dict[str, list[float]] = {mode: [] for mode in MODES}
                for _ in range(args.repeat):
                    for mode, extra in MODES.items():
                        started = time.perf_counter()
                        done = subprocess.run(
                            ["migdoc", "dryrun", str(root), "--server", server.url, *extra],
                            capture_output=True,
                            text=True,
                            check=False,
                        )
                        times[mode].append(time.perf_counter() - started)
                        assert done.returncode == 0, done.stdout + done.stderr
                medians = [f"{statistics.median(values):.2f} s" for values in times.values()]
                print(f"| {size} | " + " | ".join(medians) + " |")
        from sqlalchemy import create_engine

        engine = create_engine(server.url, isolation_level="AUTOCOMMIT")
        with engine.connect() as connection:
            reads = []
            for _ in range(20):
                started = time.perf_counter()
                state = server_state(connection, "not_a_database", "not_a_role")
                reads.append(time.perf_counter() - started)
        engine.dispose()
        print(f"\nserver state: {len(state)} entries read in {statistics.median(reads) * 1000:.1f} ms (median of 20)")
        with open("/proc/loadavg") as load:
            print(f"load average at the end {load.read().split()[0]}")
    finally:
        server.stop()


if __name__ == "__main__":
    main()
