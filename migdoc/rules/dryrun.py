"""Rules the dry-run reports: MD020 (the models differ from the migrations) and
MD021 (a step of the dry-run failed). They need a database, so the static check
finds nothing for them; ``migdoc.dryrun.findings`` turns a dry-run's result into
their diagnostics. Registered here for their documentation, ``explain`` and SARIF."""

from __future__ import annotations

from collections.abc import Iterator

from migdoc.rules.registry import CheckContext, Finding, rule


@rule(
    "MD020",
    "model-drift",
    "error",
    summary=(
        "With the dry-run, when env.py sets `target_metadata`: the schema the migrations build at the heads differs "
        "from the models (the comparison `alembic check` and autogenerate make)."
    ),
    why=(
        "Someone changed a model and forgot the migration (or the reverse): the deployed schema will not be the one "
        "the code expects, and the next `alembic revision --autogenerate` sweeps the difference into an unrelated "
        "migration."
    ),
    example="""
models.py:   Customer.phone = Column(String(20))
migrations:  no revision adds customers.phone   <- MD020: add column customers.phone (models only)""",
    fix="Not changed by `fix`: write the missing migration (`alembic revision --autogenerate`), or fix the model.",
)
def model_drift(context: CheckContext) -> Iterator[Finding]:
    return iter(())


@rule(
    "MD021",
    "dryrun-failed",
    "error",
    summary=(
        "With the dry-run: an upgrade or downgrade failed on PostgreSQL, or a downgrade did not restore the schema "
        "the upgrade started from."
    ),
    why=(
        "The migration will fail the same way on the deployed database, or a rollback will leave it in a schema "
        "no revision describes."
    ),
    example="""
0003_add_scores.py  downgrade: op.drop_column("customers", "score")
  <- MD021: phase downgrade: column "score" of relation "customers" does not exist""",
    fix="Not changed by `fix`: correct the step named in the message; `migdoc dryrun` proves the result.",
)
def dryrun_failed(context: CheckContext) -> Iterator[Finding]:
    return iter(())
