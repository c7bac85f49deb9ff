"""What an ``op.*`` call's keyword arguments say about the locks it takes, read from its AST.

Pure: the body reader calls :func:`lock_hints` for each call it records and keeps the
answer on the :class:`~migdoc.model.Operation` (``lock_hints``); the static lock rules
(``migdoc.rules.lock_static``) read it. A hint is set only when the source says so in
literals: a value chosen at run time sets none, so the rules stay silent about it.

Hints:
* ``concurrently``: ``postgresql_concurrently=`` not literally false (a name counts: it may
  be true, and an uncertain call is never reported).
* ``not_valid``: ``postgresql_not_valid=`` not literally false.
* ``not_null``: ``nullable=False`` (the column of ``add_column``, or ``alter_column``).
* ``volatile_default``: ``add_column`` of a column whose ``server_default`` calls a volatile
  function (``gen_random_uuid()``, ``clock_timestamp()``, ``nextval(...)``...): PostgreSQL 11+
  stores a constant or stable default (``now()``) once, but fills a volatile one row by row.
* ``generated``: ``add_column`` of an identity or stored generated column (every row is written).
* ``type``: ``alter_column(type_=...)`` that may rewrite the table; not set where the change is
  known to be binary-coercible (``String(n)`` to a longer ``String`` or ``Text``), nor for a
  change to a text type from a type not given (``existing_type``): it may be one.
* ``not_null_check:<column>``: ``create_check_constraint`` whose condition is ``<column> IS NOT
  NULL`` (the safe way to a NOT NULL: PostgreSQL 12+ sets it without a scan once it is valid).
* ``autocommit``: the call runs inside ``op.get_context().autocommit_block()``.
"""

from __future__ import annotations

import ast
import re

REWRITING_FUNCTIONS = frozenset(
    {
        "random",
        "gen_random_uuid",
        "uuid_generate_v1",
        "uuid_generate_v1mc",
        "uuid_generate_v4",
        "clock_timestamp",
        "timeofday",
        "nextval",
    }
)
"""Volatile functions: as an added column's default, PostgreSQL writes every row (a rewrite
under ACCESS EXCLUSIVE), nullable or not. ``now()`` / ``current_timestamp`` are stable: PostgreSQL
evaluates them once and stores the value in the catalog (checked on PostgreSQL 15: no rewrite)."""

_CALLED = re.compile(r"\b([a-z_][a-z0-9_]*)\s*\(", re.I)
_NOT_NULL_CONDITION = re.compile(r'^\s*\(?\s*"?([A-Za-z_][A-Za-z0-9_$]*)"?\s+IS\s+NOT\s+NULL\s*\)?\s*$', re.I)
_TEXT_TYPES = {"String", "VARCHAR", "Unicode", "Text", "TEXT", "UnicodeText", "CHAR"}


def sql_calls_volatile(sql: str) -> bool:
    """Whether default SQL calls a function that makes PostgreSQL write every row."""
    return any(name.lower() in REWRITING_FUNCTIONS for name in _CALLED.findall(sql))


def lock_hints(call: ast.Call, attr: str, is_batch: bool, in_autocommit: bool) -> frozenset[str]:
    hints: set[str] = set()
    if in_autocommit:
        hints.add("autocommit")
    keywords = {k.arg: k.value for k in call.keywords if k.arg}
    if attr in ("create_index", "drop_index") and _may_be_true(keywords.get("postgresql_concurrently")):
        hints.add("concurrently")
    if attr in ("create_foreign_key", "create_check_constraint") and _may_be_true(keywords.get("postgresql_not_valid")):
        hints.add("not_valid")
    if attr == "create_check_constraint":
        condition = _argument(call, 1 if is_batch else 2, "condition")
        text = _text(condition)
        match = _NOT_NULL_CONDITION.match(text) if text is not None else None
        if match:
            hints.add(f"not_null_check:{match.group(1)}")
    if attr == "add_column":
        column = _argument(call, 0 if is_batch else 1, "column")
        if isinstance(column, ast.Call):
            hints |= _column_hints(column)
    if attr == "alter_column":
        # SET NOT NULL on a column already NOT NULL (existing_nullable=False) is a no-op: no scan
        if _is_literally_false(keywords.get("nullable")) and not _is_literally_false(keywords.get("existing_nullable")):
            hints.add("not_null")
        new_type = keywords.get("type_")
        if (
            new_type is not None
            and not _is_none(new_type)
            and not _is_widening(keywords.get("existing_type"), new_type)
        ):
            hints.add("type")
    return frozenset(hints)


