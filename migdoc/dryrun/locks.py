"""The measured lock report: what an upgrade step really did to the relations that existed
before it, read from the throwaway server's catalogs, and what of it is a risk.

Three measurements per upgrade step (``LockRecorder``, driven by the stairway):

* before the step: every user relation (oid -> name, kind, relfilenode, its table for an
  index), the constraints of the tables (name, type, validated) and their columns' NOT NULL;
* while the step's transaction is still open (a SQLAlchemy ``commit`` event, which fires
  before COMMIT, on every connection the project's code commits on, and once more when the
  step ends, for a transaction env.py keeps open around it): the locks the backend holds,
  and its ``lock_timeout``. A step run in ``autocommit_block`` (CREATE INDEX CONCURRENTLY)
  holds nothing at commit, which is the truth: it blocked no writer;
* after the step: the same catalogs again.

``measure`` turns them into :class:`RelationLock` records (pure); ``lock_risks`` turns the
steps' records into MD025-MD028 findings with the line of the responsible ``op.*`` call
(pure). Enum types: ``ALTER TYPE ... ADD VALUE`` and ``RENAME VALUE`` take an ExclusiveLock on
the type only (PostgreSQL 15, measured), which blocks no query on the tables using it, so they
are no risk here; the recreate-the-type pattern rewrites every table using it (MD026).

Imports nothing beyond the standard library: the stairway's child process runs it.
"""

from __future__ import annotations

import contextlib
import dataclasses
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

MODES = (
    "AccessShareLock",
    "RowShareLock",
    "RowExclusiveLock",
    "ShareUpdateExclusiveLock",
    "ShareLock",
    "ShareRowExclusiveLock",
    "ExclusiveLock",
    "AccessExclusiveLock",
)
"""PostgreSQL's table lock modes, weakest first."""
_RANK = {mode: rank for rank, mode in enumerate(MODES)}
_SHOWN = {
    "ShareLock": "SHARE",
    "ShareRowExclusiveLock": "SHARE ROW EXCLUSIVE",
    "ExclusiveLock": "EXCLUSIVE",
    "AccessExclusiveLock": "ACCESS EXCLUSIVE",
}
_KINDS = {"r": "table", "p": "table", "m": "matview", "i": "index", "I": "index", "S": "sequence"}
_CONSTRAINT_TYPES = {"f": "FOREIGN KEY", "c": "CHECK", "u": "UNIQUE", "p": "PRIMARY KEY", "x": "EXCLUDE"}
_USER = (
    "n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg\\_toast%' "
    "AND n.nspname NOT LIKE 'pg\\_temp%'"
)
RELATIONS_SQL = (
    "SELECT c.oid, n.nspname, c.relname, c.relkind, c.relfilenode, i.indrelid "
    "FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
    "LEFT JOIN pg_index i ON i.indexrelid = c.oid "
    f"WHERE c.relkind IN ('r', 'p', 'm', 'i', 'I', 'S') AND {_USER}"
)
CONSTRAINTS_SQL = (
    "SELECT con.conrelid, con.conname, con.contype, con.convalidated, con.conindid, pg_get_constraintdef(con.oid), "
    "con.oid "
    "FROM pg_constraint con JOIN pg_class c ON c.oid = con.conrelid "
    "JOIN pg_namespace n ON n.oid = c.relnamespace "
    f"WHERE con.contype IN ('f', 'c', 'u', 'p', 'x') AND {_USER}"
)
COLUMNS_SQL = (
    "SELECT a.attrelid, a.attname, a.attnotnull FROM pg_attribute a "
    "JOIN pg_class c ON c.oid = a.attrelid JOIN pg_namespace n ON n.oid = c.relnamespace "
    f"WHERE a.attnum > 0 AND NOT a.attisdropped AND c.relkind IN ('r', 'p') AND {_USER}"
)
OWN_LOCKS_SQL = (
    "SELECT relation, mode, (SELECT setting::bigint FROM pg_settings WHERE name = 'lock_timeout') "
    "FROM pg_locks WHERE pid = pg_backend_pid() AND granted AND locktype = 'relation'"
)
OWN_TIMEOUT_SQL = "SELECT setting::bigint FROM pg_settings WHERE name = 'lock_timeout'"
OPEN_LOCKS_SQL = (
    "SELECT l.relation, l.mode, l.pid, a.xact_start::text FROM pg_locks l "
    "JOIN pg_stat_activity a ON a.pid = l.pid "
    "WHERE l.granted AND l.locktype = 'relation' AND l.relation >= 16384 AND l.database = "
    "(SELECT oid FROM pg_database WHERE datname = current_database())"
)
"""Locks the run's database's backends still hold on user relations (oids from 16384 on: not
the catalogs migdoc's own reads lock) when a step ends: a transaction env.py
opened around the step (``with engine.begin()``) and commits only later. Their lock_timeout
cannot be read from another session; 0 (unknown) errs on the side of reporting MD028."""


