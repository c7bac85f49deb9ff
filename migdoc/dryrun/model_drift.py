"""Model drift (MD020): Alembic's own comparison of the schema at the heads with the
models' ``target_metadata`` (``alembic.autogenerate.compare_metadata``, what
``alembic check`` and autogenerate use), made with env.py's own comparison settings
and said in words. ``compare_models`` reads the database; the rest describes the diffs."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from migdoc.rules import code_named

_MODIFIED = {
    "modify_type": "type",
    "modify_nullable": "nullable",
    "modify_default": "server default",
    "modify_comment": "comment",
}


@dataclass(frozen=True)
class Drift:
    """One difference, reported on the head revision's file (where the missing migration belongs)."""

    message: str
    file: str | None
    line: int
    revision: str | None

    def to_dict(self) -> dict[str, object]:
        return {
            "code": code_named("model-drift"),
            "file": self.file,
            "line": self.line,
            "revision": self.revision,
            "message": self.message,
        }


# The keyword arguments of env.py's ``context.configure`` that decide what autogenerate
# compares (as ``alembic check`` honours them); the rest (render_as_batch, literal_binds,
# process_revision_directives, ...) shape rendered scripts, not the comparison.
COMPARISON_OPTIONS = (
    "include_object",
    "include_name",
    "include_schemas",
    "compare_type",
    "compare_server_default",
    "version_table",  # the version table is never a difference
    "version_table_schema",
)


def comparison_options(configure_options: Mapping[str, object]) -> dict[str, object]:
    """What of env.py's ``context.configure`` keyword arguments the comparison takes."""
    return {key: value for key, value in configure_options.items() if key in COMPARISON_OPTIONS}


def compare_models(connection, metadata, configure_options: Mapping[str, object]) -> list:
    """``compare_metadata`` of ``metadata`` against the schema on ``connection`` (SQLAlchemy,
    sync), on a MigrationContext configured as env.py configured its own: an ``include_object``
    that leaves a table out, ``compare_type=False``, ``include_schemas``... apply as in
    ``alembic check``."""
    from alembic.autogenerate import compare_metadata
    from alembic.runtime.migration import MigrationContext

    context = MigrationContext.configure(connection, opts=comparison_options(configure_options))
    return compare_metadata(context, metadata)


def _qualified(schema, name) -> str:
    return f"{schema}.{name}" if schema else str(name)


def _table_of(item) -> str:
    table = getattr(item, "table", None)
    if table is None:
        return "?"
    return _qualified(getattr(table, "schema", None), table.name)


def describe(diff) -> list[str]:
    """Words for one entry of ``compare_metadata``'s list (a tuple, or a list of ``modify_*`` tuples)."""
    if isinstance(diff, list):
        return [line for entry in diff for line in describe(entry)]
    kind = diff[0]
    verb = {"table": "creates", "column": "adds"}.get(kind.split("_", 1)[-1], "makes")
    in_models = f"is in the models, but no migration {verb} it"
    in_migrations = "is made by the migrations, but is not in the models"
    if kind in ("add_table", "remove_table"):
        table = diff[1]
        where = in_models if kind == "add_table" else in_migrations
        return [f"table {_qualified(table.schema, table.name)} {where}"]
    if kind in ("add_column", "remove_column"):
        _, schema, table, column = diff[:4]
        where = in_models if kind == "add_column" else in_migrations
        return [f"column {_qualified(schema, table)}.{column.name} {where}"]
    if kind in ("add_index", "remove_index", "add_constraint", "remove_constraint", "add_fk", "remove_fk"):
        item = diff[1]
        noun = {"index": "index", "constraint": "constraint", "fk": "foreign key"}[kind.split("_", 1)[1]]
        where = in_models if kind.startswith("add") else in_migrations
        return [f"{noun} {item.name or '(unnamed)'} on {_table_of(item)} {where}"]
    if kind in _MODIFIED:
        _, schema, table, column, _existing, old, new = diff[:7]
        return [
            f"column {_qualified(schema, table)}.{column}: {_MODIFIED[kind]} is {old!r} after the migrations, "
            f"{new!r} in the models"
        ]
    return [f"{kind}: {' '.join(str(part) for part in diff[1:])}"]


def drift_of(diffs, file: str | None, revision: str | None) -> list[Drift]:
    return [Drift(message, file, 1, revision) for diff in diffs for message in describe(diff)]
