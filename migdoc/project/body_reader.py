"""The reader of ``upgrade()`` / ``downgrade()`` bodies: what a body does, read from its AST.

Three things are kept: a fingerprint (for duplicate content), the ``op.*``
calls migdoc can follow (for the replay of MD012), and SQL built from
non-literal values (MD015). Anything migdoc cannot follow is recorded as an
uncertain operation so the replay stays silent about what it may touch.

Over ~400 lines for a reason: one ``ast`` visitor (``_OperationScanner``) reads all three
in one pass over a body; which values SQL may be built from is in ``safe_values``.
"""

from __future__ import annotations

import ast
import hashlib
import re
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace

from migdoc.model import FunctionBody, Operation
from migdoc.project.lock_hints import lock_hints
from migdoc.project.safe_values import CLASS_MARK, bound_names, is_built_from_values, is_safe, parameters, safe_names

# Operations the replay understands, with the positional index of each field.
_FOLLOWED = {
    "create_table": {"table": 0},
    "drop_table": {"table": 0},
    "add_column": {"table": 0},
    "drop_column": {"table": 0, "name": 1},
    "create_index": {"name": 0, "table": 1},
    "drop_index": {"name": 0, "table": 1},
    "create_foreign_key": {"name": 0, "table": 1},
    "create_unique_constraint": {"name": 0, "table": 1},
    "create_check_constraint": {"name": 0, "table": 1},
    "create_primary_key": {"name": 0, "table": 1},
    "drop_constraint": {"name": 0, "table": 1},
    "rename_table": {"table": 0, "new_name": 1},
    "alter_column": {"table": 0, "name": 1},
}
_KEYWORDS = {
    "table": ("table_name", "source_table", "old_table_name"),
    "name": ("column_name", "index_name", "constraint_name"),
    "new_name": ("new_table_name", "new_column_name"),
}
# Batch operations take no table argument: it comes from the ``with`` block.
_BATCH_SHIFT = {
    "add_column": {},
    "drop_column": {"name": 0},
    "create_index": {"name": 0},
    "drop_index": {"name": 0},
    "create_foreign_key": {"name": 0},
    "create_unique_constraint": {"name": 0},
    "create_check_constraint": {"name": 0},
    "create_primary_key": {"name": 0},
    "drop_constraint": {"name": 0},
    "alter_column": {"name": 0},
}
_HARMLESS_OPS = {"get_bind", "get_context", "f", "inline_literal", "implementation_for"}
_SQL_SINKS = {"execute", "text", "exec_driver_sql"}


@dataclass(frozen=True)
class ModuleValues:
    """What a version file binds at module level, for the bodies that read it."""

    safe: frozenset[str] = frozenset()
    """Names bound to the file's own constants (literals, values built only from
    them, classes defined in the file): SQL formatted from them is not MD015."""
    sources: Mapping[str, str] = field(default_factory=dict)
    """Name -> the normalised source of its module-level value: a body that loops
    over a module-level list does the work that list says (MD011)."""


def read_module_values(module: ast.Module) -> ModuleValues:
    """Module-level bindings in order; a name re-bound to a non-constant is not safe."""
    safe: set[str] = set()
    sources: dict[str, str] = {}
    for stmt in module.body:
        if isinstance(stmt, ast.ClassDef):
            # its attributes (an Enum's members) are the file's constants; what its methods
            # return (a model's query) is not: the marker tells is_safe which names are classes
            safe |= {stmt.name, CLASS_MARK + stmt.name}
            continue
        if isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef)):
            safe.discard(stmt.name)  # calling it is an unknown call
            continue
        if isinstance(stmt, (ast.Import, ast.ImportFrom)):
            for alias in stmt.names:
                safe.discard((alias.asname or alias.name).split(".")[0])
            continue
        value = getattr(stmt, "value", None)
        targets = stmt.targets if isinstance(stmt, ast.Assign) else [getattr(stmt, "target", None)]
        if value is None or not isinstance(stmt, (ast.Assign, ast.AnnAssign, ast.AugAssign)):
            continue
        is_constant = (
            is_safe(value, safe)
            and not isinstance(stmt, ast.AugAssign)
            or (isinstance(stmt, ast.AugAssign) and is_safe(value, safe) and bound_names(stmt.target) <= safe)
        )
        text = _normalised(value)
        for target in targets:
            for name in bound_names(target):
                sources[name] = text
                if is_constant:
                    safe.add(name)
                else:
                    safe.discard(name)
    return ModuleValues(frozenset(safe), sources)