OPEN_TRANSACTION_NOTE = (
    "the lock report is incomplete: env.py keeps one transaction open across the upgrade steps, so what "
    "a step changed cannot be seen until it commits (the stairway, without --no-downgrade, runs one step "
    "per env.py run and measures each)"
)


@dataclass(frozen=True)
class Relation:
    name: str  # schema-qualified unless in ``public``
    kind: str  # table, matview, index, sequence
    filenode: int
    table: int | None = None  # an index's table (oid)


@dataclass(frozen=True)
class Catalog:
    """The user relations, constraints and columns at one moment."""

    relations: Mapping[int, Relation] = field(default_factory=dict)
    constraints: Mapping[tuple[int, str], tuple[str, bool, int, int]] = field(default_factory=dict)
    """(table oid, name) -> (type letter, validated, index oid or 0, the constraint's own oid: a
    constraint dropped and made again under its old name is a new one)."""
    proved_not_null: frozenset[tuple[int, str]] = frozenset()
    """(table oid, column) that a validated ``CHECK (column IS NOT NULL)`` covers: SET NOT NULL
    on it needs no scan (PostgreSQL 12+)."""
    columns: Mapping[tuple[int, str], bool] = field(default_factory=dict)
    """(table oid, column) -> NOT NULL."""


@dataclass(frozen=True)
class Observation:
    """The locks one backend held at one moment of the step, and its lock_timeout (ms)."""

    modes: Mapping[int, str]
    lock_timeout_ms: int


@dataclass(frozen=True)
class RelationLock:
    """What one upgrade step did to one relation that existed before it."""

    relation: str
    kind: str
    mode: str | None  # the strongest lock held (None: none was seen)
    rewritten: bool = False
    index_built: str | None = None  # indexes built on it without CONCURRENTLY (names, ", ")
    validated: tuple[str, ...] = ()  # "fk_x (FOREIGN KEY)", "NOT NULL amount"
    is_unguarded: bool = False  # ACCESS EXCLUSIVE held while lock_timeout was 0

    def to_dict(self) -> dict[str, object]:
        return {
            "relation": self.relation,
            "kind": self.kind,
            "mode": self.mode,
            "rewritten": self.rewritten,
            "index_built": self.index_built,
            "validated": list(self.validated),
            "without_lock_timeout": self.is_unguarded,
        }

    @classmethod
    def from_dict(cls, data: Mapping) -> RelationLock:
        return cls(
            data["relation"],
            data["kind"],
            data["mode"],
            data["rewritten"],
            data["index_built"],
            tuple(data["validated"]),
            bool(data.get("without_lock_timeout", False)),
        )


@dataclass(frozen=True)
class LockRisk:
    code: str
    revision: str
    file: str | None
    line: int
    relation: str
    message: str

    def to_dict(self) -> dict[str, object]:
        return {
            "code": self.code,
            "revision": self.revision,
            "file": self.file,
            "line": self.line,
            "relation": self.relation,
            "message": self.message,
        }


def stronger(a: str | None, b: str | None) -> str | None:
    if a is None:
        return b
    if b is None:
        return a
    return a if _RANK.get(a, -1) >= _RANK.get(b, -1) else b


