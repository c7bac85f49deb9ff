"""Lock risks read without a database: MD025-MD028 for ``migdoc check``. Pure.

:func:`static_lock_findings` reads each revision's ``upgrade()`` as the body reader recorded
it (``op.*`` calls with their ``lock_hints``, literal SQL of ``op.execute``) and yields
``(code, Finding)`` for the operations that lock a table other sessions use, for longer than
an instant or with no bound on the wait:

* MD025 blocking-index: ``CREATE INDEX`` without ``CONCURRENTLY`` (``op.create_index`` without
  ``postgresql_concurrently=True``), a unique or primary-key constraint added with its index
  built in place, ``REINDEX TABLE`` without ``CONCURRENTLY``;
* MD026 table-rewrite: a column type change (``alter_column(type_=...)``, ``ALTER COLUMN ...
  TYPE``), a column added with a volatile default (``gen_random_uuid()``, ``clock_timestamp()``,
  ``nextval``, ``serial``) or an identity / stored generated column, ``VACUUM FULL``, ``CLUSTER``;
* MD027 validated-constraint: a foreign key or CHECK added without ``NOT VALID``, ``SET NOT
  NULL`` (``alter_column(nullable=False)``) with no ``CHECK (col IS NOT NULL)`` to prove it;
* MD028 exclusive-lock: ``LOCK TABLE`` in ACCESS EXCLUSIVE / EXCLUSIVE mode, ``REFRESH
  MATERIALIZED VIEW`` without ``CONCURRENTLY``, ``TRUNCATE``, when the revision sets no
  ``lock_timeout`` and the project does not either (``CheckContext.is_lock_timeout_set``).

What is left out, on purpose (checked on PostgreSQL 15): ``ALTER TYPE ... ADD VALUE`` /
``RENAME VALUE`` lock only the type, never a table using it; ``ADD COLUMN`` of a nullable
column, or with a constant or stable default (``now()``), renames, drops, and a type change
to ``text`` or a longer ``varchar`` change the catalog only (an instant ACCESS EXCLUSIVE, as
every ``ALTER TABLE`` takes: MD029 covers that queue with ``lock_timeout`` in env.py).

Only tables that existed before the revision count: one the revision creates itself (with
``op.create_table`` or ``CREATE TABLE``, or renamed from one) is empty and unseen by other
sessions. In a revision whose body the reader could not follow (a helper call, SQL built at
run time, a loop), which may create any table or set a timeout, only the certain ``op.*``
calls on tables an ancestor created are read, and MD028 is never reported: uncertain is
silent. A revision with SQL the splitter cannot read (dollar-quoted bodies) is skipped whole.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from migdoc.chain.replay import creations_in
from migdoc.model import Operation, RevisionFile
from migdoc.project.lock_hints import sql_calls_volatile
from migdoc.rules.registry import CheckContext, Finding

ADVICE = {
    "MD025": "create it with postgresql_concurrently=True inside op.get_context().autocommit_block()",
    "MD026": "add a nullable column, backfill it in batches, then set the default and NOT NULL",
    "MD027": "add it NOT VALID (postgresql_not_valid=True), then VALIDATE CONSTRAINT in a later revision",
    "MD028": "set lock_timeout (SET LOCAL lock_timeout = '2s') so it gives up instead of queueing everyone",
}
_NOT_NULL_ADVICE = (
    "add a CHECK (col IS NOT NULL) NOT VALID, VALIDATE it in a later revision, then SET NOT NULL "
    "(PostgreSQL 12+ skips the scan)"
)


@dataclass(frozen=True)
class _Risk:
    code: str
    line: int
    table: str
    message: str


def static_lock_findings(context: CheckContext) -> Iterable[tuple[str, Finding]]:
    """``(code, Finding)`` for MD025-MD028, every revision of the graph, file order."""
    graph = context.graph
    is_project_timeout = getattr(context, "is_lock_timeout_set", False)
    not_null_checks = _not_null_checks(graph.files)
    made_by: dict[tuple, list[int]] | None = None  # made on the first revision that needs it
    for index, rf in enumerate(graph.files):
        if rf.read_error is not None or rf.revision is None or rf.upgrade is None:
            continue
        known_old = None
        if any(op.kind == "unknown" for op in rf.upgrade.operations):
            if made_by is None:
                made_by = creations_in(graph.files) if graph.is_acyclic else {}
            known_old = _made_by_ancestors(graph, index, rf.upgrade.operations, made_by)
        for risk in revision_risks(rf.upgrade.operations, not_null_checks, is_project_timeout, known_old):
            yield risk.code, Finding(rf, risk.line, risk.message, rf.revision)


def _made_by_ancestors(graph, index: int, operations: tuple[Operation, ...], made_by: dict) -> frozenset[str]:
    """Tables the revision's calls name that an ancestor certainly created: they exist before
    it, whatever a helper in it does (it may create others, or set a timeout)."""
    named = {(op.schema, op.table) for op in operations if op.table and op.kind != "create_table"}
    return frozenset(
        _bare(table)
        for schema, table in named
        if any(
            maker != index and graph.is_ancestor(maker, index) for maker in made_by.get(("table", schema, table), ())
        )
    )


def revision_risks(
    operations: tuple[Operation, ...],
    not_null_checks: frozenset[tuple[str, str]] = frozenset(),
    is_project_timeout: bool = False,
    known_old: frozenset[str] | None = None,
) -> Iterator[_Risk]:
    """The risks of one ``upgrade()`` body, in source order. ``known_old``: for a body with a
    call the reader cannot follow (a helper, a loop, SQL built at run time), which may create
    a table or set a timeout, the only tables spoken of (ones an ancestor created); MD028,
    which a timeout set anywhere silences, is then never reported."""
    if known_old is not None:
        yield from _certain_risks(operations, not_null_checks, known_old)
        return
    statements = [(op, stmt) for op in operations if op.kind == "execute" for stmt in split_sql(op.name or "")]
    if any(stmt is None for _, stmt in statements):
        return  # SQL the splitter could not read (a DO block, a function body)
    new_tables = _created_tables(operations, statements)
    has_timeout = is_project_timeout or any(_sets_lock_timeout(stmt) for _, stmt in statements)
    checks = not_null_checks | _sql_not_null_checks(statements)
    for op in operations:
        if op.kind == "execute":
            continue
        if op.table is None or _bare(op.table) in new_tables:
            continue
        yield from _op_risks(op, checks)
    for op, stmt in statements:
        for risk in _sql_risks(op.line, stmt, checks):
            if _bare(risk.table) in new_tables or (risk.code == "MD028" and has_timeout):
                continue
            yield risk


def _certain_risks(
    operations: tuple[Operation, ...], checks: frozenset[tuple[str, str]], known_old: frozenset[str]
) -> Iterator[_Risk]:
    for op in operations:
        if op.kind not in ("execute", "unknown") and op.is_certain and op.table and _bare(op.table) in known_old:
            yield from _op_risks(op, checks)


def _op_risks(op: Operation, checks: frozenset[tuple[str, str]]) -> Iterator[_Risk]:
    table = f"{op.schema}.{op.table}" if op.schema else op.table or ""
    hints = op.lock_hints
    if op.kind == "create_index" and "concurrently" not in hints:
        yield _Risk(
            "MD025",
            op.line,
            table,
            f"CREATE INDEX {op.name or ''} on {table} without CONCURRENTLY holds SHARE on {table} "
            f"(blocks writes) for the whole build; {ADVICE['MD025']}".replace("INDEX  on", "INDEX on"),
        )
    elif op.kind in ("create_unique_constraint", "create_primary_key"):
        what = "unique constraint" if op.kind == "create_unique_constraint" else "primary key"
        yield _Risk(
            "MD025",
            op.line,
            table,
            f"adding the {what} {op.name or ''} builds its index on {table} under ACCESS EXCLUSIVE "
            "(blocks reads and writes) for the whole build; build a unique index with "
            "postgresql_concurrently=True inside op.get_context().autocommit_block(), then add the "
            "constraint USING INDEX".replace("  builds", " builds"),
        )
    elif op.kind == "add_column" and hints & {"volatile_default", "generated"}:
        why = "a volatile default" if "volatile_default" in hints else "an identity or generated column"
        yield _Risk(
            "MD026",
            op.line,
            table,
            f"adding column {op.name} with {why} rewrites {table} under ACCESS EXCLUSIVE (every row is "
            f"written); {ADVICE['MD026']}",
        )
    elif op.kind == "alter_column":
        if "type" in hints:
            yield _Risk(
                "MD026",
                op.line,
                table,
                f"changing the type of {table}.{op.name} rewrites {table} under ACCESS EXCLUSIVE (column "
                "type change); add a new column, backfill it in batches, then switch over",
            )
        if "not_null" in hints and (_bare(op.table or ""), (op.name or "").lower()) not in checks:
            yield _Risk(
                "MD027",
                op.line,
                table,
                f"SET NOT NULL on {table}.{op.name} scans {table} under ACCESS EXCLUSIVE; {_NOT_NULL_ADVICE}",
            )
    elif op.kind in ("create_foreign_key", "create_check_constraint") and "not_valid" not in hints:
        what = "foreign key" if op.kind == "create_foreign_key" else "CHECK constraint"
        lock = "SHARE ROW EXCLUSIVE" if op.kind == "create_foreign_key" else "ACCESS EXCLUSIVE"
        yield _Risk(
            "MD027",
            op.line,
            table,
            f"the {what} {op.name or ''} is validated in place: every row of {table} is checked under "
            f"{lock}; {ADVICE['MD027']}".replace("  is", " is"),
        )


# --- raw SQL ---------------------------------------------------------------------------------

_TOKEN = re.compile(
    r"\$(?P<tag>[A-Za-z_0-9]*)\$.*?\$(?P=tag)\$|'(?:[^']|'')*'|\"(?:[^\"]|\"\")*\"|--[^\n]*|/\*.*?\*/|;|[^'\"\-/$;]+|.",
    re.S,
)


def split_sql(sql: str) -> list[str | None]:
    """Statements of ``sql``, comments removed, whitespace folded; ``None`` stands for a
    statement with a dollar-quoted body (``DO $$ ... $$``), which is not read."""
    statements: list[str | None] = []
    current: list[str] = []
    is_unreadable = False
    for match in _TOKEN.finditer(sql):
        token = match.group(0)
        if token.startswith("--") or token.startswith("/*"):
            current.append(" ")
        elif token == ";":
            statements.append(None if is_unreadable else " ".join("".join(current).split()))
            current, is_unreadable = [], False
        else:
            if match.group("tag") is not None:
                is_unreadable = True  # a dollar-quoted body (DO, CREATE FUNCTION): not read
            current.append(token)
    tail = " ".join("".join(current).split())
    if tail or is_unreadable:
        statements.append(None if is_unreadable else tail)
    return [s for s in statements if s is None or s]


_IDENT = r'(?:"(?:[^"]|"")+"|[A-Za-z_][A-Za-z0-9_$]*)'
_NAME = rf"(?P<name>{_IDENT}(?:\s*\.\s*{_IDENT})?)"
_CREATE_TABLE = re.compile(
    rf"^CREATE\s+(?:(?:GLOBAL|LOCAL)\s+)?(?:(?:TEMP|TEMPORARY|UNLOGGED)\s+)?TABLE\s+(?:IF\s+NOT\s+EXISTS\s+)?{_NAME}",
    re.I,
)
_CREATE_MATVIEW = re.compile(rf"^CREATE\s+MATERIALIZED\s+VIEW\s+(?:IF\s+NOT\s+EXISTS\s+)?{_NAME}", re.I)
_CREATE_INDEX = re.compile(
    rf"^CREATE\s+(?:UNIQUE\s+)?INDEX\s+(?P<concurrently>CONCURRENTLY\s+)?(?:IF\s+NOT\s+EXISTS\s+)?"
    rf"(?P<index>{_IDENT}\s+)?ON\s+(?:ONLY\s+)?{_NAME}",
    re.I,
)
_ALTER_TABLE = re.compile(rf"^ALTER\s+TABLE\s+(?:IF\s+EXISTS\s+)?(?:ONLY\s+)?{_NAME}\s*\*?\s+(?P<actions>.*)$", re.I)
_RENAME_TO = re.compile(rf"^RENAME\s+TO\s+(?P<new>{_IDENT})\s*$", re.I)
_LOCK = re.compile(
    rf"^LOCK\s+(?:TABLE\s+)?(?:ONLY\s+)?(?P<names>{_IDENT}(?:\s*\.\s*{_IDENT})?\s*\*?(?:\s*,\s*{_IDENT}(?:\s*\.\s*{_IDENT})?\s*\*?)*)"
    r"(?:\s+IN\s+(?P<mode>[A-Z ]+?)\s+MODE)?(?:\s+NOWAIT)?$",
    re.I,
)
_REFRESH = re.compile(rf"^REFRESH\s+MATERIALIZED\s+VIEW\s+(?P<concurrently>CONCURRENTLY\s+)?{_NAME}", re.I)
_TRUNCATE = re.compile(rf"^TRUNCATE\s+(?:TABLE\s+)?(?:ONLY\s+)?{_NAME}", re.I)
_REWRITE_COMMAND = re.compile(rf"^(?:VACUUM\s+(?:\(\s*)?FULL\b[^A-Za-z_\"]*|CLUSTER\s+(?:VERBOSE\s+)?){_NAME}", re.I)
_REINDEX = re.compile(rf"^REINDEX\s+(?:\([^)]*\)\s*)?TABLE\s+(?P<concurrently>CONCURRENTLY\s+)?{_NAME}", re.I)
_SET_TIMEOUT = re.compile(
    r"^SET\s+(?:(?:LOCAL|SESSION)\s+)?lock_timeout\s*(?:=|TO)\s*'?(?P<value>[^';\s]+)'?|"
    r"\bset_config\s*\(\s*'lock_timeout'\s*,\s*'(?P<config>[^']*)'",
    re.I,
)
_ALTER_TYPE = re.compile(r"^ALTER\s+(?:COLUMN\s+)?(?P<column>\S+)\s+(?:SET\s+DATA\s+)?TYPE\s+(?P<type>.+)$", re.I)
_SET_NOT_NULL = re.compile(r"^ALTER\s+(?:COLUMN\s+)?(?P<column>\S+)\s+SET\s+NOT\s+NULL$", re.I)
_ADD_CONSTRAINT = re.compile(
    rf"^ADD\s+(?:CONSTRAINT\s+(?P<constraint>{_IDENT})\s+)?(?P<kind>FOREIGN\s+KEY|CHECK|UNIQUE|PRIMARY\s+KEY|EXCLUDE)\b(?P<rest>.*)$",
    re.I,
)
_ADD_COLUMN = re.compile(rf"^ADD\s+(?:COLUMN\s+)?(?:IF\s+NOT\s+EXISTS\s+)?(?P<column>{_IDENT})\s+(?P<rest>.*)$", re.I)
_NOT_NULL_CHECK = re.compile(
    r'CHECK\s*\(\s*\(?\s*"?(?P<column>[A-Za-z_][A-Za-z0-9_$]*)"?\s+IS\s+NOT\s+NULL\s*\)?\s*\)', re.I
)
_CHEAP_TYPE = re.compile(r"^(?:TEXT|CHARACTER\s+VARYING|VARCHAR)\b", re.I)


def _sql_risks(line: int, stmt: str, checks: frozenset[tuple[str, str]]) -> Iterator[_Risk]:
    if match := _CREATE_INDEX.match(stmt):
        if not match.group("concurrently"):
            table = _display(match.group("name"))
            index = _display(match.group("index") or "").strip()
            yield _Risk(
                "MD025",
                line,
                table,
                f"CREATE INDEX {index + ' ' if index else ''}on {table} without CONCURRENTLY holds SHARE on "
                f"{table} (blocks writes) for the whole build; use CREATE INDEX CONCURRENTLY inside "
                "op.get_context().autocommit_block()",
            )
        return
    if match := _REINDEX.match(stmt):
        if not match.group("concurrently"):
            table = _display(match.group("name"))
            yield _Risk(
                "MD025",
                line,
                table,
                f"REINDEX TABLE {table} without CONCURRENTLY blocks writes to {table} while its indexes are "
                "rebuilt; use REINDEX TABLE CONCURRENTLY inside op.get_context().autocommit_block()",
            )
        return
    if match := _REWRITE_COMMAND.match(stmt):
        table = _display(match.group("name"))
        yield _Risk(
            "MD026",
            line,
            table,
            f"{stmt.split()[0].upper()} rewrites {table} under ACCESS EXCLUSIVE (blocks reads and writes); "
            "run it outside the migration, in a maintenance window",
        )
        return
    if match := _ALTER_TABLE.match(stmt):
        table = _display(match.group("name"))
        for action in _split_actions(match.group("actions")):
            yield from _alter_risks(line, table, action, checks)
        return
    if match := _LOCK.match(stmt):
        mode = " ".join((match.group("mode") or "ACCESS EXCLUSIVE").upper().split())
        if mode in ("ACCESS EXCLUSIVE", "EXCLUSIVE"):
            for name in re.split(r"\s*,\s*", match.group("names")):
                table = _display(name.rstrip("* "))
                yield _Risk(
                    "MD028",
                    line,
                    table,
                    f"LOCK TABLE {table} IN {mode} MODE with no lock_timeout waits behind any long query on "
                    f"{table} and blocks every query queued behind it; {ADVICE['MD028']}",
                )
        return
    if match := _REFRESH.match(stmt):
        if not match.group("concurrently"):
            view = _display(match.group("name"))
            yield _Risk(
                "MD028",
                line,
                view,
                f"REFRESH MATERIALIZED VIEW {view} without CONCURRENTLY holds ACCESS EXCLUSIVE on it (blocks "
                "reads) for the whole refresh, with no lock_timeout; use REFRESH MATERIALIZED VIEW "
                "CONCURRENTLY (it needs a unique index) or set lock_timeout",
            )
        return
    if match := _TRUNCATE.match(stmt):
        table = _display(match.group("name"))
        yield _Risk(
            "MD028",
            line,
            table,
            f"TRUNCATE {table} takes ACCESS EXCLUSIVE with no lock_timeout: it waits behind any long query "
            f"and blocks every query queued behind it; {ADVICE['MD028']}",
        )


def _alter_risks(line: int, table: str, action: str, checks: frozenset[tuple[str, str]]) -> Iterator[_Risk]:
    if match := _ALTER_TYPE.match(action):
        if _CHEAP_TYPE.match(match.group("type")):
            return  # to text or varchar: often a widening, which changes the catalog only; not known
        column = _display(match.group("column"))
        yield _Risk(
            "MD026",
            line,
            table,
            f"ALTER COLUMN {column} TYPE rewrites {table} under ACCESS EXCLUSIVE (column type change); add a "
            "new column, backfill it in batches, then switch over",
        )
    elif match := _SET_NOT_NULL.match(action):
        column = _display(match.group("column"))
        if (_bare(table), column.lower()) not in checks:
            yield _Risk(
                "MD027",
                line,
                table,
                f"SET NOT NULL on {table}.{column} scans {table} under ACCESS EXCLUSIVE; {_NOT_NULL_ADVICE}",
            )
    elif match := _ADD_CONSTRAINT.match(action):
        kind = " ".join(match.group("kind").upper().split())
        rest = match.group("rest")
        name = _display(match.group("constraint") or "")
        named = f" {name}" if name else ""
        if kind in ("FOREIGN KEY", "CHECK"):
            if not re.search(r"\bNOT\s+VALID\s*$", rest, re.I):
                lock = "SHARE ROW EXCLUSIVE" if kind == "FOREIGN KEY" else "ACCESS EXCLUSIVE"
                yield _Risk(
                    "MD027",
                    line,
                    table,
                    f"ADD CONSTRAINT{named} {kind} without NOT VALID checks every row of {table} under {lock}; "
                    "add it NOT VALID, then VALIDATE CONSTRAINT in a later revision",
                )
        elif not re.search(r"\bUSING\s+INDEX\b", rest, re.I):
            yield _Risk(
                "MD025",
                line,
                table,
                f"ADD CONSTRAINT{named} {kind} builds its index on {table} under ACCESS EXCLUSIVE (blocks reads "
                "and writes) for the whole build; CREATE UNIQUE INDEX CONCURRENTLY first, then ADD CONSTRAINT "
                "... USING INDEX",
            )
    elif match := _ADD_COLUMN.match(action):
        rest = match.group("rest")
        column = _display(match.group("column"))
        default = re.search(r"\bDEFAULT\s+(?P<value>.*)$", rest, re.I)
        is_volatile = default is not None and sql_calls_volatile(default.group("value"))
        is_generated = re.match(r"^(?:SMALL|BIG)?SERIAL\d?\b", rest, re.I) or re.search(
            r"\bGENERATED\s+(?:ALWAYS|BY\s+DEFAULT)\s+AS\b", rest, re.I
        )
        if is_volatile or is_generated:
            why = "a volatile default" if is_volatile else "a serial, identity or generated value"
            yield _Risk(
                "MD026",
                line,
                table,
                f"ADD COLUMN {column} with {why} rewrites {table} under ACCESS EXCLUSIVE (every row is written); "
                f"{ADVICE['MD026']}",
            )


def _split_actions(actions: str) -> list[str]:
    """``ALTER TABLE``'s comma-separated actions (commas inside parentheses or quotes stay)."""
    parts, depth, current, quote = [], 0, [], None
    for char in actions:
        if quote:
            quote = None if char == quote else quote
        elif char in "'\"":
            quote = char
        elif char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
        elif char == "," and depth == 0:
            parts.append("".join(current).strip())
            current = []
            continue
        current.append(char)
    parts.append("".join(current).strip())
    return [p for p in parts if p]