def _normalised(node: ast.AST) -> str:
    # the value's structure, not its text: spacing and comments around it do not count
    return ast.dump(node, annotate_fields=False)


def read_function_body(
    func: ast.FunctionDef | ast.AsyncFunctionDef, lines: list[str], module: ModuleValues | None = None
) -> FunctionBody:
    module = module or ModuleValues()
    body = list(func.body)
    if (
        body
        and isinstance(body[0], ast.Expr)
        and isinstance(body[0].value, ast.Constant)
        and isinstance(body[0].value.value, str)
    ):
        body = body[1:]
    meaningful = [stmt for stmt in body if not _is_trivial(stmt)]
    read: list[str] = []
    local: set[str] = set()
    if module.sources:  # one walk: the names the body binds, and the module values it reads
        loaded: set[str] = set()
        for node in ast.walk(func):
            if isinstance(node, ast.Name):
                (local if isinstance(node.ctx, ast.Store) else loaded).add(node.id)
        local |= parameters(func)
        read = sorted(loaded & module.sources.keys() - local)
    fingerprint = _fingerprint(meaningful, lines, [f"{name}={module.sources[name]}" for name in read])
    scanner = _OperationScanner(lambda: safe_names(func, module.safe), lambda: local_assignments(func))
    for stmt in body:
        scanner.visit(stmt)
    return FunctionBody(
        line=func.lineno,
        fingerprint=fingerprint,
        does_work=bool(meaningful),
        only_raises=bool(meaningful) and all(isinstance(s, ast.Raise) for s in meaningful),
        operations=tuple(scanner.operations),
        has_uncertain_sql=scanner.has_uncertain,
        unsafe_sql_lines=tuple(line for line, _, _ in scanner.unsafe_sql),
        unsafe_sql_variables=tuple(variable for _, variable, _ in scanner.unsafe_sql),
        unsafe_sql_statements=tuple(statement for _, _, statement in scanner.unsafe_sql),
    )


def local_assignments(func: ast.FunctionDef | ast.AsyncFunctionDef) -> dict[str, list[tuple[int, ast.expr, bool]]]:
    """Name -> (line, value, is it a statement of the body itself, outside any loop or branch)
    of each simple assignment to it in the function (``x = ...``, ``x: str = ...``,
    ``x += ...``), in source order; what SQL handed over by name was built from."""
    found: dict[str, list[tuple[int, ast.expr, bool]]] = {}
    top_level = {id(stmt) for stmt in func.body}
    for node in ast.walk(func):
        if isinstance(node, ast.Assign):
            targets = [t for t in node.targets if isinstance(t, ast.Name)]
        elif isinstance(node, (ast.AnnAssign, ast.AugAssign)) and node.value is not None:
            targets = [node.target] if isinstance(node.target, ast.Name) else []
        else:
            continue
        for target in targets:
            value = node.value
            if isinstance(node, ast.AugAssign):  # sql += f"... {x}": the part added is what is built
                value = ast.BinOp(left=ast.Constant(""), op=ast.Add(), right=node.value)
            found.setdefault(target.id, []).append((node.lineno, value, id(node) in top_level))
    for assignments in found.values():
        assignments.sort(key=lambda pair: pair[0])
    return found


def is_dispatcher(func: ast.FunctionDef | ast.AsyncFunctionDef) -> bool:
    """Whether ``func`` only hands over to a function chosen by name at run time, as
    Alembic's multidb template does: ``globals()["upgrade_%s" % engine_name]()``."""
    body = [s for s in func.body if not (isinstance(s, ast.Expr) and isinstance(s.value, ast.Constant))]
    if len(body) != 1 or not isinstance(body[0], ast.Expr | ast.Return) or body[0].value is None:
        return False
    call = body[0].value
    return (
        isinstance(call, ast.Call)
        and isinstance(call.func, ast.Subscript)
        and isinstance(call.func.value, ast.Call)
        and isinstance(call.func.value.func, ast.Name)
        and call.func.value.func.id == "globals"
    )


