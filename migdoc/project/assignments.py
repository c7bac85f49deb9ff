"""A version file's module-level assignments, evaluated in order as Python runs them. Pure.

Only literals are ever evaluated (strings, numbers, None, tuples, lists, sets, dicts, and
``+`` / f-strings over them); a name takes the value it has at the line that reads it.
Whatever needs the module to run (a call, an import, a value decided by ``if``/``for``/
``while``/``match``/``try``/``with``, a function that rebinds the name through ``global``)
is an :class:`Undecided` with the reason, never a guess: the reader turns it into MD010
(``revision``/``down_revision``) or MD019 (``branch_labels``/``depends_on``).
"""

from __future__ import annotations

import ast
from dataclasses import dataclass

NOT_LITERAL = "not a literal"
_MUTABLE = (list, dict, set)
_MAX_LENGTH = 100_000  # ``+`` over literals: a value this long is not a revision id, and stays cheap
_COMPOUND = {
    ast.If: "if",
    ast.For: "for",
    ast.AsyncFor: "async for",
    ast.While: "while",
    ast.Try: "try",
    ast.With: "with",
    ast.AsyncWith: "async with",
    ast.Match: "match",
}
if hasattr(ast, "TryStar"):  # Python 3.11+
    _COMPOUND[ast.TryStar] = "try"
_SCOPES = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Lambda)


@dataclass(frozen=True, slots=True)
class Undecided:
    """A value that cannot be known without running the module."""

    reason: str = NOT_LITERAL
    is_flow: bool = False
    """True when control flow decides it (the value is one of several, or none)."""
    line: int = 0
    """Where the deciding statement is (0: where the value is spelled)."""


@dataclass(frozen=True, slots=True)
class Binding:
    """A tracked name's value at the end of the module, and where it is spelled."""

    value: object
    """The Python value, or an :class:`Undecided`."""
    node: ast.AST
    """The expression that spells the value (for a value decided by control flow, the
    first statement in the block that binds the name)."""
    is_editable: bool
    """True when ``node`` alone spells the value, so a fix may rewrite it in place:
    ``down_revision = 'a1'``, or ``'a1'`` in ``revision, down_revision = 'b2', 'a1'``;
    not ``down_revision += 'x'`` nor ``revision, down_revision = IDS``."""


class _Class:
    """The value of a name bound to a class defined in the file (its attributes are
    kept as ``Class.ATTR``); not a literal itself."""


def evaluate_module(module: ast.Module, tracked: tuple[str, ...], text: str = "") -> dict[str, Binding]:
    """The tracked names bound when the module has run, each with its value or the reason
    it cannot be known. A name absent from the result is not bound by the module."""
    evaluator = _Evaluator(tracked)
    evaluator.run(module.body)
    bound = {name: b for name, b in evaluator.bindings.items() if name in evaluator.env}
    if "global" in text:  # the text test first: walking every function body costs more than reading it
        for name, undecided in _assigned_through_global(module, tracked).items():
            binding = bound.get(name)
            bound[name] = Binding(undecided, binding.node if binding else module, False)
    return bound


