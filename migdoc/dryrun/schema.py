"""Schema snapshots read from PostgreSQL's catalogs, and their differences.

A snapshot maps ``(kind, name)`` to a description string; two snapshots are
equal exactly when the objects and their definitions are. One catalog query reads
the whole schema; :class:`SchemaTracker` keeps a snapshot up to date during the
stairway by re-reading, with the same query, only what each step touched.
Over ~400 lines for a reason: the query, its narrowed form and the tracker that
uses both are one piece, and their texts must agree.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

# Every user object outside the system schemas, as (kind, name, definition), with the
# unit it belongs to (``r`` a relation, ``t`` a type, ``n`` a schema, and its oid: what is
# re-read together) and the catalog row it stands for (classid, oid: how a dropped index,
# constraint or default is traced back to its table). Names are schema-qualified;
# definitions come from PostgreSQL's own deparsers, so they are stable and readable.
# ``{rel_filter}`` / ``{type_filter}`` / ``{ns_filter}`` narrow it to some units; the joins
# are filled in by ``_JOINS`` (hash joins: the whole catalog) or ``_PROBES`` (a few units).
_SNAPSHOT_TEMPLATE = """
WITH {units}ns AS (
    SELECT oid, nspname FROM pg_namespace
    WHERE nspname NOT IN ('pg_catalog', 'information_schema')
      AND left(nspname, 8) NOT IN ('pg_toast', 'pg_temp_')
),
rel AS (
    SELECT c.oid, c.relname, c.relkind, ns.nspname, ns.nspname || '.' || c.relname AS qname
    FROM pg_class c JOIN ns ON ns.oid = c.relnamespace
    WHERE NOT (ns.nspname = :version_schema AND c.relname = :version_table){rel_filter}
),
typ AS (
    SELECT t.oid, t.typname, t.typtype, t.typbasetype, t.typtypmod, ns.nspname
    FROM pg_type t JOIN ns ON ns.oid = t.typnamespace WHERE t.typtype IN ('e', 'd'){type_filter}
)
SELECT 'table', qname, CASE relkind WHEN 'p' THEN 'partitioned table' ELSE 'table' END,
       'r', oid, 0::oid, 0::oid
FROM rel WHERE relkind IN ('r', 'p')
UNION ALL
SELECT 'column', rel.qname || '.' || a.attname,
       format_type(a.atttypid, a.atttypmod)
       || CASE WHEN a.attnotnull THEN ' NOT NULL' ELSE ' NULL' END
       || COALESCE(' DEFAULT ' || pg_get_expr(d.adbin, d.adrelid), '')
       || CASE WHEN a.attidentity <> '' THEN ' IDENTITY ' || a.attidentity::text ELSE '' END
       || CASE WHEN a.attgenerated <> '' THEN ' GENERATED' ELSE '' END,
       'r', rel.oid, CASE WHEN d.oid IS NULL THEN 0 ELSE 'pg_attrdef'::regclass::oid END, COALESCE(d.oid, 0)
{attributes}
WHERE rel.relkind IN ('r', 'p', 'v', 'm', 'f') AND a.attnum > 0 AND NOT a.attisdropped
UNION ALL
SELECT 'index', rel.nspname || '.' || ic.relname, pg_get_indexdef(i.indexrelid),
       'r', rel.oid, 'pg_class'::regclass::oid, i.indexrelid
{indexes}
UNION ALL
SELECT CASE con.contype WHEN 'p' THEN 'primary key' WHEN 'u' THEN 'unique constraint'
                        WHEN 'c' THEN 'check constraint' WHEN 'f' THEN 'foreign key'
                        WHEN 'x' THEN 'exclusion constraint' ELSE 'constraint' END,
       rel.qname || '.' || con.conname, pg_get_constraintdef(con.oid),
       'r', rel.oid, 'pg_constraint'::regclass::oid, con.oid
{constraints}
WHERE con.contype IN ('p', 'u', 'c', 'f', 'x')
UNION ALL
SELECT 'sequence', rel.qname,
       format_type(s.seqtypid, NULL) || ' START ' || s.seqstart || ' INCREMENT ' || s.seqincrement,
       'r', rel.oid, 0::oid, 0::oid
{sequences}
UNION ALL
SELECT 'view', rel.qname, CASE rel.relkind WHEN 'm' THEN 'MATERIALIZED ' ELSE '' END || pg_get_viewdef(rel.oid),
       'r', rel.oid, 0::oid, 0::oid
