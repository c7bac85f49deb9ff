"""What an ``upgrade()`` / ``downgrade()`` body does, read from its AST.

Three things are kept: a fingerprint (for duplicate content), the ``op.*``
calls migdoc can follow (for the replay of MD012), and SQL built from
non-literal values (MD015). Anything migdoc cannot follow is recorded as an
uncertain operation so the replay stays silent about what it may touch.
"""

from __future__ import annotations

import ast
import hashlib

from migdoc.model import FunctionBody, Operation

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
    "name": ("column_name", "index_name", "constraint_name", "index_name"),
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


def read_function_body(func: ast.FunctionDef | ast.AsyncFunctionDef, lines: list[str]) -> FunctionBody:
    body = list(func.body)
    if (
        body
        and isinstance(body[0], ast.Expr)
        and isinstance(body[0].value, ast.Constant)
        and isinstance(body[0].value.value, str)
    ):
        body = body[1:]
    meaningful = [stmt for stmt in body if not _is_trivial(stmt)]
    fingerprint = _fingerprint(meaningful, lines)
    scanner = _OperationScanner()
    for stmt in body:
        scanner.visit(stmt)
    return FunctionBody(
        line=func.lineno,
        fingerprint=fingerprint,
        does_work=bool(meaningful),
        only_raises=bool(meaningful) and all(isinstance(s, ast.Raise) for s in meaningful),
        operations=tuple(scanner.operations),
        has_uncertain_sql=scanner.has_uncertain,
        unsafe_sql_lines=tuple(scanner.unsafe_sql_lines),
    )


def _fingerprint(statements: list[ast.stmt], lines: list[str]) -> str:
    """Hash of the statements' source with comments, blank lines and spacing removed.

    Source text rather than ``ast.dump``: the dump costs more than the parse,
    and formatting-only differences are already normalised away here.
    """
    digest = hashlib.sha1()
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
    return isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Constant)


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
    def __init__(self) -> None:
        self.operations: list[Operation] = []
        self.has_uncertain = False
        self.unsafe_sql_lines: list[int] = []
        self._batch_tables: dict[str, str | None] = {}
        self._conditional_depth = 0

    def visit_Constant(self, node: ast.Constant) -> None:
        # NodeVisitor's default here goes through a deprecation shim that
        # costs more than the rest of the walk; constants hold no calls.
        return

    def visit_Name(self, node: ast.Name) -> None:
        return

    def visit_With(self, node: ast.With) -> None:
        for item in node.items:
            call = item.context_expr
            if (
                isinstance(call, ast.Call)
                and isinstance(call.func, ast.Attribute)
                and call.func.attr == "batch_alter_table"
                and isinstance(item.optional_vars, ast.Name)
            ):
                table = _string(_argument(call, 0, ("table_name",)))
                self._batch_tables[item.optional_vars.id] = table
            else:
                self.visit(item.context_expr)
        for stmt in node.body:
            self.visit(stmt)

    def visit_For(self, node: ast.stmt) -> None:
        # A loop or a branch runs its operations a number of times the replay
        # cannot know: what they touch becomes uncertain, but SQL inside is
        # still checked for MD015.
        self._uncertain(node.lineno)
        depth = self._conditional_depth
        self._conditional_depth += 1
        self.generic_visit(node)
        self._conditional_depth = depth

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
                self._record(node, attr, batch_table=self._batch_tables[owner], is_batch=True)
            elif attr in ("execute", "exec_driver_sql"):
                self._uncertain(node.lineno)
        elif isinstance(func, ast.Name) and func.id not in _PURE_CALLS:
            # A helper function may do anything to the schema.
            self._uncertain(node.lineno)
        for arg in node.args:
            self.visit(arg)
        for keyword in node.keywords:
            self.visit(keyword.value)

    def _record(self, node: ast.Call, attr: str, batch_table: str | None, is_batch: bool) -> None:
        if attr in _HARMLESS_OPS:
            return
        if attr == "execute" and not is_batch:
            sql = _sql_literal(node.args[0] if node.args else None)
            if sql is None or self._conditional_depth:
                self._uncertain(node.lineno)
            else:
                self.operations.append(Operation(kind="execute", line=node.lineno, name=sql, is_certain=False))
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
        if fields.get("table") is None or self._conditional_depth:
            certain = False
        self.operations.append(
            Operation(
                kind=attr,
                line=node.lineno,
                table=fields.get("table"),
                name=fields.get("name"),
                new_name=fields.get("new_name"),
                columns=columns,
                is_certain=certain,
            )
        )

    def _uncertain(self, line: int) -> None:
        self.has_uncertain = True
        self.operations.append(Operation(kind="unknown", line=line, is_certain=False))

    def _check_unsafe_sql(self, node: ast.Call) -> None:
        func = node.func
        name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", None)
        if name not in _SQL_SINKS or not node.args:
            return
        if _is_built_from_values(node.args[0]):
            self.unsafe_sql_lines.append(node.lineno)


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


def _column_name(node: ast.expr | None) -> str | None:
    if isinstance(node, ast.Call):
        callee = node.func
        callee_name = callee.attr if isinstance(callee, ast.Attribute) else getattr(callee, "id", "")
        if callee_name == "Column" and node.args:
            return _string(node.args[0])
    return None


def _is_literal_expr(node: ast.expr) -> bool:
    if isinstance(node, ast.Constant):
        return True
    if isinstance(node, (ast.Tuple, ast.List)):
        return all(_is_literal_expr(e) for e in node.elts)
    if isinstance(node, ast.BinOp):
        return _is_literal_expr(node.left) and _is_literal_expr(node.right)
    if isinstance(node, ast.JoinedStr):
        return all(
            isinstance(v, ast.Constant) or (isinstance(v, ast.FormattedValue) and _is_literal_expr(v.value))
            for v in node.values
        )
    return False


def _is_built_from_values(node: ast.expr) -> bool:
    """True for SQL assembled from non-literal values by f-string, %, .format or +."""
    if isinstance(node, ast.Call):
        func = node.func
        if isinstance(func, ast.Attribute) and func.attr == "format":
            args = list(node.args) + [k.value for k in node.keywords]
            return not all(_is_literal_expr(a) for a in args)
        # sa.text(f"...") inside op.execute(): the inner call is checked itself.
        return False
    if isinstance(node, ast.JoinedStr):
        return not _is_literal_expr(node)
    if isinstance(node, ast.BinOp) and isinstance(node.op, (ast.Mod, ast.Add)):
        return not _is_literal_expr(node)
    return False
