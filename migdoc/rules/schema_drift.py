"""MD031 schema-drift: the deployed database's schema differs from the schema its chain
builds. It needs both databases, so the static check finds nothing for it;
``migdoc.database.schema_drift`` makes its diagnostics (``check --database-url URL --drift``).
Registered here for its documentation, ``explain`` and SARIF."""

from __future__ import annotations

from collections.abc import Iterator

from migdoc.rules.registry import CheckContext, Finding, rule


@rule(
    "MD031",
    "schema-drift",
    "error",
    summary=(
        "With `--database-url URL --drift`: the deployed database's schema differs from the schema the chain "
        "builds up to the revision the database is stamped at (an extra index, a changed column type, a missing "
        "constraint...)."
    ),
    why=(
        "Someone hot-fixed production by hand, or a migration was edited after it ran. The next migration was "
        "written and tested against the schema the chain describes: on the real one it may fail, or silently do "
        "something else (drop the wrong index, keep a type too narrow)."
    ),
    example="""
chain up to 0003:   CREATE INDEX ix_orders_customer_id ON public.orders USING btree (customer_id)
deployed database:  (no such index)    <- MD031: index public.ix_orders_customer_id is missing""",
    fix=(
        "Not changed by `fix`: write a revision that makes the hot-fix part of the chain (or undo the hand-made "
        "change on the database), so that both describe the same schema."
    ),
)
def schema_drift(context: CheckContext) -> Iterator[Finding]:
    return iter(())