# -- the catalogs (edges: a DBAPI cursor) ----------------------------------------------


def read_catalog(cursor) -> Catalog:
    cursor.execute(RELATIONS_SQL)
    relations = {
        int(oid): Relation(name if schema == "public" else f"{schema}.{name}", _KINDS[kind], int(node), table)
        for oid, schema, name, kind, node, table in cursor.fetchall()
    }
    cursor.execute(CONSTRAINTS_SQL)
    constraints, proved = {}, set()
    for rel, name, kind, ok, index, definition, oid in cursor.fetchall():
        kind = kind if isinstance(kind, str) else kind.decode()
        constraints[(int(rel), name)] = (kind, bool(ok), int(index or 0), int(oid))
        column = _not_null_check(definition) if kind == "c" and ok else None
        if column is not None:
            proved.add((int(rel), column))
    cursor.execute(COLUMNS_SQL)
    columns = {(int(rel), name): bool(notnull) for rel, name, notnull in cursor.fetchall()}
    return Catalog(relations, constraints, proved_not_null=frozenset(proved), columns=columns)


def _not_null_check(definition: str | None) -> str | None:
    """The column of ``CHECK ((col IS NOT NULL))`` as ``pg_get_constraintdef`` prints it."""
    match = re.fullmatch(r'CHECK \(\(("?)([^"()]+)\1 IS NOT NULL\)\)', (definition or "").strip())
    return match.group(2) if match else None


def observe(cursor) -> Observation:
    """The relation locks this backend holds, with its lock_timeout."""
    cursor.execute(OWN_LOCKS_SQL)
    rows = cursor.fetchall()
    modes: dict[int, str] = {}
    for relation, mode, _ in rows:
        modes[int(relation)] = stronger(modes.get(int(relation)), mode)
    if rows:
        timeout = int(rows[0][2] or 0)
    else:
        cursor.execute(OWN_TIMEOUT_SQL)
        timeout = int(cursor.fetchone()[0] or 0)
    return Observation(modes, timeout)


# -- the pure part ---------------------------------------------------------------------


def measure(
    before: Catalog, after: Catalog, observations: Sequence[Observation], ignored: Iterable[str] = ()
) -> tuple[RelationLock, ...]:
    """What the step did to each relation of ``before`` (the version table and ``ignored``
    names left out): strongest lock, rewrite, indexes built while its table was locked
    against writes (not CONCURRENTLY), constraints added validated and NOT NULL set on a
    column that existed. Relations made by the step itself are nobody's to wait for: none."""
    ignored = set(ignored)
    modes: dict[int, str] = {}
    unguarded: set[int] = set()
    for seen in observations:
        for oid, mode in seen.modes.items():
            modes[oid] = stronger(modes.get(oid), mode)
            if mode == "AccessExclusiveLock" and seen.lock_timeout_ms <= 0:
                unguarded.add(oid)
    old_oids = {value[3] for value in before.constraints.values()}
    new_constraints = {key: value for key, value in after.constraints.items() if value[3] not in old_oids}
    backing = {value[2] for value in new_constraints.values() if value[2]}
    built: dict[int, list[str]] = {}
    for oid, relation in after.relations.items():
        if oid in before.relations or relation.kind != "index" or oid in backing:
            continue
        table = relation.table
        if table in before.relations and _RANK.get(modes.get(table, ""), -1) >= _RANK["ShareLock"]:
            built.setdefault(table, []).append(relation.name)
    validated: dict[int, list[str]] = {}
    for (table, name), (kind, is_valid, _, _) in sorted(new_constraints.items()):
        if table in before.relations and is_valid:
            validated.setdefault(table, []).append(f"{name} ({_CONSTRAINT_TYPES.get(kind, kind)})")
    for (table, column), notnull in sorted(after.columns.items()):
        if notnull and before.columns.get((table, column)) is False and (table, column) not in before.proved_not_null:
            validated.setdefault(table, []).append(f"NOT NULL {column}")
    found = []
    for oid, relation in sorted(before.relations.items(), key=lambda item: item[1].name):
        table = before.relations.get(relation.table) if relation.table is not None else None
        if relation.name in ignored or (table is not None and table.name in ignored):
            continue
        now = after.relations.get(oid)
        # a table's storage replaced; a materialized view's is on every REFRESH, which MD028 speaks of
        rewritten = relation.kind == "table" and now is not None and now.filenode != relation.filenode
        mode = modes.get(oid)
        if mode is None and not rewritten and oid not in built and oid not in validated:
            continue
        found.append(
            RelationLock(
                relation.name,
                relation.kind,
                mode,
                rewritten,
                ", ".join(sorted(built[oid])) if oid in built else None,
                tuple(validated.get(oid, ())),
                oid in unguarded,
            )
        )
    return tuple(found)