class _Evaluator:
    def __init__(self, tracked: tuple[str, ...]) -> None:
        self.tracked = tracked
        self.env: dict[str, object] = {}
        self.bindings: dict[str, Binding] = {}

    # -- statements ----------------------------------------------------------------------

    def run(self, body: list[ast.stmt]) -> None:
        for stmt in body:
            self.statement(stmt)

    def statement(self, stmt: ast.stmt) -> None:
        if isinstance(stmt, ast.Assign):
            value = self.value(stmt.value)
            self.side_effects(stmt.value, stmt.lineno)
            for target in stmt.targets:
                self.bind(target, value, stmt.value, is_editable=True)
        elif isinstance(stmt, ast.AnnAssign):
            if stmt.value is not None:
                value = self.value(stmt.value)
                self.side_effects(stmt.value, stmt.lineno)
                self.bind(stmt.target, value, stmt.value, is_editable=True)
        elif isinstance(stmt, ast.AugAssign):
            self.augmented(stmt)
        elif isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef)):
            self.set(stmt.name, Undecided(), stmt)
        elif isinstance(stmt, ast.ClassDef):
            self.define_class(stmt)
        elif isinstance(stmt, (ast.Import, ast.ImportFrom)):
            for alias in stmt.names:
                if alias.name != "*":
                    self.set((alias.asname or alias.name).split(".")[0], Undecided(), stmt)
        elif isinstance(stmt, ast.Delete):
            for target in stmt.targets:
                if isinstance(target, ast.Name):
                    self.env.pop(target.id, None)
                else:
                    self.mutated(target, stmt.lineno, "del")
        elif type(stmt) in _COMPOUND:
            self.decided_by_flow(stmt, _COMPOUND[type(stmt)])
        elif isinstance(stmt, ast.Expr):
            self.side_effects(stmt.value, stmt.lineno)

    def set(self, name: str, value: object, node: ast.AST, is_editable: bool = False) -> None:
        self.env[name] = value
        if name in self.tracked:
            self.bindings[name] = Binding(value, node, is_editable)

    def bind(self, target: ast.expr, value: object, node: ast.AST, is_editable: bool) -> None:
        """Python's assignment to ``target``: names, and tuples/lists of them unpacked."""
        if isinstance(target, ast.Name):
            self.set(target.id, value, node, is_editable)
        elif isinstance(target, (ast.Tuple, ast.List)):
            self.unpack(target, value, node)
        elif isinstance(target, ast.Starred):
            self.bind(target.value, value, node, is_editable=False)
        else:  # an attribute or an item of a value: that value changes
            self.mutated(target, getattr(target, "lineno", 0), "assignment")

    def unpack(self, target: ast.Tuple | ast.List, value: object, node: ast.AST) -> None:
        names = target.elts
        starred = [i for i, e in enumerate(names) if isinstance(e, ast.Starred)]
        items: list | None = None
        if not isinstance(value, Undecided):
            if isinstance(value, (set, frozenset)) and len(value) > 1:
                value = Undecided("unpacked from a set, whose order Python does not fix", is_flow=True)
            elif isinstance(value, (str, tuple, list, set, frozenset, dict)):
                items = list(value)
            else:
                value = Undecided()
        if items is not None:
            if starred:
                before, after = starred[0], len(names) - starred[0] - 1
                if len(starred) > 1 or len(items) < before + after:
                    items = None
                else:
                    middle = items[before : len(items) - after]
                    items = [*items[:before], middle, *items[len(items) - after :]]
            elif len(items) != len(names):
                items = None  # Python raises ValueError: the module does not import
        if items is None:
            undecided = value if isinstance(value, Undecided) else Undecided()
            for element in names:
                self.bind(element, undecided, node, is_editable=False)
            return
        spelled = (
            node.elts
            if isinstance(node, (ast.Tuple, ast.List))
            and not starred
            and len(node.elts) == len(names)
            and not any(isinstance(e, ast.Starred) for e in node.elts)
            else None
        )
        for index, (element, item) in enumerate(zip(names, items, strict=True)):
            if spelled is not None:
                self.bind(element, item, spelled[index], is_editable=True)
            else:
                self.bind(element, item, node, is_editable=False)

    def augmented(self, stmt: ast.AugAssign) -> None:
        target = stmt.target
        if not isinstance(target, ast.Name):
            self.mutated(target, stmt.lineno, "augmented assignment")
            return
        current = self.env.get(target.id, Undecided(f"`{target.id}` is not bound before `+=`"))
        addend = self.value(stmt.value)
        result: object
        if isinstance(current, Undecided):
            result = current
        elif isinstance(addend, Undecided):
            result = addend
        elif isinstance(stmt.op, ast.Add) and isinstance(current, list):
            try:
                current.extend(addend)  # in place, as Python does: every alias of the list sees it
                result = current
            except TypeError:
                result = Undecided()
        else:
            result = _combine(stmt.op, current, addend)
        self.set(target.id, result, stmt.value, is_editable=False)

    def define_class(self, stmt: ast.ClassDef) -> None:
        """A class body runs once, in order; its attributes read the module's names."""
        prefix = f"{stmt.name}."
        for stale in [key for key in self.env if key.startswith(prefix)]:
            del self.env[stale]  # a class defined again has only its new attributes
        self.set(stmt.name, _Class(), stmt)
        scope = dict(self.env)
        for inner in stmt.body:
            if isinstance(inner, (ast.Assign, ast.AnnAssign)) and inner.value is not None:
                targets = inner.targets if isinstance(inner, ast.Assign) else [inner.target]
                value = _evaluate(inner.value, scope)
                for target in targets:
                    if isinstance(target, ast.Name):
                        scope[target.id] = value
                        self.env[f"{stmt.name}.{target.id}"] = value
            else:
                for name in _bound_names(inner):
                    scope[name] = Undecided()
                    self.env[f"{stmt.name}.{name}"] = Undecided()

    def decided_by_flow(self, stmt: ast.stmt, keyword: str) -> None:
        """Every name the block binds may or may not be bound, or bound to one of several
        values: which one is decided when the module runs."""
        for name, where in _bound_names(stmt).items():
            undecided = Undecided(f"assigned under `{keyword}` (line {stmt.lineno})", is_flow=True, line=where.lineno)
            self.set(name, undecided, where)
        for node in _walk_scope(stmt):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
                self.mutated(node.func.value, stmt.lineno, f"`{keyword}`")
            elif isinstance(node, (ast.Subscript, ast.Attribute)) and isinstance(node.ctx, (ast.Store, ast.Del)):
                self.mutated(node, stmt.lineno, f"`{keyword}`")

    def side_effects(self, node: ast.expr, line: int) -> None:
        """What evaluating ``node`` changes besides its value: ``PARENTS.append('x')`` (a
        method of a list, dict or set may change it) and ``(name := ...)``."""
        if isinstance(node, (ast.Constant, ast.Name)):
            return  # the common case, at no cost
        for inner in _walk_scope(node):
            if isinstance(inner, ast.Call) and isinstance(inner.func, ast.Attribute):
                self.mutated(inner.func.value, line, f"`.{inner.func.attr}()`")
            elif isinstance(inner, ast.NamedExpr) and isinstance(inner.target, ast.Name):
                self.set(inner.target.id, Undecided("assigned with `:=`", line=inner.lineno), inner)

    def mutated(self, node: ast.expr, line: int, how: str) -> None:
        """The value held by the name at the root of ``node`` may change in place: every
        name bound to that same object (an alias) becomes undecided."""
        root = node
        while isinstance(root, (ast.Attribute, ast.Subscript)):
            root = root.value
        if not isinstance(root, ast.Name):
            return
        value = self.env.get(root.id)
        if not isinstance(value, _MUTABLE):
            return
        undecided = Undecided(f"changed in place by {how} (line {line})", is_flow=True, line=line)
        for name, other in list(self.env.items()):
            if other is value:
                previous = self.bindings.get(name)
                self.set(name, undecided, previous.node if previous else node)

    def value(self, node: ast.expr) -> object:
        return _evaluate(node, self.env)