def read_dispatched_body(dispatcher: FunctionBody, targets: list[tuple[str, FunctionBody]]) -> FunctionBody:
    """What a dispatcher (:func:`is_dispatcher`) does: the work of the functions it may
    call (``upgrade_<db>()``, by name), so two revisions compare by that work and not by
    the dispatching line every revision of the template shares. The operations stay the
    dispatcher's own: each database has a schema of its own, which one replay cannot hold."""
    digest = hashlib.sha1(b"dispatched\n")
    for name, body in sorted(targets):
        digest.update(f"{name}={body.fingerprint}\n".encode())
    working = [body for _, body in targets if body.does_work]
    return replace(
        dispatcher,
        fingerprint=digest.hexdigest(),
        does_work=bool(working),
        only_raises=bool(working) and all(body.only_raises for body in working),
        has_uncertain_sql=dispatcher.has_uncertain_sql or any(b.has_uncertain_sql for _, b in targets),
        unsafe_sql_lines=tuple(
            sorted({*dispatcher.unsafe_sql_lines, *(n for _, b in targets for n in b.unsafe_sql_lines)})
        ),
    )


def _fingerprint(statements: list[ast.stmt], lines: list[str], module_values: list[str] = ()) -> str:
    """Hash of the statements' source with comments, blank lines and spacing removed,
    and of the module-level values they read (two data migrations looping over
    different module-level lists are not the same work).

    Source text rather than ``ast.dump``: the dump costs more than the parse,
    and formatting-only differences are already normalised away here.
    """
    digest = hashlib.sha1()
    for value in module_values:
        digest.update(value.encode())
        digest.update(b"\n")
    for stmt in statements:
        for line in lines[stmt.lineno - 1 : (stmt.end_lineno or stmt.lineno)]:
            if "#" in line and "'" not in line and '"' not in line:
                line = line.split("#", 1)[0]
            digest.update("".join(line.split()).encode())
            digest.update(b"\n")
    return digest.hexdigest()


def _is_trivial(stmt: ast.stmt) -> bool:
    if isinstance(stmt, ast.Pass):
        return True
    if _is_guard(stmt):
        return True
    return isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Constant)


def _is_guard(stmt: ast.stmt) -> bool:
    """``if <check>: return``: a placeholder migration's early exit (``if skip(op): return``), no work."""
    return (
        isinstance(stmt, ast.If)
        and not stmt.orelse
        and all(isinstance(s, ast.Return) and s.value is None for s in stmt.body)
    )


def _interned(value: str | None) -> str | None:
    """Table names recur across a chain's files: one string each (memory at 50,000)."""
    return sys.intern(value) if type(value) is str else value


def _string(node: ast.expr | None) -> str | None:
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    return None


def _argument(call: ast.Call, position: int | None, keywords: tuple[str, ...]) -> ast.expr | None:
    for keyword in call.keywords:
        if keyword.arg in keywords:
            return keyword.value
    if position is not None and position < len(call.args):
        return call.args[position]
    return None