FROM rel WHERE rel.relkind IN ('v', 'm')
UNION ALL
SELECT 'type', typ.nspname || '.' || typ.typname,
       'ENUM (' || (SELECT string_agg(quote_literal(e.enumlabel), ', ' ORDER BY e.enumsortorder)
                    FROM pg_enum e WHERE e.enumtypid = typ.oid) || ')',
       't', typ.oid, 0::oid, 0::oid
FROM typ WHERE typ.typtype = 'e'
UNION ALL
SELECT 'type', typ.nspname || '.' || typ.typname, 'DOMAIN ' || format_type(typ.typbasetype, typ.typtypmod),
       't', typ.oid, 0::oid, 0::oid
FROM typ WHERE typ.typtype = 'd'
UNION ALL
SELECT 'schema', nspname, 'schema', 'n', oid, 0::oid, 0::oid FROM ns WHERE nspname <> 'public'{ns_filter}
"""

_JOINS = {
    "attributes": """FROM rel JOIN pg_attribute a ON a.attrelid = rel.oid
LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum""",
    "indexes": "FROM pg_index i JOIN rel ON rel.oid = i.indrelid JOIN pg_class ic ON ic.oid = i.indexrelid",
    "constraints": "FROM pg_constraint con JOIN rel ON rel.oid = con.conrelid",
    "sequences": "FROM rel JOIN pg_sequence s ON s.seqrelid = rel.oid",
}
# The same joins driven by the few units read: each relation's rows looked up by its oid
# (OFFSET 0 keeps each lookup a probe, whatever the planner thinks of the catalogs' size).
_PROBES = {
    "attributes": """FROM rel, LATERAL (SELECT * FROM pg_attribute a WHERE a.attrelid = rel.oid OFFSET 0) a
LEFT JOIN LATERAL (SELECT * FROM pg_attrdef d WHERE d.adrelid = a.attrelid AND d.adnum = a.attnum OFFSET 0) d
  ON true""",
    "indexes": """FROM rel, LATERAL (SELECT * FROM pg_index i WHERE i.indrelid = rel.oid OFFSET 0) i,
