"""Dry-run speed, run by hand: ``python benchmarks/bench_dryrun.py [--sizes 50,200,1000] [--repeat 5]``.

Measures (1) time to a ready private server, cold (initdb) and warm (cached data
directory copied), on tmpfs and on disk (``--no-start`` skips it); (2) for each chain
size, the stairway on a generated chain (one table and one index per revision, so the
schema grows with the chain) against Alembic's own ``upgrade head`` + ``downgrade base``
+ ``upgrade head`` in one process, on the same server, each run in a fresh database, the
three kinds of run interleaved; and ``--no-downgrade``. "stairway - Alembic" is what the
stairway adds per revision (its snapshots and comparisons, a transaction per step):
the part that must stay flat as the schema grows. Medians of wall time: the machine's
other jobs slow single runs down, not the median much.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

from migdoc.doctor import load_project
from migdoc.dryrun.binaries import find_binaries
from migdoc.dryrun.cluster import PrivateServer
from migdoc.dryrun.guard import RunIdentity
from migdoc.dryrun.runner import Stairway

ENV_PY = """\
from alembic import context
from sqlalchemy import engine_from_config, pool

config = context.config
connectable = engine_from_config(config.get_section(config.config_ini_section, {}), prefix="sqlalchemy.",
                                 poolclass=pool.NullPool)
with connectable.connect() as connection:
    context.configure(connection=connection)
    with context.begin_transaction():
        context.run_migrations()
"""

REVISION = '''\
"""step {i}"""
import sqlalchemy as sa
from alembic import op

revision = "r{i:04d}"
down_revision = {down}
branch_labels = None
depends_on = None


def upgrade():
    op.create_table("t{i}", sa.Column("id", sa.Integer, primary_key=True), sa.Column("name", sa.Text, nullable=False))
    op.create_index("ix_t{i}_name", "t{i}", ["name"])


def downgrade():
    op.drop_index("ix_t{i}_name", table_name="t{i}")
    op.drop_table("t{i}")
'''


def make_chain(root: Path, count: int) -> Path:
    versions = root / "migrations" / "versions"
    versions.mkdir(parents=True)
    (root / "alembic.ini").write_text("[alembic]\nscript_location = %(here)s/migrations\nsqlalchemy.url = x://\n")
    (root / "migrations" / "env.py").write_text(ENV_PY)
    for i in range(count):
        down = "None" if i == 0 else f'"r{i - 1:04d}"'
        (versions / f"r{i:04d}_step.py").write_text(REVISION.format(i=i, down=down))
    return root


def time_start(binaries, *, use_cache: bool, run_base: Path | None, repeat: int) -> list[float]:
    times = []
    for _ in range(repeat):
        server = PrivateServer(binaries, use_cache=use_cache, run_base=run_base)
        started = time.perf_counter()
        server.start()
        times.append(time.perf_counter() - started)
        server.stop()
    return times


def fresh_database(server, name: str) -> str:
    import psycopg

    with psycopg.connect(host=str(server.socket_dir), user="postgres", dbname="postgres", autocommit=True) as c:
        c.execute(f'CREATE DATABASE "{name}" TEMPLATE template0')
    # the superuser URL names "postgres"; the same socket, another database
    return server.url.replace("@/postgres?", f"@/{name}?")


def alembic_reference(project_root: Path, url: str) -> float:
    from alembic import command
    from alembic.config import Config

    config = Config(str(project_root / "alembic.ini"))
    config.set_main_option("sqlalchemy.url", url)
    started = time.perf_counter()
    command.upgrade(config, "head")
    command.downgrade(config, "base")
    command.upgrade(config, "head")
    return time.perf_counter() - started


def guarded_stairway(project, server, name: str, **kwargs) -> Stairway:
    """The stairway as ``migdoc dryrun`` runs it: with the connection guard, which also
    makes each step its own transaction (without it the whole run is one transaction)."""
    url = fresh_database(server, name)
    return Stairway(project, url, identity=RunIdentity(name, server.run_token, str(server.socket_dir)), **kwargs)


def scaling_row(server, count: int, repeat: int) -> dict[str, float]:
    """Medians for one chain size: Alembic's up/down/up, the stairway, the stairway without downgrades."""
    with tempfile.TemporaryDirectory() as tmp:
        root = make_chain(Path(tmp) / "chain", count)
        project = load_project(root)
        refs, stairs, ups = [], [], []
        for n in range(repeat):
            with contextlib.redirect_stderr(io.StringIO()):
                refs.append(alembic_reference(root, fresh_database(server, f"ref{count}_{n}")))
            result = guarded_stairway(project, server, f"stair{count}_{n}").run()
            assert result.ok, result.failure
            stairs.append(result.seconds)
            result = guarded_stairway(project, server, f"up{count}_{n}", downgrade=False).run()
            assert result.ok, result.failure
            ups.append(result.seconds)
    return {
        "alembic": statistics.median(refs),
        "stairway": statistics.median(stairs),
        "no_downgrade": statistics.median(ups),
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", default="50,200,1000", help="chain lengths, comma-separated")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--no-start", action="store_true", help="skip the server start-up timings")
    args = parser.parse_args()
    sizes = [int(size) for size in args.sizes.split(",")]
    binaries = find_binaries(os.environ.get("MIGDOC_TEST_PG_BINDIR") or None)
    print(
        f"PostgreSQL {binaries.version} ({binaries.bindir}); Python {platform.python_version()}; "
        f"{os.cpu_count()} CPUs; {platform.platform()}; load average at start {os.getloadavg()[0]:.1f}"
    )
    disk = Path(tempfile.gettempdir())
    for label, kwargs in (
        ()
        if args.no_start
        else (
            ("cold start (initdb), tmpfs", {"use_cache": False, "run_base": None}),
            ("cold start (initdb), disk ", {"use_cache": False, "run_base": disk}),
            ("warm start (cached), tmpfs", {"use_cache": True, "run_base": None}),
            ("warm start (cached), disk ", {"use_cache": True, "run_base": disk}),
        )
    ):
        times = time_start(binaries, repeat=args.repeat, **kwargs)
        print(f"{label}: median {statistics.median(times):.3f} s  (min {min(times):.3f}, n={len(times)})")

    print(f"\nmedians of {args.repeat} (wall time; stairway = up, snapshot, down, compare, up per revision)\n")
    print(
        "| revisions | Alembic up + down + up | migdoc stairway | stairway / Alembic | stairway per revision "
        "| stairway - Alembic, per revision | --no-downgrade |"
    )
    print("|---:|---:|---:|---:|---:|---:|---:|")
    with PrivateServer(binaries) as server:
        for count in sizes:
            row = scaling_row(server, count, args.repeat)
            print(
                f"| {count:,} | {row['alembic']:.2f} s | {row['stairway']:.2f} s | "
                f"{row['stairway'] / row['alembic']:.2f}x | {row['stairway'] / count * 1000:.1f} ms | "
                f"{(row['stairway'] - row['alembic']) / count * 1000:.1f} ms | {row['no_downgrade']:.2f} s |",
                flush=True,
            )
    print(f"\nload average at the end {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    sys.exit(main())
