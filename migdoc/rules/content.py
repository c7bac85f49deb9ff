"""Rules about what migrations do: MD011, MD012, MD013, MD015."""

from __future__ import annotations

from collections.abc import Iterator

from migdoc.chain.replay import find_redundancies
from migdoc.model import RevisionFile, Severity
from migdoc.project.body_reader import is_data_only
from migdoc.rules.registry import CheckContext, Finding, rule


def _ordered_indexes(context: CheckContext) -> list[int]:
    graph = context.graph
    if graph.is_acyclic:
        return list(graph.topological_indexes)
    return list(graph.kept_indexes)


@rule(
    "MD011",
    "duplicate-content",
    "warning",
    summary=(
        "The body of `upgrade()` is the same, after normalising, as another revision's (module-level values "
        "it reads included). Not where the static replay follows every operation and finds the schema "
        "ready for it (a table re-created after a rollback dropped it, one change on two parallel branches)."
    ),
    why=(
        "Two revisions doing the same work is the trace of a copied file or a change merged twice "
        "under two ids: on a real database the second one fails or does the work twice."
    ),
    example="""
0025_add_scores.py    def upgrade(): op.add_column("customers", sa.Column("scores", sa.Integer()))
0026b_add_scores.py   def upgrade(): op.add_column("customers", sa.Column("scores", sa.Integer()))  <- MD011""",
    fix=(
        "`fix --archive` archives a main-line revision whose upgrade only repeats an ancestor's, and "
        "relinks its children to its parent."
    ),
)
def duplicate_content(context: CheckContext) -> Iterator[Finding]:
    graph = context.graph
    first_with: dict[str, int] = {}
    proven: set[int] | None = None
    for index in _ordered_indexes(context):
        rf = graph.files[index]
        if rf.upgrade is None or not rf.upgrade.does_work:
            continue
        fingerprint = rf.upgrade.fingerprint
        if fingerprint not in first_with:
            first_with[fingerprint] = index
            continue
        original = graph.files[first_with[fingerprint]]
        if original.revision == rf.revision:
            continue  # a duplicated id is MD001's finding, not this one's
        if _is_followed(rf.upgrade.operations):
            if proven is None:
                proven = _replayed_without_redundancy(context)
            if index in proven:
                continue  # the replay saw the schema ready for it: re-created after a rollback, or a parallel branch
        yield Finding(
            rf,
            rf.upgrade.line,
            f"upgrade() does the same as revision {original.revision} ({original.path})",
            rf.revision,
            (original.path,),
        )


def _is_followed(operations) -> bool:
    """True when the replay follows every operation with certainty (no raw SQL, no helper)."""
    return bool(operations) and all(op.is_certain and op.kind not in ("unknown", "execute") for op in operations)


def _replayed_without_redundancy(context: CheckContext) -> set[int]:
    """Kept revisions the replay reached whose operations it found no fault with (acyclic graphs)."""
    graph = context.graph
    if not graph.is_acyclic:
        return set()
    faulty = {r.index for r in find_redundancies(graph)}
    return set(graph.kept_indexes) - faulty


@rule(
    "MD012",
    "redundant-operation",
    "error",
    summary=(
        "Replaying the `op.*` calls along the chain, an operation creates what an ancestor already "
        "created (table, column, index, constraint) and nothing dropped since, or drops what is not "
        "there. Only where the replay is certain: raw SQL and calls it cannot follow make what they "
        "may touch uncertain, and uncertain is silent."
    ),
    why="On a real database this operation fails (`DuplicateColumn`, `UndefinedTable`...) and the upgrade stops.",
    example="""
0003: op.add_column("customers", sa.Column("scores", sa.Integer()))
0026c: op.add_column("customers", sa.Column("scores", sa.Integer()))   <- MD012""",
    fix=(
        "`fix --archive` archives a main-line revision whose upgrade only repeats an ancestor's; a "
        "revision that also does other work is left for a human."
    ),
)
def redundant_operation(context: CheckContext) -> Iterator[Finding]:
    graph = context.graph
    for redundancy in find_redundancies(graph):
        rf = graph.files[redundancy.index]
        related: tuple[str, ...] = ()
        message = redundancy.description
        if redundancy.earlier is not None and redundancy.earlier != redundancy.index:
            earlier = graph.files[redundancy.earlier]
            related = (earlier.path,)
            message += f" (since revision {earlier.revision}, {earlier.path})"
        yield Finding(rf, redundancy.operation.line, message, rf.revision, related)


def _changes_data_only(operations) -> bool:
    """True when every operation is literal DML (``UPDATE``, ``INSERT``, ``DELETE``...) in ``op.execute``."""
    return bool(operations) and all(op.kind == "execute" and op.name and is_data_only(op.name) for op in operations)


_NO_DOWNGRADE_POLICY = 2 / 3
"""Share of working revisions without a downgrade from which that is the project's policy."""