LATERAL (SELECT ic.relname FROM pg_class ic WHERE ic.oid = i.indexrelid OFFSET 0) ic""",
    "constraints": "FROM rel, LATERAL (SELECT * FROM pg_constraint con WHERE con.conrelid = rel.oid OFFSET 0) con",
    "sequences": "FROM rel, LATERAL (SELECT * FROM pg_sequence s WHERE s.seqrelid = rel.oid OFFSET 0) s",
}

# The whole schema (the first snapshot, and whenever the fast path cannot say what changed).
SNAPSHOT_SQL = _SNAPSHOT_TEMPLATE.format(units="", rel_filter="", type_filter="", ns_filter="", **_JOINS)

Snapshot = dict[tuple[str, str], str]

# Only the units a step touched. :classids/:objids: the objects it created or altered;
# :rels/:types: units of objects it dropped (traced by migdoc from the last reading). An
# index, constraint, default or view rule counts as its relation; one level of what
# depends on a touched object in pg_depend is touched too (a foreign key or view on a
# renamed table, a column of a renamed type: their deparsed text names it). Every lookup
# is by oid, one row at a time (index scans), and a 'unit' row per unit says what was read
# (a unit with no entries is gone, or holds nothing a snapshot shows).
_UNITS = """touched AS (
    SELECT * FROM unnest(p_classids, p_objids) AS t(c, o)
),
hit AS (
    SELECT c, o FROM touched
    UNION
    SELECT d.classid, d.objid FROM touched t,
    LATERAL (SELECT classid, objid FROM pg_depend
             WHERE refclassid = t.c AND refobjid = t.o OFFSET 0) d  -- OFFSET 0: an index probe per row
),
mapped AS (
    SELECT 'r' AS u, COALESCE((SELECT i.indrelid FROM pg_index i WHERE i.indexrelid = h.o), h.o) AS o
    FROM hit h WHERE h.c = 'pg_class'::regclass
    UNION ALL SELECT 'r', (SELECT k.conrelid FROM pg_constraint k WHERE k.oid = h.o)
    FROM hit h WHERE h.c = 'pg_constraint'::regclass
    UNION ALL SELECT 'r', (SELECT a.adrelid FROM pg_attrdef a WHERE a.oid = h.o)
    FROM hit h WHERE h.c = 'pg_attrdef'::regclass
    UNION ALL SELECT 'r', (SELECT r.ev_class FROM pg_rewrite r WHERE r.oid = h.o)
    FROM hit h WHERE h.c = 'pg_rewrite'::regclass
    UNION ALL SELECT 't', h.o FROM hit h WHERE h.c = 'pg_type'::regclass
    UNION ALL SELECT 'n', h.o FROM hit h WHERE h.c = 'pg_namespace'::regclass
    UNION ALL SELECT 'r', unnest(p_rels)
    UNION ALL SELECT 't', unnest(p_types)
),
units AS (SELECT DISTINCT u, o FROM mapped WHERE o IS NOT NULL AND o <> 0),
"""
_REFRESH_QUERY = (
    (
        _SNAPSHOT_TEMPLATE.format(
            units=_UNITS,
            rel_filter=" AND c.oid = ANY(ARRAY(SELECT o FROM units WHERE u = 'r'))",
            type_filter=" AND t.oid = ANY(ARRAY(SELECT o FROM units WHERE u = 't'))",
            ns_filter=" AND false",
            **_PROBES,
        )
        + "UNION ALL\nSELECT 'unit', NULL, NULL, u, o, 0::oid, 0::oid FROM units\n"
    )
    .replace(":version_schema", "p_version_schema")
    .replace(":version_table", "p_version_table")
)


@dataclass(frozen=True)
class SchemaChange:
    """One object that differs between two snapshots."""

    kind: str
    name: str
    change: str  # "added" (present now, absent before), "removed", "changed"
    before: str | None
    after: str | None

    def to_dict(self) -> dict[str, str | None]:
        return {
            "object": self.kind,
            "name": self.name,
            "change": self.change,
            "before": self.before,
            "after": self.after,
        }

    def describe(self) -> str:
        if self.change == "added":
            return f"{self.kind} {self.name} is left behind: {self.after}"
        if self.change == "removed":
            return f"{self.kind} {self.name} is missing: {self.before}"
        return f"{self.kind} {self.name} differs: was {self.before}; now {self.after}"


def take_snapshot(connection, version_table: str = "alembic_version", version_schema: str | None = None) -> Snapshot:
    """Read the schema through a SQLAlchemy ``Connection`` (sync; also the facade async ``run_sync`` gives).

    The version table, its columns, index and constraint are left out."""
    from sqlalchemy import text

    params = {"version_table": version_table, "version_schema": version_schema or "public"}
    rows = connection.execute(text(SNAPSHOT_SQL), params).all()
    return {(kind, name): definition for kind, name, definition, *_ in rows}


def diff_snapshots(before: Snapshot, after: Snapshot) -> list[SchemaChange]:
    """Object by object, sorted by kind and name."""
    changes = []
    for key in sorted(before.keys() | after.keys()):
        old, new = before.get(key), after.get(key)
        if old == new:
            continue
        change = "added" if old is None else "removed" if new is None else "changed"
        changes.append(SchemaChange(key[0], key[1], change, old, new))
    return changes


# -- the stairway's snapshots, kept up to date by what each step touched ----------------
#
# Reading and deparsing the whole catalog after every step costs time in proportion to
# the schema (19 -> 29 ms a revision from 50 to 200 tables). Instead PostgreSQL itself
# says what a step touched: two event triggers (ddl_command_end, sql_drop) write the
# catalog address of every object a DDL command created, altered or dropped into a table
# in pg_catalog, from any session, in the step's own transaction (a rolled-back command
# leaves nothing). After a step migdoc takes those rows and re-reads only the relations
# and types they name (and what depends on them), with the same query and deparsers as
# the whole snapshot, so the text compared and reported is the same. It is a superuser's
# tool, so a server where migdoc is not one (a borrowed server) gets the whole snapshot
# each time, as does a step that wrote to a catalog table directly (``DELETE FROM
# pg_enum``: no DDL, no event) or created, renamed or dropped a schema.

TOUCHED_TABLE = "pg_catalog.migdoc_dryrun_touched"
_TRIGGERS = {"migdoc_dryrun_ddl": "ddl_command_end", "migdoc_dryrun_drop": "sql_drop"}
_TRIGGER_NAMES = ", ".join(f"'{name}'" for name in _TRIGGERS)
# the event triggers, (re)made: also under session_replication_role = replica, which a migration may set
_TRIGGER_SQL = tuple(
    statement
    for name, event in _TRIGGERS.items()
    for statement in (
        f"DROP EVENT TRIGGER IF EXISTS {name}",
        f"CREATE EVENT TRIGGER {name} ON {event} EXECUTE PROCEDURE pg_catalog.migdoc_dryrun_note()",
        f"ALTER EVENT TRIGGER {name} ENABLE ALWAYS",
    )
)
_TAKE_TOUCHED_SQL = f"DELETE FROM {TOUCHED_TABLE}"

# One look, one round trip: takes (and empties) what was touched, returns the dropped
# objects as ('dropped', ..., classid, oid) rows and the units touched, re-read. A function,
# so that its plan is made once and kept (a generic plan: planning this query costs more
# than running it); made when the catalogs are small, that plan must not scan them, so
# index probes only (no sequential scans, no hash or merge joins: what is read is a few
# units, however large the schema grows), and no JIT (the planner's penalty on the small
# sequential scans left, pg_namespace's, would make every call compile). ``p_rels``/``p_types``: more units to re-read
# (those of dropped objects).
_LOOK_FUNCTION = f"""CREATE FUNCTION pg_catalog.migdoc_dryrun_look(
    p_version_schema text, p_version_table text, p_rels oid[], p_types oid[])