@dataclass
class LockRecorder:
    """The measurements of the upgrade step running now: started with the catalog before
    it, fed by every commit while it runs, finished with the catalog after it."""

    ignored: tuple[str, ...] = ()
    before: Catalog | None = None
    observations: list[Observation] = field(default_factory=list)
    open_before: dict = field(default_factory=dict)
    """(pid, transaction start) -> {oid: mode} still held when the last step ended: in one
    transaction around many steps, what an earlier step took is not this one's."""
    saw_open_transaction: bool = False
    """A step ended inside a transaction still open (env.py's own, around several steps): what
    it changes is invisible to migdoc's catalog reads until that commits."""

    def start(self, cursor) -> None:
        self.before = read_catalog(cursor)
        self.observations = []

    @property
    def is_running(self) -> bool:
        return self.before is not None

    def on_commit(self, cursor) -> None:
        if self.before is not None:
            self.observations.append(observe(cursor))

    def finish(self, cursor) -> tuple[RelationLock, ...] | None:
        """The step's records; None when no step was started."""
        if self.before is None:
            return None
        before, self.before = self.before, None
        self.observations.append(self._still_open(cursor))
        return measure(before, read_catalog(cursor), self.observations, self.ignored)

    def _still_open(self, cursor) -> Observation:
        cursor.execute(OPEN_LOCKS_SQL)
        held: dict = {}
        modes: dict[int, str] = {}
        for relation, mode, pid, started in cursor.fetchall():
            transaction = held.setdefault((pid, started), {})
            transaction[int(relation)] = stronger(transaction.get(int(relation)), mode)
        for transaction, locks in held.items():
            earlier = self.open_before.get(transaction, {})
            for oid, mode in locks.items():
                if _RANK.get(earlier.get(oid, ""), -1) < _RANK.get(mode, -1):
                    modes[oid] = stronger(modes.get(oid), mode)
        self.open_before = held
        self.saw_open_transaction = self.saw_open_transaction or bool(held)
        return Observation(modes, 0)

    def abandon(self) -> None:
        self.before, self.observations = None, []


def dbapi_cursor(connection):
    """A cursor on the driver connection under a SQLAlchemy one: migdoc's catalog queries
    stay out of SQLAlchemy's events (the statement log a failure quotes) and transactions."""
    return connection.connection.cursor()


@contextlib.contextmanager
def own_cursor(connection):
    """A DBAPI cursor on migdoc's own connection; the driver transaction its queries began
    is ended after, unless SQLAlchemy (env.py) has a transaction open there."""
    was_open = connection.in_transaction()
    cursor = dbapi_cursor(connection)
    try:
        yield cursor
    finally:
        with contextlib.suppress(Exception):
            cursor.close()
        if not was_open:
            with contextlib.suppress(Exception):
                connection.connection.rollback()


# -- the risks (pure) --------------------------------------------------------------------

_INDEX_OPS = {"create_index"}
_REWRITE_OPS = {"alter_column", "add_column"}
_VALIDATE_OPS = {
    "create_foreign_key",
    "create_check_constraint",
    "create_unique_constraint",
    "create_primary_key",
    "alter_column",
}