@rule(
    "MD013",
    "irreversible",
    "warning",
    summary=(
        "`upgrade()` changes the schema but `downgrade()` is missing or `pass` (a data-only `op.execute` "
        "backfill needs none). Info where `downgrade()` only raises (a refusal written on purpose), and "
        "where at least "
        "two thirds of the project's revisions do so: a no-downgrade policy, not an oversight."
    ),
    why="The day this revision must be rolled back, during an incident, `alembic downgrade` cannot do it.",
    example="""
def upgrade():
    op.add_column("users", sa.Column("email", sa.Text()))

def downgrade():
    pass   <- MD013""",
    fix="`fix` cannot write a downgrade for you; `migdoc dryrun` proves the one you write.",
)
def irreversible(context: CheckContext) -> Iterator[Finding]:
    found: list[tuple[RevisionFile, int, str, bool]] = []
    working = 0
    for rf in context.graph.files:
        if rf.revision is None or rf.upgrade is None or not rf.upgrade.does_work:
            continue
        if _changes_data_only(rf.upgrade.operations):
            continue  # a backfill leaves the schema as it was: nothing for a downgrade to undo
        working += 1
        down = rf.downgrade
        if down is None:
            found.append((rf, rf.upgrade.line, "upgrade() does work but there is no downgrade()", False))
        elif not down.does_work:
            found.append((rf, down.line, "upgrade() does work but downgrade() does nothing", False))
        elif down.only_raises:
            # a refusal written on purpose: `alembic downgrade` stops loudly instead of
            # "succeeding" without undoing anything, so it is a decision, not an oversight
            found.append((rf, down.line, "downgrade() only raises: this revision cannot be rolled back", True))
    # A project where (nearly) no revision can be downgraded decided so (OpenStack forbids
    # downgrades): one more irreversible revision is its policy, not an oversight.
    is_policy = working >= 5 and len(found) >= _NO_DOWNGRADE_POLICY * working
    for rf, line, message, is_deliberate in found:
        if is_policy:
            message += f" (as {len(found)} of the project's {working} revisions: a no-downgrade policy)"
        yield Finding(rf, line, message, rf.revision, severity=Severity.INFO if is_policy or is_deliberate else None)


@rule(
    "MD015",
    "unsafe-sql",
    "warning",
    summary=(
        "SQL handed to `op.execute` / `sa.text` / `conn.execute` is built with an f-string, `%`, `.format` "
        "or `+` from values that do not come from the file's own constants: query results, the "
        "environment, parameters, unknown calls. Literals, literal tuples looped over and module-level "
        "constants are fine."
    ),
    why=(
        "Values from outside the file pasted into SQL text break on quotes and open the door to "
        "injection; bind parameters do not. Where SQL cannot take parameters (DDL such as "
        "`CREATE SEQUENCE ... START WITH`), check the value's type first."
    ),
    example="""
start = conn.execute(sa.text("SELECT max(id) FROM users")).scalar()
op.execute(f"CREATE SEQUENCE user_numbers START WITH {start}")   <- MD015
for table in ("users", "users_history"):
    op.execute(f"UPDATE {table} SET plan = 'basic'")             # fine: the file's own constants
op.execute(sa.text("UPDATE users SET plan = :plan").bindparams(plan=plan))   # fine""",
    fix=(
        "`fix` leaves it; use bind parameters, or for DDL (which takes none) check the value's type or quote "
        "it with `sa.literal` / `quoted_name`."
    ),
)
def unsafe_sql(context: CheckContext) -> Iterator[Finding]:
    for rf in context.graph.files:
        for body in (rf.upgrade, rf.downgrade):
            if body is None:
                continue
            variables = body.unsafe_sql_variables or ("",) * len(body.unsafe_sql_lines)
            statements = body.unsafe_sql_statements or ("",) * len(body.unsafe_sql_lines)
            for line, variable, statement in zip(body.unsafe_sql_lines, variables, statements, strict=False):
                yield Finding(rf, line, _unsafe_sql_message(variable, statement), rf.revision)


def _unsafe_sql_message(variable: str, statement: str) -> str:
    """MD015's text: where the SQL was built, and advice that fits the statement: bind
    parameters for data changes, quoting or checking the value for DDL, which takes none."""
    built = "SQL built"
    if variable:
        name, _, line = variable.partition(":")
        built = f"SQL built into `{name}` (line {line})"
    message = (
        f"{built} from values that do not come from this file's constants (a query result, "
        "the environment, a parameter or a call); "
    )
    if statement and not is_data_only(statement):
        return message + (
            f"{statement} is DDL, which cannot take bind parameters: check the value first (int(...) for a "
            "number) or quote it (sa.literal(...) rendered with literal_binds, or quoted_name for a name)"
        )
    return message + "use bind parameters"
