"""``migdoc squash --to REV``: one baseline revision (REV's id, no down_revision) in place of
REV and all its ancestors, which are archived as ``fix --archive`` archives. Pure: the
planner reads the records and texts the edges read, and the baseline's body the database
part (:mod:`migdoc.fix.squash_schema`) rendered; it never touches disk or database.

What is refused, and why (one line each, exit 2, as ``fix`` refuses):

- REV unknown, or not an ancestor of every head (the baseline would not be below them);
- a revision outside the range pointing into it other than at REV (a live branch would be
  cut: its parent would leave the chain), or a branch label inside the range other than
  REV's (a ``depends_on`` or command may name it);
- an error-level finding on the chain (a squash is not a repair: ``migdoc fix`` first);
- data migrations in the range, unless ``--keep-data`` (their literal statements carried
  into the baseline, in order) or ``--drop-data`` (a fresh database has no rows to change).

Over ~500 lines for a reason: the range, its data migrations (read from the bodies' AST)
and the plan with its README are what one refusal or one note speaks of together; the
data-migration reader is a third of it and is only ever asked by the range.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

from migdoc.errors import FixRefused
from migdoc.fix.planner.archive import archived_names, readme_path, refuse_bad_archive_dir
from migdoc.fix.planner.context import PlanContext, folder_of, name_of
from migdoc.model import Action, CreateFile, FixOptions, MoveFile, Plan, Severity, TemplateRender
from migdoc.project.body_reader import is_data_only
from migdoc.project.naming import parse_create_date, render_file_template

SQUASH_MESSAGE = "squashed baseline"
README_TITLE = "# Archived by `migdoc squash --to {revision}` on {date}"
README_PATTERN = re.compile(r"^# Archived by `migdoc squash --to ([^`]+)`")
"""How MD016 recognises an archive folder a squash made (see :func:`squashed_into`)."""


@dataclass(frozen=True)
class DataMigration:
    """A statement in the range that changes rows, not the schema."""

    revision: str
    path: str
    line: int
    what: str
    statements: tuple[str, ...] | None
    """The SQL ``--keep-data`` carries into the baseline; None when it is not literal."""

    def describe(self) -> str:
        return f"{self.revision} ({name_of(self.path)}:{self.line}): {self.what}"


@dataclass(frozen=True)
class SquashRange:
    """REV, what the baseline replaces (REV and its ancestors), and what stays above it."""

    revision: str
    target: int
    members: tuple[int, ...]
    """File indexes, oldest first (the order the chain upgrades them)."""
    descendants: tuple[str, ...]
    data: tuple[DataMigration, ...] = ()
    member_ids: frozenset[str] = frozenset()


@dataclass(frozen=True)
class SquashOptions:
    to: str
    is_keep_data: bool = False
    is_drop_data: bool = False
    archive_dir: str | None = None
    now: datetime = datetime(2000, 1, 1)
    database_current: tuple[str, ...] | None = None
    """The deployed database's ``alembic_version`` rows (``--database-url``), else None."""
    applied: frozenset[str] = field(default_factory=frozenset)
    """Every revision the database has applied (its current ones and their ancestors)."""


# -- the range ---------------------------------------------------------------------------