def _evaluate(node: ast.expr, env: dict[str, object]) -> object:
    """The value of a literal expression over ``env``, or an :class:`Undecided`."""
    if isinstance(node, ast.Constant):
        return node.value
    if isinstance(node, ast.Name):
        return env.get(node.id, Undecided())
    if isinstance(node, (ast.Tuple, ast.List, ast.Set)):
        items: list = []
        for element in node.elts:
            if isinstance(element, ast.Starred):
                inner = _evaluate(element.value, env)
                if isinstance(inner, Undecided):
                    return inner
                if not isinstance(inner, (str, tuple, list)):
                    return Undecided()
                items.extend(inner)
                continue
            inner = _evaluate(element, env)
            if isinstance(inner, Undecided):
                return inner
            items.append(inner)
        if isinstance(node, ast.Tuple):
            return tuple(items)
        if isinstance(node, ast.List):
            return items
        try:
            return set(items)
        except TypeError:  # an unhashable element: the module does not import
            return Undecided()
    if isinstance(node, ast.Dict):
        result: dict = {}
        for key_node, value_node in zip(node.keys, node.values, strict=True):
            value = _evaluate(value_node, env)
            if isinstance(value, Undecided):
                return value
            if key_node is None:
                if not isinstance(value, dict):
                    return Undecided()
                result.update(value)
                continue
            key = _evaluate(key_node, env)
            if isinstance(key, Undecided):
                return key
            try:
                result[key] = value
            except TypeError:
                return Undecided()
        return result
    if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name):
        if isinstance(env.get(node.value.id), _Class):
            return env.get(f"{node.value.id}.{node.attr}", Undecided())
        return Undecided()
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
        left = _evaluate(node.left, env)
        if isinstance(left, Undecided):
            return left
        right = _evaluate(node.right, env)
        if isinstance(right, Undecided):
            return right
        return _combine(node.op, left, right)
    if isinstance(node, ast.JoinedStr):
        parts: list[str] = []
        for part in node.values:
            if isinstance(part, ast.Constant) and isinstance(part.value, str):
                parts.append(part.value)
                continue
            if not isinstance(part, ast.FormattedValue) or part.conversion != -1 or part.format_spec is not None:
                return Undecided()
            inner = _evaluate(part.value, env)
            if isinstance(inner, Undecided):
                return inner
            if type(inner) not in (str, int):  # str() of these is plain; others format their own way
                return Undecided()
            parts.append(str(inner))
        return "".join(parts)
    return Undecided()


