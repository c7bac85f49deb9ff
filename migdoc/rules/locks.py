"""Lock risks of an upgrade step: MD025 blocking-index, MD026 table-rewrite, MD027
validated-constraint, MD028 exclusive-lock. Severity warning; each finding names the
revision, its file and the line of the responsible ``op.*`` call (else ``upgrade()``'s).

The rules read the version files alone (``migdoc.rules.lock_static``: the ``op.*`` calls and
literal SQL, no database). The dry-run measures the same four risks on a throwaway PostgreSQL
(``migdoc.dryrun.locks``), and where it measured a revision its findings replace the static
ones (``migdoc.dryrun.findings.with_dryrun``: the server is the judge of what a step locked).

Revisions already deployed (``--database-url``) or already on ``--base-ref``'s branch are
left out: their risks are history (:func:`settled_revisions`).
"""

from __future__ import annotations

from collections.abc import Iterator

from migdoc.database.upgrades import applied_revisions
from migdoc.rules.lock_static import static_lock_findings
from migdoc.rules.registry import CheckContext, Finding, rule

LOCK_CODES = ("MD025", "MD026", "MD027", "MD028")
OURS = "ours"
"""``migdoc.gitref.OURS``: a file this branch added or changed (the rules read what git said,
through ``CheckContext.merged``, and never import git's edge)."""


def settled_revisions(context: CheckContext) -> frozenset[str]:
    """Revisions whose lock risks are history, not a decision still to make: those the deployed
    database has applied (``--database-url``), and those already on ``--base-ref``'s branch that
    this branch did not change. A migration that ran in production cannot be made safer; a
    pull request's own revisions can."""
    settled: set[str] = set()
    if context.deployed:
        settled |= applied_revisions(context.graph, context.deployed)
    if context.merged is not None:
        ours = {rf.revision for rf in context.merged.files if context.merged.origins.get(rf.path) == OURS}
        settled |= set(context.merged.ref_revisions) - ours
    return frozenset(settled)


def lock_findings(code: str, context: CheckContext) -> Iterator[Finding]:
    """``code``'s findings read from the files, but in revisions whose risks are history."""
    settled = settled_revisions(context)
    for found_code, finding in static_lock_findings(context):
        if found_code == code and finding.revision not in settled:
            yield finding


@rule(
    "MD025",
    "blocking-index",
    "warning",
    summary=(
        "An upgrade creates an index on a table an earlier revision created without `CONCURRENTLY`: the build "
        "holds a SHARE lock on the table, which blocks every INSERT, UPDATE and DELETE until it ends."
    ),
    why=(
        "On an empty test database the build takes milliseconds; on a production table it takes minutes, and "
        "every write to the table waits that long (and every query queued behind those writes)."
    ),
    example="""
0004_index_orders_by_customer.py
    op.create_index("ix_orders_customer_id", "orders", ["customer_id"])
  <- MD025: CREATE INDEX ix_orders_customer_id on orders without CONCURRENTLY holds SHARE on orders ...""",
    fix=(
        "Not changed by `fix`. Build it with `postgresql_concurrently=True` inside "
        "`with op.get_context().autocommit_block():` (CREATE INDEX CONCURRENTLY cannot run in a transaction)."
    ),
)
def blocking_index(context: CheckContext) -> Iterator[Finding]:
    return lock_findings("MD025", context)


@rule(
    "MD026",
    "table-rewrite",
    "warning",
    summary=(
        "An upgrade rewrites a table an earlier revision created (a column type change that is not binary "
        "compatible, a column added with a volatile default, SET LOGGED...): the whole table is copied under "
        "ACCESS EXCLUSIVE."
    ),
    why=(
        "Nothing can read or write the table while it is copied, and the copy takes as long as the table is big; "
        "the step also needs twice the table's disk space."
    ),
    example="""
0005_amount_to_numeric.py
    op.alter_column("orders", "amount", type_=sa.Numeric(12, 2))
  <- MD026: rewrites orders under ACCESS EXCLUSIVE ...""",
    fix=(
        "Not changed by `fix`. Add a new nullable column, backfill it in batches, then set its default and "
        "NOT NULL, and switch the code over; or change the type when the table is small enough."
    ),
)
def table_rewrite(context: CheckContext) -> Iterator[Finding]:
    return lock_findings("MD026", context)


@rule(
    "MD027",
    "validated-constraint",
    "warning",
    summary=(
        "An upgrade adds a FOREIGN KEY, CHECK, UNIQUE or PRIMARY KEY constraint validated at once, or sets "
        "NOT NULL, on a table an earlier revision created: the whole table is scanned under a lock that "
        "blocks writes."
    ),
    why=(
        "The scan (and for UNIQUE/PRIMARY KEY the index build) runs while the lock is held; on a big table "
        "writes wait for all of it."
    ),
    example="""
0006_orders_customer_fk.py
    op.create_foreign_key("fk_orders_customer", "orders", "customers", ["customer_id"], ["id"])
  <- MD027: adds fk_orders_customer on orders validated in place ...""",
    fix=(
        "Not changed by `fix`. Add it `NOT VALID` (`postgresql_not_valid=True`, or raw SQL), then "
        "`VALIDATE CONSTRAINT` in a later revision, which takes a lock that lets writes go on. For NOT NULL: "
        "a `CHECK (col IS NOT NULL) NOT VALID`, VALIDATE it, then SET NOT NULL (PostgreSQL 12+ skips the scan)."
    ),
)
def validated_constraint(context: CheckContext) -> Iterator[Finding]:
    return lock_findings("MD027", context)


@rule(
    "MD028",
    "exclusive-lock",
    "warning",
    summary=(
        "An upgrade holds ACCESS EXCLUSIVE on a relation an earlier revision created for as long as its work "
        "takes (`REFRESH MATERIALIZED VIEW` without `CONCURRENTLY`, `TRUNCATE`, `LOCK TABLE`) while no "
        "`lock_timeout` is set."
    ),
    why=(
        "Every read and write of the relation waits until the step ends, and the lock itself first waits "
        "behind any long-running query, with every other query queued behind it. An instant `ALTER TABLE` "
        "takes the same lock for a moment only: that queue is bounded by the project's `lock_timeout` "
        "(MD029), not reported on every step."
    ),
    example="""
0005_refresh_order_totals.py
    op.execute("REFRESH MATERIALIZED VIEW order_totals")
  <- MD028: REFRESH MATERIALIZED VIEW order_totals holds ACCESS EXCLUSIVE ...""",
    fix=(
        "Not changed by `fix`. `REFRESH MATERIALIZED VIEW CONCURRENTLY` (it needs a unique index), and a "
        "lock timeout for the migration (`SET lock_timeout = '5s'` in env.py, the step, or `[tool.migdoc] "
        "lock_timeout`), so it gives up instead of blocking everyone."
    ),
)
def exclusive_lock(context: CheckContext) -> Iterator[Finding]:
    return lock_findings("MD028", context)