class _OperationScanner(ast.NodeVisitor):
    def __init__(
        self,
        find_safe: Callable[[], frozenset[str]] = frozenset,
        find_assignments: Callable[[], dict[str, list[tuple[int, ast.expr, bool]]]] = dict,
    ) -> None:
        self._find_safe = find_safe
        self._safe: frozenset[str] | None = None
        self._find_assignments = find_assignments
        self._assignments: dict[str, list[tuple[int, ast.expr, bool]]] | None = None
        self.operations: list[Operation] = []
        self.has_uncertain = False
        self.unsafe_sql: list[tuple[int, str, str]] = []
        """(line of the call, "variable:line" or "", the statement's leading keywords)."""
        self._batch_tables: dict[str, str | None] = {}
        self._batch_schemas: dict[str, str | None] = {}
        self._conditional_depth = 0
        self._autocommit_depth = 0  # inside op.get_context().autocommit_block(): no transaction

    def visit_Constant(self, node: ast.Constant) -> None:
        # NodeVisitor's default here goes through a deprecation shim that
        # costs more than the rest of the walk; constants hold no calls.
        return

    def visit_Name(self, node: ast.Name) -> None:
        return

    def visit_With(self, node: ast.With) -> None:
        is_autocommit = any(
            isinstance(item.context_expr, ast.Call)
            and isinstance(item.context_expr.func, ast.Attribute)
            and item.context_expr.func.attr == "autocommit_block"
            for item in node.items
        )
        self._autocommit_depth += is_autocommit
        for item in node.items:
            call = item.context_expr
            if (
                isinstance(call, ast.Call)
                and isinstance(call.func, ast.Attribute)
                and call.func.attr == "batch_alter_table"
                and isinstance(item.optional_vars, ast.Name)
            ):
                table = _string(_argument(call, 0, ("table_name",)))
                schema_arg = _argument(call, None, ("schema",))
                if schema_arg is not None and not _is_none(schema_arg) and _string(schema_arg) is None:
                    table = None  # a schema chosen at run time: what the block touches is uncertain
                self._batch_tables[item.optional_vars.id] = table
                self._batch_schemas[item.optional_vars.id] = _string(schema_arg)
            else:
                self.visit(item.context_expr)
        for stmt in node.body:
            self.visit(stmt)
        self._autocommit_depth -= is_autocommit

    def visit_For(self, node: ast.stmt) -> None:
        # A loop or a branch runs its operations a number of times the replay
        # cannot know: what they touch becomes uncertain, but SQL inside is
        # still checked for MD015. One that only changes rows (DML), or calls
        # nothing, leaves the schema alone.
        start = len(self.operations)
        depth = self._conditional_depth
        self._conditional_depth += 1
        self.generic_visit(node)
        self._conditional_depth = depth
        exits = any(isinstance(n, (ast.Return, ast.Raise)) for n in ast.walk(node))
        # a conditional return (`if dialect != "postgresql": return`) makes all that follows conditional
        if exits or not all(_is_data_change(op) for op in self.operations[start:]):
            self.has_uncertain = True
            self.operations.insert(start, Operation(kind="unknown", line=node.lineno, is_certain=False))

    visit_While = visit_For
    visit_AsyncFor = visit_For
    visit_If = visit_For
    visit_Try = visit_For

    def visit_Call(self, node: ast.Call) -> None:
        self._check_unsafe_sql(node)
        func = node.func
        if isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name):
            owner, attr = func.value.id, func.attr
            if owner == "op":
                self._record(node, attr, batch_table=None, is_batch=False)
            elif owner in self._batch_tables:
                self._record(
                    node,
                    attr,
                    batch_table=self._batch_tables[owner],
                    is_batch=True,
                    batch_schema=self._batch_schemas.get(owner),
                )
            elif attr in ("execute", "exec_driver_sql"):
                self._record_sql(node)
        elif isinstance(func, ast.Attribute) and func.attr in ("execute", "exec_driver_sql"):
            self._record_sql(node)  # op.get_bind().execute(...), self.conn.execute(...)
        elif isinstance(func, ast.Name) and func.id not in _PURE_CALLS:
            # A helper function may do anything to the schema.
            self._uncertain(node.lineno)
        for arg in node.args:
            self.visit(arg)
        for keyword in node.keywords:
            self.visit(keyword.value)

    def _record(
        self, node: ast.Call, attr: str, batch_table: str | None, is_batch: bool, batch_schema: str | None = None
    ) -> None:
        if attr in _HARMLESS_OPS:
            return
        if attr == "execute" and not is_batch:
            self._record_sql(node)
            return
        spec = _BATCH_SHIFT.get(attr) if is_batch else _FOLLOWED.get(attr)
        if spec is None:
            self._uncertain(node.lineno)
            return
        fields: dict[str, str | None] = {}
        certain = True
        for field_name in ("table", "name", "new_name"):
            if field_name == "table" and is_batch:
                fields["table"] = batch_table
                certain = certain and batch_table is not None
                continue
            arg = _argument(node, spec.get(field_name), _KEYWORDS[field_name])
            value = _string(arg)
            if arg is not None and value is None:
                certain = False
            fields[field_name] = value
        if attr == "add_column":
            column_arg = _argument(node, 0 if is_batch else 1, ("column",))
            fields["name"] = _column_name(column_arg)
            certain = certain and fields["name"] is not None
        if attr == "alter_column":
            fields["new_name"] = _string(_argument(node, None, ("new_column_name",)))
        columns: tuple[str, ...] = ()
        if attr == "create_table":
            names = [_column_name(arg) for arg in node.args[1:]]
            columns = tuple(n for n in names if n)
            certain = certain and not any(isinstance(a, ast.Starred) for a in node.args)
        if attr == "create_index":  # the columns it indexes (MD022: a column only another branch adds)
            columns = _literal_strings(_argument(node, 1 if is_batch else 2, ("columns",)))
        if any(k.arg in ("if_not_exists", "if_exists") and not _is_false(k.value) for k in node.keywords):
            certain = False  # it may do nothing: what it finds there is not known
        if fields.get("table") is None or self._conditional_depth:
            certain = False
        schema = batch_schema
        if not is_batch:
            schema_arg = _argument(node, None, ("schema",))
            schema = _string(schema_arg)
            if schema_arg is not None and schema is None and not _is_none(schema_arg):
                certain = False  # a schema chosen at run time
        constraint_type = _string(_argument(node, None, ("type_",))) if attr == "drop_constraint" else None
        self.operations.append(
            Operation(
                kind=sys.intern(attr),
                line=node.lineno,
                table=_interned(fields.get("table")),
                name=fields.get("name"),
                new_name=fields.get("new_name"),
                columns=columns,
                is_certain=certain,
                schema=schema,
                constraint_type=constraint_type,
                lock_hints=lock_hints(node, attr, is_batch, self._autocommit_depth > 0),
            )
        )

    def _record_sql(self, node: ast.Call) -> None:
        """``op.execute`` / ``conn.execute``: literal SQL is kept for the replay; SQL built at
        run time, or in a loop or branch, is kept only where it changes rows, not the schema."""
        argument = node.args[0] if node.args else None
        sql = _sql_literal(argument)
        if sql is not None and not self._conditional_depth:
            hints = frozenset({"autocommit"}) if self._autocommit_depth else frozenset()
            self.operations.append(
                Operation(kind="execute", line=node.lineno, name=sql, is_certain=False, lock_hints=hints)
            )
            return
        template = sql if sql is not None else _sql_template(argument)
        if template is not None and is_data_only(template):
            self.operations.append(Operation(kind="execute", line=node.lineno, name=template, is_certain=False))
            return
        self._uncertain(node.lineno)

    def _uncertain(self, line: int) -> None:
        self.has_uncertain = True
        self.operations.append(Operation(kind="unknown", line=line, is_certain=False))

    def _check_unsafe_sql(self, node: ast.Call) -> None:
        func = node.func
        name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", None)
        if name not in _SQL_SINKS or not node.args:
            return
        argument = node.args[0]
        if is_built_from_values(argument, self.safe):
            self.unsafe_sql.append((node.lineno, "", _statement_keywords(_sql_template(argument))))
            return
        if isinstance(argument, ast.Name) and argument.id not in self.safe:
            built = self._built_into(argument.id, node.lineno)
            if built is not None:
                line, value = built
                self.unsafe_sql.append(
                    (node.lineno, f"{argument.id}:{line}", _statement_keywords(_sql_template(value)))
                )

    def _built_into(self, name: str, call_line: int) -> tuple[int, ast.expr] | None:
        """The assignment of local ``name`` that built SQL from outside values, among those
        that may reach the call: from the last one above it in the body itself (every path
        passes there) down to the call; any, when none is above, as in a loop."""
        if self._assignments is None:
            self._assignments = self._find_assignments()
        assignments = self._assignments.get(name, [])
        above = [a for a in assignments if a[0] <= call_line]
        last_certain = max((i for i, a in enumerate(above) if a[2]), default=0)
        reaching = above[last_certain:] or assignments
        for line, value, _ in reaching:
            if is_built_from_values(value, self.safe):
                return line, value
        return None

    @property
    def safe(self) -> frozenset[str]:
        """Names whose values come from the file's own constants (MD015); worked out only
        for a body that builds SQL from values, which few do."""
        if self._safe is None:
            self._safe = self._find_safe()
        return self._safe