def _line_of(body, table: str, kinds: set[str] | None, name: str | None = None) -> tuple[int, str | None]:
    """The line of the ``op.*`` call (or the raw SQL naming the table) responsible, and its kind;
    ``upgrade()``'s line when the static reader cannot tell."""
    if body is None:
        return 1, None
    bare = table.rsplit(".", 1)[-1]
    operations = list(body.operations)
    for wanted_name in (name, None):
        for op in operations:
            if op.table == bare and (kinds is None or op.kind in kinds):
                if wanted_name is None or op.name == wanted_name:
                    return op.line, op.kind
    for op in operations:  # a table changed through raw SQL: the statement that names it
        if op.kind == "execute" and op.name and bare.lower() in op.name.lower():
            return op.line, "execute"
    for op in operations:
        if op.table == bare:
            return op.line, op.kind
    return body.line, None


def _is_truncated(body, table: str) -> bool:
    """TRUNCATE gives a table new, empty storage: not a copy (MD026) but an ACCESS EXCLUSIVE lock
    (MD028). Told from the step's literal SQL, which is all the catalogs cannot say."""
    bare = table.rsplit(".", 1)[-1].lower()
    for op in body.operations if body is not None else ():
        sql = (op.name or "").lower() if op.kind == "execute" else ""
        if re.search(rf"\btruncate\b[^;]*\b{re.escape(bare)}\b", sql):
            return True
    return False


def _is_held_for_the_work(body, table: str, lock: RelationLock) -> bool:
    """ACCESS EXCLUSIVE held for as long as the work takes, not an instant: a materialized view
    refreshed in place, a table truncated, or locked by hand (``LOCK TABLE``). Every ``ALTER
    TABLE`` takes the same lock for an instant (a nullable column, a rename, a default); that
    wait in the queue is the project's ``lock_timeout`` to bound (MD029), as the static side
    reads it, not a finding on every step."""
    if lock.kind == "matview" or _is_truncated(body, table):
        return True
    bare = table.rsplit(".", 1)[-1].lower()
    for op in body.operations if body is not None else ():
        sql = (op.name or "").lower() if op.kind == "execute" else ""
        if re.search(rf"\block\s+(?:table\s+)?(?:only\s+)?[^;]*\b{re.escape(bare)}\b", sql):
            return True
    return False