def plan_range(context: PlanContext, to: str) -> SquashRange:
    """REV and its ancestors, checked to be a range a baseline can replace."""
    graph = context.graph
    files = context.files
    errors = sorted({d.code for d in context.diagnostics if d.severity is Severity.ERROR})
    if errors:
        raise FixRefused(
            f"squash: the chain has error-level findings ({', '.join(errors)}); repair them first (`migdoc fix`)"
        )
    index = graph.resolve(to)
    if index is None or files[index].revision is None:
        raise FixRefused(f"squash --to {to}: no such revision", flag="--to")
    revision = str(files[index].revision)
    members = graph.ancestors(index) | {index}
    heads = [graph.resolve(head) for head in graph.heads]
    not_below = sorted(
        str(files[h].revision) for h in heads if h is not None and h != index and not graph.is_ancestor(index, h)
    )
    if not_below:
        raise FixRefused(
            f"squash --to {revision}: not an ancestor of every head ({', '.join(not_below)} does not descend from it); "
            "merge the heads first or choose a revision below all of them",
            flag="--to",
        )
    member_ids = {str(files[i].revision) for i in members}
    for other, rf in enumerate(files):
        if other in members or rf.revision is None:
            continue
        cut = sorted(p for p in (*rf.down_revisions, *rf.depends_on) if p in member_ids and p != revision)
        labels_inside = {label for i in members for label in files[i].branch_labels}
        cut += sorted(p for p in rf.depends_on if p in labels_inside)
        if cut:
            raise FixRefused(
                f"squash --to {revision}: {rf.revision} ({name_of(rf.path)}) is outside the range but points into it "
                f"at {', '.join(cut)}, not at {revision}: squashing would cut that branch; "
                f"choose a revision above where it branches off",
                flag="--to",
            )
    labelled = sorted(str(files[i].revision) for i in members if files[i].branch_labels and i != index)
    if labelled:
        raise FixRefused(
            f"squash --to {revision}: {', '.join(labelled)} in the range carry branch labels, which would leave the chain"
        )
    order = graph.topological_indexes
    ordered = tuple(i for i in order if i in members)
    descendants = tuple(sorted(str(files[i].revision) for i in graph.descendants(index)))
    data = tuple(m for i in ordered for m in find_data_migrations(context, i))
    return SquashRange(revision, index, ordered, descendants, data, frozenset(member_ids))


def data_statements(squash: SquashRange, options: SquashOptions) -> tuple[str, ...]:
    """The statements the baseline carries after the schema (``--keep-data``), none
    (``--drop-data``, or no data migration); refuses when neither is chosen, naming them."""
    if not squash.data:
        return ()
    if options.is_keep_data and options.is_drop_data:
        raise FixRefused("squash: --keep-data and --drop-data exclude each other", flag="--keep-data")
    listed = "; ".join(m.describe() for m in squash.data)
    if options.is_drop_data:
        return ()
    if not options.is_keep_data:
        raise FixRefused(
            f"squash --to {squash.revision}: {len(squash.data)} data migration(s) in the range ({listed}); "
            "choose --keep-data (carry their statements into the baseline) or --drop-data (a fresh database "
            "has no rows for them)",
            flag="--keep-data",
        )
    built = [m for m in squash.data if m.statements is None]
    if built:
        raise FixRefused(
            f"squash --to {squash.revision}: --keep-data cannot carry {built[0].describe()}: its SQL is built at run "
            "time, not written out; rewrite it as literal SQL, or --drop-data",
            flag="--keep-data",
        )
    return tuple(statement for m in squash.data for statement in m.statements or ())


# -- data migrations ---------------------------------------------------------------------

_DML_WORD = re.compile(r"^\s*(insert|update|delete|merge|copy)\b", re.I)
_WITH_DML = re.compile(r"^\s*with\b.*\b(insert|update|delete)\b", re.I | re.S)
_DML_BUILDERS = {"insert", "update", "delete"}


def find_data_migrations(context: PlanContext, index: int) -> list[DataMigration]:
    """The statements of file ``index``'s ``upgrade()`` that change rows: ``op.bulk_insert``,
    ``execute`` of INSERT/UPDATE/DELETE SQL (literal, built, or a SQLAlchemy construct)."""
    rf = context.files[index]
    source = context.sources.get(rf.path)
    if source is None:
        return []
    try:
        module = ast.parse(source)
    except SyntaxError:
        return []
    upgrade = next(
        (n for n in module.body if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef)) and n.name == "upgrade"),
        None,
    )
    if upgrade is None:
        return []
    tables = _table_names(module, upgrade)
    found = []
    revision = str(rf.revision)
    for node in ast.walk(upgrade):
        if not isinstance(node, ast.Call) or not isinstance(node.func, ast.Attribute):
            continue
        attr = node.func.attr
        if attr == "bulk_insert":
            statements = _bulk_insert_sql(node, tables)
            table = _table_of(node.args[0] if node.args else None, tables) or "a table"
            found.append(DataMigration(revision, rf.path, node.lineno, f"op.bulk_insert into {table}", statements))
        elif attr in ("execute", "exec_driver_sql") and node.args:
            sql = _literal_sql(node.args[0])
            if sql is not None:
                changing = [part.strip() for part in _split_sql(sql) if _changes_rows(part)]
                if changing:
                    found.append(DataMigration(revision, rf.path, node.lineno, _short(changing[0]), tuple(changing)))
                continue
            built = _built_dml(node.args[0])
            if built is not None:
                found.append(DataMigration(revision, rf.path, node.lineno, f"{built} built at run time", None))
    return sorted(found, key=lambda m: m.line)


