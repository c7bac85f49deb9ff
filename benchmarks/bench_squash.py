"""Benchmark: `migdoc squash` on a real, long public chain (run by hand).

Copies the project (its Alembic config and script folder) to a temporary folder, then:

1. times a fresh `alembic upgrade head` of the old chain (the project's Python, a new
   database on ``--server``);
2. runs `migdoc squash --to REV --apply` (with ``--drop-data`` or ``--keep-data`` as
   given) and prints its proofs: the schema comparison at REV and at the heads, and the
   baseline's downgrade;
3. times a fresh `alembic upgrade head` of the squashed chain; `migdoc check` on it.

    python benchmarks/bench_squash.py /tmp/airflow-proj --to ec3471c1e067 \\
        --python /tmp/airflow-venv/bin/python --url-env AIRFLOW__DATABASE__SQL_ALCHEMY_CONN \\
        --server 'postgresql://postgres@/postgres?host=/tmp/afpg/sock' --drop-data

The URL env.py reads is set in each ``--url-env`` variable (default DATABASE_URL), with
the project's driver (``--driver``, default psycopg2).
"""

from __future__ import annotations

import argparse
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

MIGDOC = [sys.executable, "-m", "migdoc"]


def fresh_upgrade(project: Path, python: str, server: str, url_env: list[str], driver: str) -> float:
    """Seconds of `alembic upgrade head` on a new database (dropped afterwards)."""
    import psycopg
    from sqlalchemy.engine import make_url

    parsed = make_url(server)
    name = f"bench_squash_{secrets.token_hex(4)}"
    connect = {"host": parsed.query.get("host") or parsed.host, "user": parsed.username, "dbname": parsed.database}
    with psycopg.connect(**{k: v for k, v in connect.items() if v}, autocommit=True) as connection:
        connection.execute(f'CREATE DATABASE "{name}"')
    url = parsed.set(drivername=f"postgresql+{driver}", database=name).render_as_string(hide_password=False)
    env = {**os.environ, **{variable: url for variable in url_env}}
    try:
        started = time.perf_counter()
        done = subprocess.run(
            [python, "-m", "alembic", "-c", "alembic.ini", "-x", f"url={url}", "upgrade", "head"],
            cwd=project,
            env=env,
            capture_output=True,
            text=True,
        )
        seconds = time.perf_counter() - started
        if done.returncode != 0:
            raise SystemExit(f"alembic upgrade head failed:\n{done.stderr[-3000:]}")
        return seconds
    finally:
        with psycopg.connect(**{k: v for k, v in connect.items() if v}, autocommit=True) as connection:
            connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("project")
    parser.add_argument("--to", required=True)
    parser.add_argument("--python", default=sys.executable)
    parser.add_argument("--server", required=True)
    parser.add_argument("--url-env", action="append", default=[])
    parser.add_argument("--driver", default="psycopg2")
    parser.add_argument("--drop-data", action="store_true")
    parser.add_argument("--keep-data", action="store_true")
    args = parser.parse_args()
    url_env = args.url_env or ["DATABASE_URL"]
    with tempfile.TemporaryDirectory(prefix="bench-squash-") as temporary:
        project = Path(temporary) / "project"
        shutil.copytree(args.project, project, ignore=shutil.ignore_patterns("__pycache__", ".git", ".migdoc"))
        before = fresh_upgrade(project, args.python, args.server, url_env, args.driver)
        revisions = sum(1 for p in project.rglob("versions/*.py") if p.name != "__init__.py")
        command = [
            *MIGDOC,
            "squash",
            "--to",
            args.to,
            "--apply",
            "--python",
            args.python,
            "--server",
            args.server,
            *(f"--url-env={name}" for name in url_env),
            *(["--drop-data"] if args.drop_data else []),
            *(["--keep-data"] if args.keep_data else []),
            str(project),
        ]
        started = time.perf_counter()
        squashed = subprocess.run(command, capture_output=True, text=True)
        squash_seconds = time.perf_counter() - started
        for line in squashed.stdout.splitlines():
            if line.strip().startswith(("proved:", "NOT PROVED:", "migdoc squash")):
                print(line.strip())
        print(squashed.stderr.strip().splitlines()[-1] if squashed.stderr.strip() else "")
        if squashed.returncode != 0:
            raise SystemExit(f"squash exited {squashed.returncode}")
        after = fresh_upgrade(project, args.python, args.server, url_env, args.driver)
        left = sum(1 for p in project.rglob("versions/*.py") if p.name != "__init__.py")
        checked = subprocess.run([*MIGDOC, "check", str(project)], capture_output=True, text=True)
        print(f"version files: {revisions} -> {left}")
        print(f"migdoc squash --apply (plan, proofs, write): {squash_seconds:.1f} s")
        print(f"fresh `alembic upgrade head`: {before:.1f} s before, {after:.1f} s after")
        print(f"migdoc check after: exit {checked.returncode}: {checked.stdout.strip().splitlines()[-1]}")


if __name__ == "__main__":
    main()