def _created_tables(operations: tuple[Operation, ...], statements: list) -> set[str]:
    """Tables and materialized views the revision creates, in source order with its renames."""
    created: set[str] = set()
    events: list[tuple[int, str, str, str]] = []
    for op in operations:
        if op.kind == "create_table" and op.table:
            events.append((op.line, "create", _bare(op.table), ""))
        elif op.kind == "rename_table" and op.table and op.new_name:
            events.append((op.line, "rename", _bare(op.table), _bare(op.new_name)))
    for op, stmt in statements:
        if match := _CREATE_TABLE.match(stmt) or _CREATE_MATVIEW.match(stmt):
            events.append((op.line, "create", _bare(match.group("name")), ""))
        elif (match := _ALTER_TABLE.match(stmt)) and (rename := _RENAME_TO.match(match.group("actions"))):
            events.append((op.line, "rename", _bare(match.group("name")), _bare(rename.group("new"))))
    for _, event, name, new in sorted(events, key=lambda e: e[0]):
        if event == "create":
            created.add(name)
        elif name in created:
            created.add(new)
    return created


def _sets_lock_timeout(stmt: str) -> bool:
    match = _SET_TIMEOUT.search(stmt)
    if not match:
        return False
    value = (match.group("value") or match.group("config") or "").strip().lower()
    return value not in ("", "0", "default", "0ms", "0s")