# Calls that build values rather than change the schema.
_PURE_CALLS = {
    "Column",
    "ForeignKey",
    "Index",
    "UniqueConstraint",
    "PrimaryKeyConstraint",
    "CheckConstraint",
    "ForeignKeyConstraint",
    "text",
    "table",
    "column",
    "Enum",
    "str",
    "int",
    "len",
    "print",
    "Identity",
    "Computed",
    "func",
}


def _sql_literal(node: ast.expr | None) -> str | None:
    """The SQL text of ``"..."`` or ``sa.text("...")``; None when built at run time."""
    if isinstance(node, ast.Call) and node.args:
        callee = node.func
        callee_name = callee.attr if isinstance(callee, ast.Attribute) else getattr(callee, "id", "")
        if callee_name == "text":
            return _string(node.args[0])
    return _string(node)


_DML = re.compile(r"^\s*(update|insert|delete|select|with)\b", re.I)
_DML_BUILDERS = {"update", "insert", "delete", "select"}


def is_data_only(sql: str) -> bool:
    """True for SQL that reads or changes rows, not the schema (every statement of it)."""
    statements = [part for part in sql.split(";") if part.strip()]
    return bool(statements) and all(_DML.match(part) for part in statements)


def _is_data_change(op: Operation) -> bool:
    return op.kind == "execute" and op.name is not None and is_data_only(op.name)