def _combine(op: ast.operator, left: object, right: object) -> object:
    """``left + right`` for strings, tuples and lists (a new value); anything else, which
    would need the module to run, is undecided."""
    if not isinstance(op, ast.Add):
        return Undecided()
    if type(left) is type(right) and isinstance(left, (str, tuple, list)):
        if len(left) + len(right) > _MAX_LENGTH:
            return Undecided()
        return left + right
    if type(left) in (int, float) and type(right) in (int, float):
        return left + right
    return Undecided()


def _walk_scope(node: ast.AST):
    """``ast.walk`` that does not enter functions, classes or lambdas defined inside."""
    stack = [node]
    while stack:
        current = stack.pop()
        yield current
        for child in ast.iter_child_nodes(current):
            if not isinstance(child, _SCOPES):
                stack.append(child)


def _bound_names(stmt: ast.stmt) -> dict[str, ast.AST]:
    """Names ``stmt`` binds in the scope it runs in, each with the first node that binds it."""
    found: dict[str, ast.AST] = {}

    def add(name: str | None, node: ast.AST) -> None:
        if name and name not in found:
            found[name] = node

    for node in _walk_scope(stmt):
        if isinstance(node, ast.Name) and isinstance(node.ctx, (ast.Store, ast.Del)):
            add(node.id, node)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            for alias in node.names:
                if alias.name != "*":
                    add((alias.asname or alias.name).split(".")[0], node)
        elif isinstance(node, ast.ExceptHandler):
            add(node.name, node)
        elif isinstance(node, (ast.MatchAs, ast.MatchStar)):
            add(node.name, node)
        elif isinstance(node, ast.MatchMapping):
            add(node.rest, node)
        for child in ast.iter_child_nodes(node):
            if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                add(child.name, child)
    return found


def _assigned_through_global(module: ast.Module, tracked: tuple[str, ...]) -> dict[str, Undecided]:
    """Tracked names a function rebinds through ``global``: whether and when it runs is
    decided when the module runs."""
    found: dict[str, Undecided] = {}
    for func in ast.walk(module):
        if not isinstance(func, (ast.FunctionDef, ast.AsyncFunctionDef)):
            continue
        declared = {
            name
            for node in _walk_scope_body(func)
            if isinstance(node, ast.Global)
            for name in node.names
            if name in tracked
        }
        if not declared:
            continue
        for node in _walk_scope_body(func):
            names = _bound_names(node) if isinstance(node, ast.stmt) and not isinstance(node, _SCOPES) else {}
            for name in declared & names.keys():
                found.setdefault(
                    name,
                    Undecided(
                        f"assigned by function `{func.name}` (line {func.lineno}) through `global`",
                        is_flow=True,
                        line=names[name].lineno if hasattr(names[name], "lineno") else func.lineno,
                    ),
                )
    return found


def _walk_scope_body(func: ast.FunctionDef | ast.AsyncFunctionDef):
    for stmt in func.body:
        yield from _walk_scope(stmt)
