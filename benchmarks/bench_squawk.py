"""migdoc's static lock rules (MD025-MD028) next to squawk, by hand, not in CI.

    python -m venv /tmp/squawk-venv && /tmp/squawk-venv/bin/pip install squawk-cli
    .venv/bin/python benchmarks/bench_squawk.py [--squawk /tmp/squawk-venv/bin/squawk]

For each of five planted risks (one revision on a table an earlier revision created) and
for healthy chains (fixtures/healthy_*, fixtures/demo, whose faults are in the chain's
shape, not its locks, a generated realistic 50-revision chain of new tables, indexes on
new tables and nullable columns), the revision's SQL is written by
``alembic upgrade --sql`` (offline) and given to squawk; migdoc reads the Python files
(``static_lock_findings``, and ``check`` once the rules are registered) and, where the
dry-run reports lock risks, ``migdoc dryrun``. Prints each tool's findings per risk and
the counts on the healthy chains.
"""

from __future__ import annotations

import argparse
import configparser
import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from migdoc.doctor import load_project  # noqa: E402
from migdoc.rules.lock_static import static_lock_findings  # noqa: E402

LOCK_CODES = ("MD025", "MD026", "MD027", "MD028")
INI = "[alembic]\nscript_location = %(here)s/migrations\nsqlalchemy.url = postgresql://u@localhost/db\n"
ENV = (ROOT / "fixtures" / "healthy_pyproject_only" / "migrations" / "env.py").read_text()
MAKO = (ROOT / "fixtures" / "healthy_pyproject_only" / "migrations" / "script.py.mako").read_text()
BASE = """op.execute("CREATE TYPE order_state AS ENUM ('new', 'paid')")
    op.create_table("customers", sa.Column("id", sa.BigInteger(), primary_key=True))
    op.create_table(
        "orders",
        sa.Column("id", sa.BigInteger(), primary_key=True),
        sa.Column("status", sa.Text()),
        sa.Column("customer_id", sa.Integer()),
        sa.Column("state", postgresql.ENUM(name="order_state", create_type=False)),
    )"""
PLANTED = {
    "plain create_index": 'op.create_index("ix_orders_status", "orders", ["status"])',
    "NOT NULL column, volatile default": (
        'op.add_column("orders", sa.Column("token", sa.Uuid(), nullable=False, '
        'server_default=sa.text("gen_random_uuid()")))'
    ),
    "ALTER TYPE on an enum": "op.execute(\"ALTER TYPE order_state ADD VALUE 'refunded'\")",
    "FK validated in place": (
        'op.create_foreign_key("fk_orders_customer", "orders", "customers", ["customer_id"], ["id"])'
    ),
    "column type change": (
        'op.alter_column("orders", "customer_id", type_=sa.BigInteger(), existing_type=sa.Integer())'
    ),
}


def revision_file(rev: str, down: str | None, body: str) -> str:
    return (
        f'"""{rev}\n\nRevision ID: {rev}\nRevises: {down or ""}\nCreate Date: 2025-01-01 00:00:00\n\n"""\n'
        "from alembic import op\nimport sqlalchemy as sa\nfrom sqlalchemy.dialects import postgresql\n\n"
        f"revision = {rev!r}\ndown_revision = {down!r}\nbranch_labels = None\ndepends_on = None\n\n\n"
        f"def upgrade():\n    {body}\n\n\ndef downgrade():\n    pass\n"
    )


def write_project(folder: Path, bodies: list[str]) -> None:
    versions = folder / "migrations" / "versions"
    versions.mkdir(parents=True)
    (folder / "alembic.ini").write_text(INI)
    (folder / "migrations" / "env.py").write_text(ENV)
    (folder / "migrations" / "script.py.mako").write_text(MAKO)
    down = None
    for number, body in enumerate(bodies, 1):
        rev = f"{number:04d}"
        (versions / f"{rev}_step.py").write_text(revision_file(rev, down, body))
        down = rev


def realistic_chain(count: int = 50) -> list[str]:
    """New tables, indexes on new tables, FKs between new tables, nullable columns."""
    bodies = []
    for n in range(count):
        if n % 3 == 2:
            bodies.append(f'op.add_column("t{n - 1}", sa.Column("note_{n}", sa.Text(), nullable=True))')
            continue
        parent = f', sa.Column("parent_id", sa.BigInteger(), sa.ForeignKey("t{n - 1}.id"))' if n % 3 == 1 else ""
        bodies.append(
            f'op.create_table("t{n}", sa.Column("id", sa.BigInteger(), primary_key=True), '
            f'sa.Column("name", sa.Text(), nullable=False){parent})\n'
            f'    op.create_index("ix_t{n}_name", "t{n}", ["name"])'
        )
    return bodies


def offline_sql(project: Path, start: str | None, name: str = "alembic", target: str | None = None) -> str | None:
    """The chain's SQL from ``start`` (exclusive) to the heads, as ``alembic upgrade --sql`` writes it.
    A fixture without a URL gets one in its (copied) ini: offline mode needs only the dialect."""
    ini = project / "alembic.ini"
    parser = configparser.ConfigParser(interpolation=None)
    parser.read(ini)
    if parser.has_section(name) and not parser.has_option(name, "sqlalchemy.url"):
        ini.write_text(
            ini.read_text().replace(f"[{name}]", f"[{name}]\nsqlalchemy.url = postgresql://u@localhost/db", 1)
        )
    target = target or (f"{start}:heads" if start else "heads")
    done = subprocess.run(
        [sys.executable, "-m", "alembic", "-c", str(project / "alembic.ini"), "-n", name, "upgrade", target, "--sql"],
        capture_output=True,
        text=True,
        cwd=project,
        env={**os.environ, "DATABASE_URL": "postgresql://u@localhost/db"},
    )
    return done.stdout if done.returncode == 0 else None