def _changes_rows(sql: str) -> bool:
    return bool(_DML_WORD.match(sql) or _WITH_DML.match(sql))


def _split_sql(sql: str) -> list[str]:
    """SQL that only reads or changes rows is carried whole (a ``;`` may sit in a string);
    mixed with DDL, its statements one by one (the DDL is the baseline's already)."""
    if is_data_only(sql) or ";" not in sql:
        return [sql]
    return [part for part in sql.split(";") if part.strip()]


def _short(sql: str) -> str:
    text = " ".join(sql.split())
    return text if len(text) <= 70 else text[:67] + "..."


def _literal_sql(node: ast.expr) -> str | None:
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.Call) and node.args:
        callee = node.func.attr if isinstance(node.func, ast.Attribute) else getattr(node.func, "id", "")
        if callee == "text" and not node.keywords:
            return _literal_sql(node.args[0])
    return None


def _built_dml(node: ast.expr) -> str | None:
    """ "UPDATE"... for SQL that changes rows but is built at run time; None otherwise."""
    if isinstance(node, ast.JoinedStr):
        text = "".join(v.value if isinstance(v, ast.Constant) else "?" for v in node.values)
        return text.split()[0].upper() if _changes_rows(text) else None
    if isinstance(node, ast.BinOp):
        return _built_dml(node.left)
    if isinstance(node, ast.Call):
        func = node.func
        if isinstance(func, ast.Attribute) and func.attr == "format":
            inner = _literal_sql(func.value)
            return inner.split()[0].upper() if inner and _changes_rows(inner) else None
        callee = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
        if callee == "text" and node.args:
            return _built_dml(node.args[0])
        current: ast.expr = node
        while isinstance(current, ast.Call):
            inner_func = current.func
            name = inner_func.attr if isinstance(inner_func, ast.Attribute) else getattr(inner_func, "id", "")
            if name in _DML_BUILDERS:
                return name.upper()
            current = inner_func.value if isinstance(inner_func, ast.Attribute) else None  # type: ignore[assignment]
    return None


def _table_names(module: ast.Module, upgrade: ast.AST) -> dict[str, str]:
    """Names bound to ``table("name", ...)`` / ``sa.table(...)`` in the module or upgrade()."""
    names = {}
    for node in [*module.body, *ast.walk(upgrade)]:
        if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
            table = _table_call_name(node.value)
            if table is not None:
                names[node.targets[0].id] = table
    return names


def _table_call_name(node: ast.expr | None) -> str | None:
    if isinstance(node, ast.Call) and node.args:
        callee = node.func.attr if isinstance(node.func, ast.Attribute) else getattr(node.func, "id", "")
        first = node.args[0]
        if callee in ("table", "Table") and isinstance(first, ast.Constant) and isinstance(first.value, str):
            schema = next(
                (k.value.value for k in node.keywords if k.arg == "schema" and isinstance(k.value, ast.Constant)), None
            )
            return f"{schema}.{first.value}" if schema else first.value
    return None


def _table_of(node: ast.expr | None, tables: dict[str, str]) -> str | None:
    if isinstance(node, ast.Name):
        return tables.get(node.id)
    return _table_call_name(node)


def _bulk_insert_sql(node: ast.Call, tables: dict[str, str]) -> tuple[str, ...] | None:
    """One INSERT per row of an ``op.bulk_insert`` whose table and rows are literal."""
    table = _table_of(node.args[0] if node.args else None, tables)
    rows_node = node.args[1] if len(node.args) > 1 else next((k.value for k in node.keywords if k.arg == "rows"), None)
    if table is None or rows_node is None:
        return None
    try:
        rows = ast.literal_eval(rows_node)
    except (ValueError, SyntaxError, TypeError):
        return None
    if not isinstance(rows, list) or not all(isinstance(row, dict) for row in rows):
        return None
    statements = []
    for row in rows:
        values = [_sql_value(value) for value in row.values()]
        if any(value is None for value in values):
            return None
        columns = ", ".join(_ident(str(column)) for column in row)
        statements.append(
            f"INSERT INTO {'.'.join(_ident(p) for p in table.split('.'))} ({columns}) VALUES ({', '.join(values)})"  # type: ignore[arg-type]
        )
    return tuple(statements)