def step_risks(revision: str, file: str | None, body, locks: Iterable[RelationLock]) -> list[LockRisk]:
    """MD025-MD028 for one measured upgrade step. ``body``: the revision's ``upgrade()`` as the
    static reader keeps it (``operations`` with lines), or None."""
    risks: list[LockRisk] = []
    for lock in locks:
        table = lock.relation
        reported = False
        if lock.index_built:
            for index in lock.index_built.split(", "):
                line, _ = _line_of(body, table, _INDEX_OPS, index)
                shown = _SHOWN.get(lock.mode or "", lock.mode)
                blocks = "blocks reads and writes" if lock.mode == "AccessExclusiveLock" else "blocks writes"
                risks.append(
                    LockRisk(
                        "MD025",
                        revision,
                        file,
                        line,
                        table,
                        f"CREATE INDEX {index} on {table} without CONCURRENTLY holds {shown} on {table} "
                        f"({blocks}) for the whole build; create it with postgresql_concurrently=True "
                        "inside op.get_context().autocommit_block()",
                    )
                )
            reported = True
        if lock.rewritten and not _is_truncated(body, table):
            line, kind = _line_of(body, table, _REWRITE_OPS)
            why = {
                "alter_column": "column type change",
                "add_column": "column added with a volatile default",
            }.get(kind or "", "column type change / volatile default / ...")
            risks.append(
                LockRisk(
                    "MD026",
                    revision,
                    file,
                    line,
                    table,
                    f"rewrites {table} under ACCESS EXCLUSIVE ({why}): every read and write waits for the copy; "
                    "add a nullable column, backfill in batches, then set the default and NOT NULL",
                )
            )
            reported = True
        for what in lock.validated:
            is_not_null = what.startswith("NOT NULL ")
            name = None if is_not_null else what.split(" (", 1)[0]
            line, _ = _line_of(body, table, {"alter_column"} if is_not_null else _VALIDATE_OPS, name)
            if is_not_null:
                column = what[len("NOT NULL ") :]
                advice = (
                    f"add CHECK ({column} IS NOT NULL) NOT VALID, VALIDATE CONSTRAINT in a later step, then "
                    "SET NOT NULL, which PostgreSQL 12+ does without a scan"
                )
                message = f"sets NOT NULL on {table}.{column}, scanning {table} under ACCESS EXCLUSIVE; {advice}"
            elif what.endswith(("(UNIQUE)", "(PRIMARY KEY)", "(EXCLUDE)")):
                # its index is built in place, as a plain CREATE INDEX is: the index's risk and
                # its remedy (static MD025 reads such a constraint the same way)
                shown = _SHOWN.get(lock.mode or "", lock.mode or "a lock")
                risks.append(
                    LockRisk(
                        "MD025",
                        revision,
                        file,
                        line,
                        table,
                        f"adds {what} on {table}, building its index in place under {shown} for the whole "
                        "build; create the unique index with postgresql_concurrently=True inside "
                        "op.get_context().autocommit_block(), then add the constraint USING INDEX",
                    )
                )
                reported = True
                continue
            else:
                shown = _SHOWN.get(lock.mode or "", lock.mode or "a lock")
                message = (
                    f"adds {what} on {table} validated in place, scanning {table} under {shown}; "
                    "add it NOT VALID, then VALIDATE CONSTRAINT in a later step"
                )
            risks.append(LockRisk("MD027", revision, file, line, table, message))
            reported = True
        if (
            not reported
            and lock.mode == "AccessExclusiveLock"
            and lock.is_unguarded
            and _is_held_for_the_work(body, table, lock)
        ):
            line, _ = _line_of(body, table, {"execute"})  # the REFRESH, TRUNCATE or LOCK naming it
            risks.append(
                LockRisk(
                    "MD028",
                    revision,
                    file,
                    line,
                    table,
                    f"takes ACCESS EXCLUSIVE on {table} with no lock_timeout: it waits behind any long query "
                    f"on {table} and blocks every query behind it; set lock_timeout (SET lock_timeout = '5s' "
                    "in env.py or the migration) and retry",
                )
            )
    return risks


def lock_risks(steps: Iterable, revisions: Mapping[str, tuple[str | None, object]]) -> list[LockRisk]:
    """Every measured upgrade step's risks. ``steps``: records with ``revision``, ``phase``,
    ``ok`` and ``locks``; ``revisions``: revision -> (its file, its ``upgrade()`` as read
    statically)."""
    found: list[LockRisk] = []
    for step in steps:
        if step.phase != "upgrade" or not step.ok or step.locks is None:
            continue
        file, body = revisions.get(step.revision, (None, None))
        found.extend(step_risks(step.revision, file, body, step.locks))
    return found


def _rows_shown(rows: int) -> str:
    for unit, size in (("G", 10**9), ("M", 10**6), ("k", 10**3)):
        if rows >= size:
            return f"{rows / size:.1f}".rstrip("0").rstrip(".") + unit
    return str(rows)


def sized_risks(risks: Iterable[LockRisk], sizes: Mapping[str, tuple[int, int]] | None) -> list[LockRisk]:
    """``--from-database``: each risk's relation named with its size in the deployed database
    (``pg_class.reltuples``, ``relpages``: the planner's estimates), so that a rewrite of a table
    of twelve million rows reads differently from a rewrite of an empty one."""
    if not sizes:
        return list(risks)
    sized = []
    for risk in risks:
        size = sizes.get(risk.relation)
        if size is None:
            sized.append(risk)
            continue
        rows, pages = size
        shown = f"~{_rows_shown(rows)} rows" if rows >= 0 else f"{pages} pages, never analysed"
        where = f"{risk.relation} ({shown} in the deployed database)"
        message = re.sub(
            rf"(?<![\w.]){re.escape(risk.relation)}(?![\w.])", where.replace("\\", "\\\\"), risk.message, count=1
        )
        sized.append(dataclasses.replace(risk, message=message))
    return sized