def squawk(binary: str | None, sql: str | None) -> list[str] | str:
    """The rule of each squawk warning, one entry per warning."""
    if binary is None:
        return "squawk not installed"
    if sql is None:
        return "alembic --sql failed"
    with tempfile.NamedTemporaryFile("w", suffix=".sql", delete=False) as handle:
        handle.write(sql)
    done = subprocess.run([binary, "--reporter", "gcc", handle.name], capture_output=True, text=True)
    Path(handle.name).unlink()
    return sorted(line.split(": warning: ")[1].split()[0] for line in done.stdout.splitlines() if ": warning: " in line)


SQUAWK_LOCK_RULES = frozenset(
    {
        "require-concurrent-index-creation",
        "adding-field-with-default",
        "changing-column-type",
        "constraint-missing-not-valid",
        "adding-foreign-key-constraint",
        "adding-not-nullable-field",
        "setting-not-nullable-field",
        "adding-serial-primary-key-field",
        "disallowed-unique-constraint",
        "require-lock-timeout",
    }
)
"""squawk's rules about locks (the rest are style: prefer-bigint-over-int, prefer-text-field...)."""


def squawk_per_revision(binary: str | None, project: Path, name: str, files) -> list[str] | str:
    """squawk on each revision's own SQL, as a team deploys and lints one migration at a time
    (on the whole chain's SQL squawk takes every table as new: CREATE TABLE is in the same file)."""
    found: list[str] = []
    for rf in files:
        if rf.revision is None or len(rf.down_revisions) > 1:
            continue  # a merge revision runs no SQL of its own here
        start = rf.down_revisions[0] if rf.down_revisions else "base"
        sql = offline_sql(project, None, name, target=f"{start}:{rf.revision}")
        result = squawk(binary, sql)
        if isinstance(result, str):
            return result
        found += result
    return found


def migdoc_static(project: Path, **load) -> list[str]:
    """MD025-MD028 as ``migdoc check`` reports them once the rules are registered
    (``migdoc.rules.locks``); before that, the static reader's own findings."""
    from migdoc.doctor import check_project
    from migdoc.rules import RULES

    loaded = load_project(project, is_read_only=True, **load)
    if all(code in RULES for code in LOCK_CODES):
        return sorted(d.code for d in check_project(loaded, select=LOCK_CODES).diagnostics)
    return sorted(code for code, _ in static_lock_findings(loaded.context()))


def migdoc_dryrun(project: Path) -> list[str] | str:
    done = subprocess.run(
        [sys.executable, "-m", "migdoc", "dryrun", str(project), "--format", "json"], capture_output=True, text=True
    )
    try:
        payload = json.loads(done.stdout)
    except ValueError:
        return "not available (dryrun failed: " + (done.stderr.strip().splitlines() or ["?"])[-1][:80] + ")"
    if not isinstance(payload, dict) or "lock_risks" not in payload:
        return "not available (this migdoc's dry-run reports no lock risks)"
    return sorted(risk["code"] for risk in payload["lock_risks"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--squawk", default=shutil.which("squawk"), help="the squawk binary (pip install squawk-cli)")
    parser.add_argument("--no-dryrun", action="store_true", help="skip migdoc dryrun (needs PostgreSQL binaries)")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench_squawk_"))
    print("## planted risks (one revision on a table an earlier revision created)\n")
    print("| risk | squawk (rules on the risky revision's SQL) | migdoc check (static) | migdoc dryrun |")
    print("|---|---|---|---|")
    for name, body in PLANTED.items():
        project = work / name.replace(" ", "_").replace(",", "")
        write_project(project, [BASE, body])
        found = squawk(args.squawk, offline_sql(project, "0001"))
        dry = "skipped" if args.no_dryrun else migdoc_dryrun(project)
        print(
            f"| {name} | {', '.join(sorted(set(found))) if isinstance(found, list) else found} | "
            f"{', '.join(migdoc_static(project)) or 'nothing'} | {(', '.join(dry) or 'nothing') if isinstance(dry, list) else dry} |"
        )
    print("\n## healthy chains (squawk on each revision's SQL; migdoc on the chain)\n")
    print("| chain | revisions | squawk warnings (all) | squawk lock warnings (by rule) | migdoc MD025-MD028 |")
    print("|---|---|---|---|---|")
    generated = work / "generated_healthy_50"
    write_project(generated, realistic_chain())
    chains = [(generated, {}), (ROOT / "fixtures" / "demo", {})] + [
        (path, {"name": "shop"} if path.name == "healthy_named_sections" else {})
        for path in sorted((ROOT / "fixtures").glob("healthy_*"))
    ]
    for path, load in chains:
        copy = work / "fixtures" / path.name
        if not copy.exists():
            shutil.copytree(path, copy)
        files = load_project(copy, is_read_only=True, **load).files
        squawked = (
            squawk_per_revision(args.squawk, copy, load.get("name", "alembic"), files)
            if (copy / "alembic.ini").exists()
            else "no alembic.ini"
        )
        counts = Counter(migdoc_static(copy, **load))
        if isinstance(squawked, list):
            locks = Counter(rule for rule in squawked if rule in SQUAWK_LOCK_RULES)
            squawk_text = f"{len(squawked)} | {sum(locks.values())}: " + ", ".join(
                f"{rule} {n}" for rule, n in sorted(locks.items())
            )
        else:
            squawk_text = f"{squawked} | -"
        print(f"| {path.name} | {len(files)} | {squawk_text} | {sum(counts.values())} {dict(counts) or ''} |")
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