RETURNS TABLE (r_kind text, r_name text, r_definition text, r_unit text, r_unit_oid oid,
               r_member_class oid, r_member_oid oid)
LANGUAGE plpgsql
SET plan_cache_mode = force_generic_plan SET enable_seqscan = off SET enable_hashjoin = off
SET enable_mergejoin = off SET jit = off AS $f$
#variable_conflict use_column
DECLARE
  p_classids oid[];
  p_objids oid[];
  p_gone_classids oid[];
  p_gone_objids oid[];
BEGIN
  -- a step that dropped or disabled the event triggers left what it did after that unreported
  IF (SELECT count(*) FROM pg_event_trigger
      WHERE evtname IN ({_TRIGGER_NAMES}) AND evtenabled = 'A') <> {len(_TRIGGERS)} THEN
    DELETE FROM {TOUCHED_TABLE};
    RETURN QUERY SELECT 'untracked'::text, NULL::text, NULL::text, NULL::text, NULL::oid, NULL::oid, NULL::oid;
    RETURN;
  END IF;
  WITH taken AS (DELETE FROM {TOUCHED_TABLE} RETURNING classid, objid, dropped)
  SELECT COALESCE(array_agg(classid) FILTER (WHERE NOT dropped), '{{}}'),
         COALESCE(array_agg(objid) FILTER (WHERE NOT dropped), '{{}}'),
         COALESCE(array_agg(classid) FILTER (WHERE dropped), '{{}}'),
         COALESCE(array_agg(objid) FILTER (WHERE dropped), '{{}}')
  INTO p_classids, p_objids, p_gone_classids, p_gone_objids FROM taken;
  RETURN QUERY SELECT 'dropped'::text, NULL::text, NULL::text, NULL::text, NULL::oid, g.c, g.o
               FROM unnest(p_gone_classids, p_gone_objids) AS g(c, o);
  IF cardinality(p_classids) + cardinality(p_rels) + cardinality(p_types) = 0 THEN
    RETURN;
  END IF;
  RETURN QUERY {_REFRESH_QUERY};