def _column_hints(column: ast.Call) -> set[str]:
    hints: set[str] = set()
    keywords = {k.arg: k.value for k in column.keywords if k.arg}
    if _is_literally_false(keywords.get("nullable")):
        hints.add("not_null")
    default = keywords.get("server_default")
    if default is not None and _is_volatile(default):
        hints.add("volatile_default")
    for node in [*column.args, *keywords.values()]:
        name = _callee(node)
        if name == "Identity":
            hints.add("generated")
        if name == "Computed" and not any(
            k.arg == "persisted" and _is_false(k.value) for k in getattr(node, "keywords", ())
        ):
            hints.add("generated")  # PostgreSQL's generated columns are stored: each row is computed
    return hints


def _is_volatile(node: ast.expr) -> bool:
    """``sa.text("gen_random_uuid()")``, ``sa.func.random()``, ``sa.Sequence(...).next_value()``."""
    if isinstance(node, ast.Call):
        name = _callee(node)
        if name == "text" and node.args:
            text = _text(node.args[0])
            return text is not None and sql_calls_volatile(text)
        if name == "next_value":
            return True
        func = node.func
        if isinstance(func, ast.Attribute) and _is_func_namespace(func.value):
            return func.attr.lower() in REWRITING_FUNCTIONS
    return False  # a string or a literal is a constant default; anything else is not known


def _is_func_namespace(node: ast.expr) -> bool:
    if isinstance(node, ast.Name):
        return node.id == "func"
    return isinstance(node, ast.Attribute) and node.attr == "func"


def _is_widening(old: ast.expr | None, new: ast.expr) -> bool:
    """A text type to ``Text`` or a longer ``String``: binary-coercible, PostgreSQL only
    changes the catalog (no rewrite, no scan) since 9.2."""
    old_name, new_name = _callee(old) or _name(old), _callee(new) or _name(new)
    if old is None and new_name in _TEXT_TYPES and new_name != "CHAR":
        return True  # the old type unknown: to text or varchar is often a widening; uncertain is silent
    if old_name not in _TEXT_TYPES or new_name not in _TEXT_TYPES or old_name == "CHAR" or new_name == "CHAR":
        return False
    new_length = _length(new)
    if new_name in ("Text", "TEXT", "UnicodeText") or new_length is None:
        return not (isinstance(new, ast.Call) and new.args and new_length is None)
    old_length = _length(old)
    return old_length is not None and new_length >= old_length


def _length(node: ast.expr | None) -> int | None:
    if isinstance(node, ast.Call):
        value = node.args[0] if node.args else next((k.value for k in node.keywords if k.arg == "length"), None)
        if isinstance(value, ast.Constant) and isinstance(value.value, int):
            return value.value
    return None


def _callee(node: ast.expr | None) -> str | None:
    if isinstance(node, ast.Call):
        func = node.func
        return func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", None)
    return None


def _name(node: ast.expr | None) -> str | None:
    if isinstance(node, ast.Attribute):
        return node.attr
    if isinstance(node, ast.Name):
        return node.id
    return None


def _argument(call: ast.Call, position: int, keyword: str) -> ast.expr | None:
    for k in call.keywords:
        if k.arg == keyword:
            return k.value
    return call.args[position] if len(call.args) > position else None


def _text(node: ast.expr | None) -> str | None:
    if isinstance(node, ast.Call) and _callee(node) == "text" and node.args:
        node = node.args[0]
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    return None


def _may_be_true(node: ast.expr | None) -> bool:
    return node is not None and not _is_false(node)


def _is_false(node: ast.expr | None) -> bool:
    return isinstance(node, ast.Constant) and node.value in (False, None)


def _is_literally_false(node: ast.expr | None) -> bool:
    return isinstance(node, ast.Constant) and node.value is False


def _is_none(node: ast.expr) -> bool:
    return isinstance(node, ast.Constant) and node.value is None
