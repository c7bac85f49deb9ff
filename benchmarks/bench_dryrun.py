"""Dry-run speed, run by hand: ``python benchmarks/bench_dryrun.py [--revisions 200] [--repeat 5]``.

Measures (1) time to a ready private server, cold (initdb) and warm (cached data
directory copied), on tmpfs and on disk; (2) the stairway on a generated chain
against Alembic's own ``upgrade head`` + ``downgrade base`` + ``upgrade head`` on
the same server, each in a fresh database.
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


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--revisions", type=int, default=200)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    binaries = find_binaries(os.environ.get("MIGDOC_TEST_PG_BINDIR") or None)
    print(
        f"PostgreSQL {binaries.version} ({binaries.bindir}); Python {platform.python_version()}; "
        f"{os.cpu_count()} CPUs; {platform.platform()}"
    )
    disk = Path(tempfile.gettempdir())
    for label, kwargs in (
        ("cold start (initdb), tmpfs", {"use_cache": False, "run_base": None}),
        ("cold start (initdb), disk ", {"use_cache": False, "run_base": disk}),
        ("warm start (cached), tmpfs", {"use_cache": True, "run_base": None}),
        ("warm start (cached), disk ", {"use_cache": True, "run_base": disk}),
    ):
        times = time_start(binaries, repeat=args.repeat, **kwargs)
        print(f"{label}: median {statistics.median(times):.3f} s  (min {min(times):.3f}, n={len(times)})")

    with tempfile.TemporaryDirectory() as tmp, PrivateServer(binaries) as server:
        root = make_chain(Path(tmp) / "chain", args.revisions)
        project = load_project(root)
        refs, stairs, ups = [], [], []
        for n in range(args.repeat):
            with contextlib.redirect_stderr(io.StringIO()):
                refs.append(alembic_reference(root, fresh_database(server, f"ref{n}")))
            result = Stairway(project, fresh_database(server, f"stair{n}")).run()
            assert result.ok, result.failure
            stairs.append(result.seconds)
            result = Stairway(project, fresh_database(server, f"up{n}"), downgrade=False).run()
            ups.append(result.seconds)
        ref, stair = statistics.median(refs), statistics.median(stairs)
        print(f"alembic upgrade head + downgrade base + upgrade head, {args.revisions} revisions: median {ref:.3f} s")
        print(
            f"migdoc stairway (up, snapshot, down, snapshot+compare, up per revision): median {stair:.3f} s"
            f"  = {stair / ref:.2f}x the reference"
        )
        print(f"migdoc --no-downgrade: median {statistics.median(ups):.3f} s")


if __name__ == "__main__":
    sys.exit(main())