def _sql_value(value: object) -> str | None:
    if value is None:
        return "NULL"
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, str):
        return "'" + value.replace("'", "''") + "'"
    return None


def _ident(name: str) -> str:
    return name if name.isidentifier() and name == name.lower() else '"' + name.replace('"', '""') + '"'


# -- the plan ----------------------------------------------------------------------------


def baseline_render(
    context: PlanContext, squash: SquashRange, options: SquashOptions, upgrades: str, downgrades: str, imports: str
) -> TemplateRender:
    """The template arguments ``alembic revision --autogenerate`` passes, for the baseline:
    REV's id, no down_revision, REV's labels, the generated body."""
    if context.script_template_path is None:
        raise FixRefused(
            "squash: the project has no script.py.mako in its script folder, so the baseline cannot be rendered "
            "as `alembic revision` renders it; add the template"
        )
    target = context.files[squash.target]
    labels = target.branch_labels
    # REV's own date: the baseline stands for the chain as it was then (and a newer date than
    # its children's would be MD009)
    created = parse_create_date(target.header.create_date) or options.now
    arguments = (
        ("up_revision", squash.revision),
        ("down_revision", None),
        ("branch_labels", tuple(labels) if labels else None),
        ("depends_on", None),
        ("create_date", created),
        ("message", SQUASH_MESSAGE),
        ("upgrades", upgrades),
        ("downgrades", downgrades),
        ("imports", imports),
    )
    return TemplateRender(template=context.script_template_path, arguments=arguments, down_revisions=())


def baseline_path(context: PlanContext, squash: SquashRange, options: SquashOptions) -> str:
    folder = folder_of(context.files[squash.target].path)
    stem = render_file_template(
        context.file_template,
        squash.revision,
        SQUASH_MESSAGE,
        FixOptions(now=options.now),
        context.truncate_slug_length,
    )
    path = f"{folder}/{stem}.py"
    if name_of(path) in context.existing_names.get(folder, frozenset()) and path != context.files[squash.target].path:
        raise FixRefused(f"squash: {path} already exists; cannot write the baseline there")
    return path


def plan_squash(
    context: PlanContext,
    squash: SquashRange,
    options: SquashOptions,
    baseline: CreateFile,
    explicit: Sequence[str] = (),
    kept_data: Sequence[str] = (),
) -> Plan:
    """Archive REV and its ancestors (REV's old file too), write ``baseline`` (REV's id) in
    their place. REV's children need no edit: the id they name stays in the chain."""
    files = context.files
    archive_dir = options.archive_dir or f"{context.archive_root}/{options.now:%Y-%m-%d}"
    refuse_bad_archive_dir(context, archive_dir)
    names = archived_names(context, archive_dir, squash.members)
    actions: list[Action] = []
    for index in sorted(squash.members, key=lambda i: files[i].path):
        rf = files[index]
        reason = (
            f"replaced by the baseline {name_of(baseline.path)} (same revision id {squash.revision})"
            if index == squash.target
            else f"squashed into the baseline {squash.revision}"
        )
        actions.append(
            MoveFile(
                source=rf.path,
                target=f"{archive_dir}/{names[index]}",
                sha256=rf.sha256,
                reason=reason,
                revision=rf.revision,
                warnings=_applied_warning(squash, options, str(rf.revision)),
            )
        )
    actions.append(baseline)
    actions.append(
        CreateFile(
            path=readme_path(context, archive_dir),
            content=_readme(context, squash, options, baseline, actions, kept_data),
            reason="what the squash archived, for the next person who looks",
        )
    )
    notes = [
        f"squash to {squash.revision}: {len(squash.members)} revisions become one baseline that keeps the id "
        f"{squash.revision}; "
        + (
            f"{len(squash.descendants)} revision(s) above it stay as they are ({', '.join(squash.descendants[:5])}"
            + (" ..." if len(squash.descendants) > 5 else "")
            + ")"
            if squash.descendants
            else f"{squash.revision} is the head"
        ),
        *(f"explicit SQL in the baseline for what autogenerate does not carry: {line}" for line in explicit),
    ]
    if squash.data:
        if kept_data:
            notes.append(f"--keep-data: {len(kept_data)} data statement(s) carried into the baseline after the schema")
        else:
            notes.append(
                "--drop-data: not carried (a fresh database has no rows for them): "
                + "; ".join(m.describe() for m in squash.data)
            )
    notes += database_notes(squash, options)
    return Plan(strategies=("squash",), actions=tuple(actions), notes=tuple(notes), main_head=None)