def _not_null_checks(files: Iterable[RevisionFile]) -> frozenset[tuple[str, str]]:
    """(table, column) pairs some revision proves with ``CHECK (column IS NOT NULL)``: a later
    ``SET NOT NULL`` uses the validated check instead of a scan (PostgreSQL 12+)."""
    found: set[tuple[str, str]] = set()
    for rf in files:
        if rf.upgrade is None:
            continue
        for op in rf.upgrade.operations:
            for hint in op.lock_hints:
                if hint.startswith("not_null_check:") and op.table:
                    found.add((_bare(op.table), hint.split(":", 1)[1].lower()))
            if op.kind == "execute" and op.name:
                found |= _sql_not_null_checks([(op, stmt) for stmt in split_sql(op.name) if stmt])
    return frozenset(found)


def _sql_not_null_checks(statements: list) -> frozenset[tuple[str, str]]:
    found = set()
    for _, stmt in statements:
        if stmt and (match := _ALTER_TABLE.match(stmt)):
            for check in _NOT_NULL_CHECK.finditer(match.group("actions")):
                found.add((_bare(match.group("name")), check.group("column").lower()))
    return frozenset(found)


def _display(name: str) -> str:
    return re.sub(r"\s*\.\s*", ".", name.strip()).replace('"', "")


def _bare(name: str) -> str:
    """The table's own name, unquoted; unquoted SQL names fold to lower case."""
    last = re.split(r"\.(?=(?:[^\"]*\"[^\"]*\")*[^\"]*$)", name.strip())[-1].strip()
    return last[1:-1].replace('""', '"') if last.startswith('"') else last.lower()