END $f$"""
_LOOK_SQL = (
    "SELECT * FROM pg_catalog.migdoc_dryrun_look("
    ":version_schema, :version_table, CAST(:rels AS oid[]), CAST(:types AS oid[]))"
)

_SETUP_SQL = (
    "SET LOCAL allow_system_table_mods = on",
    f"CREATE UNLOGGED TABLE {TOUCHED_TABLE} (classid oid, objid oid, objsubid int4, dropped bool)",
    # never raises: an error here would fail the project's own DDL
    f"""CREATE FUNCTION pg_catalog.migdoc_dryrun_note() RETURNS event_trigger LANGUAGE plpgsql AS $f$
BEGIN
  IF tg_event = 'sql_drop' THEN
    INSERT INTO {TOUCHED_TABLE} SELECT classid, objid, objsubid, true FROM pg_event_trigger_dropped_objects();
  ELSE
    INSERT INTO {TOUCHED_TABLE} SELECT classid, objid, objsubid, false FROM pg_event_trigger_ddl_commands();
  END IF;
END $f$""",
    *_TRIGGER_SQL,
    _LOOK_FUNCTION,
    # the rest of this transaction is the first step's: it gets no catalog rights from us
    "SET LOCAL allow_system_table_mods = off",
)
# the event triggers in place and enabled, with migdoc's look function: made for this run
_INSTALLED_SQL = f"""SELECT (SELECT count(*) FROM pg_event_trigger WHERE evtname IN ({_TRIGGER_NAMES})
    AND evtenabled = 'A') = {len(_TRIGGERS)}
    AND to_regprocedure('pg_catalog.migdoc_dryrun_look(text, text, oid[], oid[])') IS NOT NULL"""


def install_tracking(connection, role: str) -> None:
    """Make the stairway's event triggers in the run's database as a superuser (``connection``,
    SQLAlchemy, in a transaction the caller commits) for ``role``, who runs the project's code
    and is no superuser: the triggers fire on its DDL and note it in the table it may write."""
    for statement in _SETUP_SQL:
        connection.exec_driver_sql(statement)
    connection.exec_driver_sql(f'GRANT SELECT, INSERT, DELETE ON {TOUCHED_TABLE} TO "{role}"')


PG_CLASS, PG_TYPE, PG_NAMESPACE = 1259, 1247, 2615  # fixed oids of these catalogs

Unit = tuple[str, int]


# A statement that writes a catalog table itself (old recipes remove an enum value with
# ``DELETE FROM pg_enum``): no event reports it.
_CATALOG_WRITE = re.compile(
    r"\b(?:insert\s+into|update|delete\s+from)\s+(?:only\s+)?(?:\"?pg_catalog\"?\s*\.\s*)?\"?pg_(?!catalog\b)",
    re.IGNORECASE,
)


def writes_a_catalog(statement: str) -> bool:
    return bool(_CATALOG_WRITE.search(statement))


class SnapshotMismatch(RuntimeError):
    """The kept snapshot and a fresh whole one disagree (raised only when verifying: a bug)."""


class SchemaTracker:
    """The schema as of the last step, kept up to date step by step, and the comparison the
    stairway makes: the schema after a downgrade against the one after the previous
    revision's upgrade (the schema before this upgrade, as the stairway has always taken it).

    Call :meth:`start` before the first step, :meth:`after_upgrade` after each upgrade and
    :meth:`after_downgrade` after each downgrade; the re-upgrade that follows is folded
    into the next :meth:`after_upgrade`. ``verify``: compare with a whole snapshot at every
    step (tests)."""

    def __init__(self, connection, version_table: str, version_schema: str | None, *, verify: bool = False) -> None:
        self.connection = connection
        self.params = {"version_table": version_table, "version_schema": version_schema or "public"}
        self.verify = verify
        self.fast = False  # the event triggers are in place
        self.opaque = False  # the next look must read everything
        self.busy = False
        self.full_reads = 0  # how many looks read the whole schema (tests, profiling)
        self.untracked_steps = 0  # how many steps dropped or disabled the event triggers
        self.current: Snapshot = {}
        self._unit_keys: dict[Unit, set[tuple[str, str]]] = {}
        self._owner: dict[tuple[int, int], Unit] = {}  # (classid, oid) of an index, constraint, default
        self._since_before: dict[tuple[str, str], str | None] = {}  # old values since the "before" point
        self._since_upgrade: dict[tuple[str, str], str | None] | None = None

    # -- reading ----------------------------------------------------------------------

    def _execute(self, sql: str, params: dict | None = None):
        from sqlalchemy import text

        self.busy = True  # our own statements are not the step's
        try:
            result = self.connection.execute(text(sql), params or {})
            return result.all() if result.returns_rows else []
        finally:
            self.busy = False

    def start(self) -> None:
        self.fast = self._install()
        self._read_all()
        self._since_before = {}  # the first "before" is what is there now

    def _install(self) -> bool:
        """The event triggers, when migdoc is a superuser here; inside a savepoint, so that
        a server that refuses leaves the transaction as it was (the whole-snapshot path).
        Else those a superuser made for this run beforehand (``install_tracking``: a borrowed
        server whose URL is a superuser's, the project's code running as the run's role)."""
        rows = self._execute("SELECT current_setting('is_superuser'), current_setting('server_version_num')::int")
        if rows[0][1] < 120000:  # allow_system_table_mods per session: 12+
            return False
        if rows[0][0] != "on":
            return bool(self._execute(_INSTALLED_SQL)[0][0])
        return self._run_in_savepoint(_SETUP_SQL)

    def _run_in_savepoint(self, statements) -> bool:
        from sqlalchemy.exc import DBAPIError

        self.busy = True  # our own statements are not the step's
        try:
            with self.connection.begin_nested():
                for statement in statements:
                    self.connection.exec_driver_sql(statement)
        except DBAPIError:
            return False
        finally:
            self.busy = False
        return True

    def _reinstall(self) -> None:
        """The event triggers again, after a step dropped or disabled them (their function and
        table are migdoc's own, in pg_catalog); when that fails, whole snapshots from now on."""
        self.untracked_steps += 1
        self.fast = self._run_in_savepoint(_TRIGGER_SQL)

    def note_statement(self, statement: str, connection) -> None:
        """A statement the project sent. One that writes a catalog table itself is reported by
        no event; one on another connection may run where the event triggers are not yet
        visible (an env.py that keeps the whole run in one transaction has not committed
        them): either way the next look reads everything."""
        if self.busy:
            return
        if connection is not self.connection or writes_a_catalog(statement):
            self.opaque = True

    def _rows_to_units(self, rows) -> dict[Unit, dict[tuple[str, str], str]]:
        units: dict[Unit, dict[tuple[str, str], str]] = {}
        for kind, name, definition, unit_kind, unit_oid, member_class, member_oid in rows:
            unit = (unit_kind, int(unit_oid))
            entries = units.setdefault(unit, {})
            if kind == "unit":
                continue
            entries[(kind, name)] = definition
            if unit_kind != "n":
                self._owner[(PG_CLASS if unit_kind == "r" else PG_TYPE, int(unit_oid))] = unit
            if member_oid:
                self._owner[(int(member_class), int(member_oid))] = unit
        return units

    def _read_all(self) -> None:
        self.full_reads += 1
        self.opaque = False
        if self.fast:
            self._execute(_TAKE_TOUCHED_SQL)  # all of it is in what is read now
        units = self._rows_to_units(self._execute(SNAPSHOT_SQL, self.params))
        fresh = {key: value for entries in units.values() for key, value in entries.items()}
        for key in self.current.keys() - fresh.keys():
            self._put(key, None)
        for key, value in fresh.items():
            self._put(key, value)
        self._unit_keys = {unit: set(entries) for unit, entries in units.items()}

    def _look(self) -> None:
        """Bring :attr:`current` up to date with the schema now."""
        if not self.fast or self.opaque:
            self._read_all()
        else:
            rows = self._execute(_LOOK_SQL, {**self.params, "rels": [], "types": []})
            if rows and rows[0][0] == "untracked":
                self._reinstall()
                self._read_all()
            else:
                self._apply(rows)
        if self.verify:
            whole = take_snapshot(self.connection, self.params["version_table"], self.params["version_schema"])
            if whole != self.current:
                raise SnapshotMismatch(
                    f"kept snapshot differs from the whole one: {diff_snapshots(whole, self.current)}"
                )

    def _apply(self, rows) -> None:
        dropped = [(int(row[5]), int(row[6])) for row in rows if row[0] == "dropped"]
        units = self._rows_to_units([row for row in rows if row[0] != "dropped"])
        if any(unit[0] == "n" for unit in units) or any(classid == PG_NAMESPACE for classid, _ in dropped):
            self._read_all()  # a schema made, renamed or dropped: every name in it may change
            return
        # a dropped object's unit, as last read: gone with it, or to be read again (DROP INDEX)
        gone = {
            ("r" if classid == PG_CLASS else "t", oid) for classid, oid in dropped if classid in (PG_CLASS, PG_TYPE)
        }
        again: set[Unit] = set()
        for classid, oid in dropped:
            unit = self._owner.get((classid, oid))
            if unit is None or unit in units:
                continue
            if unit in gone:
                units[unit] = {}
            else:
                again.add(unit)
        for unit in gone:
            units.setdefault(unit, {})
        if again:
            params = {
                **self.params,
                "rels": sorted(oid for kind, oid in again if kind == "r"),
                "types": sorted(oid for kind, oid in again if kind == "t"),
            }
            units.update(self._rows_to_units(self._execute(_LOOK_SQL, params)))
        # every old entry of a unit re-read goes first: a name may move from one unit to another
        fresh = {key for entries in units.values() for key in entries}
        for unit in units:
            for key in self._unit_keys.pop(unit, ()):
                if key not in fresh:
                    self._put(key, None)
        for unit, entries in units.items():
            for key, value in entries.items():
                self._put(key, value)
            if entries:
                self._unit_keys[unit] = set(entries)

    def _put(self, key: tuple[str, str], value: str | None) -> None:
        old = self.current.get(key)
        if old == value:
            return
        for log in (self._since_before, self._since_upgrade):
            if log is not None and key not in log:
                log[key] = old
        if value is None:
            del self.current[key]
        else:
            self.current[key] = value

    # -- the stairway's three points --------------------------------------------------

    def after_upgrade(self) -> None:
        self._look()
        self._since_upgrade = {}

    def after_downgrade(self) -> list[SchemaChange]:
        """The schema now against the schema before this revision's upgrade (empty: the same)."""
        self._look()
        changes = []
        for key in sorted(self._since_before):
            old, new = self._since_before[key], self.current.get(key)
            if old != new:
                change = "added" if old is None else "removed" if new is None else "changed"
                changes.append(SchemaChange(key[0], key[1], change, old, new))
        # the next revision's "before" is the schema after this upgrade
        self._since_before, self._since_upgrade = self._since_upgrade or {}, None
        return changes