def database_notes(squash: SquashRange, options: SquashOptions) -> list[str]:
    """What the squash means for the deployed database (``--database-url``)."""
    current = options.database_current
    if current is None:
        return []
    if not current:
        return ["the database has no alembic_version row: the baseline builds it from empty (`alembic upgrade head`)"]
    before = sorted(r for r in current if r != squash.revision and r in squash.member_ids)
    if not before:
        return [
            f"the database is stamped at {', '.join(current)}: at {squash.revision} or later, so it needs nothing "
            "(the baseline keeps that id)"
        ]
    notes = []
    for rev in before:
        notes.append(
            f"the database is stamped at {rev}, before {squash.revision}, which the squash takes out of the chain: "
            f"run `alembic upgrade {squash.revision}` with the current chain BEFORE applying the squash; "
            f"afterwards it could only be realigned by hand (`alembic stamp {squash.revision}` once its schema "
            f"is {squash.revision}'s)"
        )
    return notes


def _applied_warning(squash: SquashRange, options: SquashOptions, revision: str) -> tuple[str, ...]:
    if options.database_current is None or revision not in options.applied:
        return ()
    if revision == squash.revision:
        return (f"applied in the database: {revision}; the baseline keeps its id, so alembic_version needs no change",)
    if revision in options.database_current:
        return (
            f"applied in the database: {revision} is its current revision, which the squash takes out of the chain; "
            f"`alembic upgrade {squash.revision}` it first (below)",
        )
    return (
        f"applied in the database: {revision}, an ancestor of its current {', '.join(options.database_current)}; "
        "alembic_version does not name it, and the baseline builds the schema it left",
    )


def _readme(
    context: PlanContext,
    squash: SquashRange,
    options: SquashOptions,
    baseline: CreateFile,
    actions: Sequence[Action],
    kept_data: Sequence[str],
) -> str:
    lines = [
        README_TITLE.format(revision=squash.revision, date=f"{options.now:%Y-%m-%d}"),
        "",
        f"These {len(squash.members)} revision files were squashed into one baseline, "
        f"`{name_of(baseline.path)}`, which keeps the revision id {squash.revision} and has no down_revision.",
        "It creates the schema the chain had at that revision (proved on a throwaway PostgreSQL before writing).",
        "Nothing was deleted.",
        "",
        f"A database stamped at one of these revisions other than {squash.revision} must be upgraded to "
        f"{squash.revision} with these files (`alembic upgrade {squash.revision}` before the squash), "
        f"or stamped at {squash.revision} once its schema is {squash.revision}'s.",
        "",
    ]
    for action in actions:
        if isinstance(action, MoveFile):
            renamed = name_of(action.target) != name_of(action.source)
            lines.append(
                f"- `{name_of(action.source)}` (revision {action.revision}, from `{folder_of(action.source)}/`"
                + (f", archived as `{name_of(action.target)}`" if renamed else "")
                + f"): {action.reason}"
            )
    if squash.data:
        lines += ["", "Data migrations in the range:", ""]
        for m in squash.data:
            lines.append(f"- {m.describe()}")
            lines += [f"  `{statement}`" for statement in m.statements or ()]
        lines += ["", "Carried into the baseline (--keep-data)." if kept_data else "Not carried (--drop-data)."]
    lines += [
        "",
        "To put everything back: `migdoc squash --undo` (right after applying), or move the files back by hand.",
        "",
    ]
    return "\n".join(lines)


def squashed_into(readme: str) -> str | None:
    """The revision a squash archived into, read from its archive README; None otherwise."""
    match = README_PATTERN.match(readme)
    return match.group(1) if match else None
