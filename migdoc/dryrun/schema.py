"""Schema snapshots read from PostgreSQL's catalogs, and their differences.

A snapshot maps ``(kind, name)`` to a description string; two snapshots are
equal exactly when the objects and their definitions are. One catalog query.
"""

from __future__ import annotations

from dataclasses import dataclass

# Every user object outside the system schemas, as (kind, name, definition).
# Names are schema-qualified; definitions come from PostgreSQL's own deparsers,
# so they are stable and readable.
SNAPSHOT_SQL = """
WITH ns AS (
    SELECT oid, nspname FROM pg_namespace
    WHERE nspname NOT IN ('pg_catalog', 'information_schema')
      AND nspname NOT LIKE 'pg\\_toast%' AND nspname NOT LIKE 'pg\\_temp\\_%'
),
rel AS (
    SELECT c.oid, c.relname, c.relkind, ns.nspname, ns.nspname || '.' || c.relname AS qname
    FROM pg_class c JOIN ns ON ns.oid = c.relnamespace
    WHERE NOT (ns.nspname = :version_schema AND c.relname = :version_table)
)
SELECT 'table', qname, CASE relkind WHEN 'p' THEN 'partitioned table' ELSE 'table' END
FROM rel WHERE relkind IN ('r', 'p')
UNION ALL
SELECT 'column', rel.qname || '.' || a.attname,
       format_type(a.atttypid, a.atttypmod)
       || CASE WHEN a.attnotnull THEN ' NOT NULL' ELSE ' NULL' END
       || COALESCE(' DEFAULT ' || pg_get_expr(d.adbin, d.adrelid), '')
       || CASE WHEN a.attidentity <> '' THEN ' IDENTITY ' || a.attidentity::text ELSE '' END
       || CASE WHEN a.attgenerated <> '' THEN ' GENERATED' ELSE '' END
FROM rel JOIN pg_attribute a ON a.attrelid = rel.oid
LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
WHERE rel.relkind IN ('r', 'p', 'v', 'm', 'f') AND a.attnum > 0 AND NOT a.attisdropped
UNION ALL
SELECT 'index', rel.nspname || '.' || ic.relname, pg_get_indexdef(i.indexrelid)
FROM pg_index i JOIN rel ON rel.oid = i.indrelid JOIN pg_class ic ON ic.oid = i.indexrelid
UNION ALL
SELECT CASE con.contype WHEN 'p' THEN 'primary key' WHEN 'u' THEN 'unique constraint'
                        WHEN 'c' THEN 'check constraint' WHEN 'f' THEN 'foreign key'
                        WHEN 'x' THEN 'exclusion constraint' ELSE 'constraint' END,
       rel.qname || '.' || con.conname, pg_get_constraintdef(con.oid)
FROM pg_constraint con JOIN rel ON rel.oid = con.conrelid
WHERE con.contype IN ('p', 'u', 'c', 'f', 'x')
UNION ALL
SELECT 'sequence', rel.qname,
       format_type(s.seqtypid, NULL) || ' START ' || s.seqstart || ' INCREMENT ' || s.seqincrement
FROM rel JOIN pg_sequence s ON s.seqrelid = rel.oid
UNION ALL
SELECT 'view', rel.qname, CASE rel.relkind WHEN 'm' THEN 'MATERIALIZED ' ELSE '' END || pg_get_viewdef(rel.oid)
FROM rel WHERE rel.relkind IN ('v', 'm')
UNION ALL
SELECT 'type', ns.nspname || '.' || t.typname,
       'ENUM (' || (SELECT string_agg(quote_literal(e.enumlabel), ', ' ORDER BY e.enumsortorder)
                    FROM pg_enum e WHERE e.enumtypid = t.oid) || ')'
FROM pg_type t JOIN ns ON ns.oid = t.typnamespace WHERE t.typtype = 'e'
UNION ALL
SELECT 'type', ns.nspname || '.' || t.typname, 'DOMAIN ' || format_type(t.typbasetype, t.typtypmod)
FROM pg_type t JOIN ns ON ns.oid = t.typnamespace WHERE t.typtype = 'd'
UNION ALL
SELECT 'schema', nspname, 'schema' FROM ns WHERE nspname <> 'public'
"""

Snapshot = dict[tuple[str, str], str]


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
    return {(kind, name): definition for kind, name, definition in rows}


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