def _sql_template(node: ast.expr | None) -> str | None:
    """The text of SQL built at run time, values left out (``"UPDATE t SET a = {}"``), or a
    stand-in for a SQLAlchemy DML construct (``table.update()...``); None when unknown."""
    if isinstance(node, ast.Call):
        func = node.func
        if isinstance(func, ast.Attribute) and func.attr == "format":
            return _sql_template(func.value)
        callee = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
        if callee == "text" and node.args:
            return _sql_template(node.args[0])
        # table.update().where(...).values(...), sa.select(...): the outermost call's chain
        current: ast.expr = node
        while isinstance(current, ast.Call) and isinstance(current.func, ast.Attribute):
            if current.func.attr in _DML_BUILDERS:
                return current.func.attr.upper()
            current = current.func.value
        if isinstance(current, ast.Call) and getattr(current.func, "id", "") in _DML_BUILDERS:
            return current.func.id.upper()
        return None
    if isinstance(node, ast.JoinedStr):
        return "".join(v.value if isinstance(v, ast.Constant) else "{}" for v in node.values)
    if isinstance(node, ast.BinOp) and isinstance(node.op, (ast.Mod, ast.Add)):
        left = _sql_template(node.left)
        if isinstance(node.op, ast.Mod):
            return left
        right = _sql_template(node.right)
        return None if left is None else left + (right if right is not None else "{}")
    return _string(node)


_LEADING_WORDS = re.compile(r"^\s*(?:--[^\n]*\n\s*)*([A-Za-z]+(?:\s+[A-Za-z]+)?)")


def _statement_keywords(template: str | None) -> str:
    """``CREATE SEQUENCE`` of ``"create sequence s start with {}"``; "" when unknown."""
    if not template:
        return ""
    match = _LEADING_WORDS.match(template)
    return " ".join(match.group(1).upper().split()) if match else ""


def _literal_strings(node: ast.expr | None) -> tuple[str, ...]:
    """The string constants of a literal list or tuple (expressions in it are left out)."""
    if not isinstance(node, ast.List | ast.Tuple):
        return ()
    return tuple(e.value for e in node.elts if isinstance(e, ast.Constant) and isinstance(e.value, str))


def _is_false(node: ast.expr) -> bool:
    return isinstance(node, ast.Constant) and node.value in (False, None)


def _column_name(node: ast.expr | None) -> str | None:
    if isinstance(node, ast.Call):
        callee = node.func
        callee_name = callee.attr if isinstance(callee, ast.Attribute) else getattr(callee, "id", "")
        if callee_name == "Column" and node.args:
            return _string(node.args[0])
    return None


def _is_none(node: ast.expr) -> bool:
    return isinstance(node, ast.Constant) and node.value is None
