"""Which values SQL may be built from without MD015: the file's own constants (literals,
names bound only to them, classes defined in the file) and what pure operations and known
functions make of them. Pure: works on ``ast`` nodes."""

from __future__ import annotations

import ast

# Functions whose result is built only from their arguments (or, for ids and
# clocks, from nothing outside the program): safe when their arguments are.
_SAFE_FUNCTIONS = {
    "str", "int", "float", "bool", "len", "range", "repr", "sorted", "reversed", "tuple", "list",
    "dict", "set", "frozenset", "zip", "enumerate", "min", "max", "abs", "round", "format",
    "uuid4", "uuid1", "utcnow", "now", "today", "dumps", "dedent", "quote", "text", "literal_column",
}  # fmt: skip


CLASS_MARK = "class "
"""Prefix (not a valid identifier) marking, in a set of safe names, a class defined in the file."""


def is_safe(node: ast.AST | None, safe: frozenset[str] | set[str]) -> bool:
    """True when ``node``'s value comes only from the file's own constants: literals,
    names in ``safe``, and what pure operations and known functions make of them.
    Query results, the environment, parameters and unknown calls are not."""
    if node is None or isinstance(node, ast.Constant):
        return True
    if isinstance(node, ast.Name):
        return node.id in safe
    if isinstance(node, (ast.Tuple, ast.List, ast.Set)):
        return all(is_safe(e, safe) for e in node.elts)
    if isinstance(node, ast.Dict):
        return all(is_safe(k, safe) for k in node.keys) and all(is_safe(v, safe) for v in node.values)
    if isinstance(node, ast.Starred):
        return is_safe(node.value, safe)
    if isinstance(node, ast.Attribute):
        return is_safe(node.value, safe)
    if isinstance(node, ast.Subscript):
        return is_safe(node.value, safe) and is_safe(node.slice, safe)
    if isinstance(node, ast.Slice):
        return all(is_safe(p, safe) for p in (node.lower, node.upper, node.step))
    if isinstance(node, ast.BinOp):
        return is_safe(node.left, safe) and is_safe(node.right, safe)
    if isinstance(node, ast.UnaryOp):
        return is_safe(node.operand, safe)
    if isinstance(node, ast.BoolOp):
        return all(is_safe(v, safe) for v in node.values)
    if isinstance(node, ast.Compare):
        return is_safe(node.left, safe) and all(is_safe(c, safe) for c in node.comparators)
    if isinstance(node, ast.IfExp):
        return all(is_safe(p, safe) for p in (node.test, node.body, node.orelse))
    if isinstance(node, ast.JoinedStr):
        return all(is_safe(v, safe) for v in node.values)
    if isinstance(node, ast.FormattedValue):
        return is_safe(node.value, safe) and is_safe(node.format_spec, safe)
    if isinstance(node, (ast.ListComp, ast.SetComp, ast.GeneratorExp, ast.DictComp)):
        inner = set(safe)
        for generator in node.generators:
            if not is_safe(generator.iter, inner):
                return False
            inner |= bound_names(generator.target)
        parts = [node.key, node.value] if isinstance(node, ast.DictComp) else [node.elt]
        return all(is_safe(p, inner) for p in parts)
    if isinstance(node, ast.Call):
        func = node.func
        arguments = [*node.args, *(k.value for k in node.keywords)]
        if not all(is_safe(a, safe) for a in arguments):
            return False
        if isinstance(func, ast.Name):
            return func.id in _SAFE_FUNCTIONS or func.id in safe  # a class of the file: its constructor
        if isinstance(func, ast.Attribute):
            root = func.value
            while isinstance(root, (ast.Attribute, ast.Subscript, ast.Call)):
                root = root.func if isinstance(root, ast.Call) else root.value
            if isinstance(root, ast.Name) and CLASS_MARK + root.id in safe:
                return False  # User.query.all(): a method of a class runs queries, not constants
            # a method of a safe value ("".join, name.upper(), MAPPING.items()), or a known function
            return is_safe(func.value, safe) or func.attr in _SAFE_FUNCTIONS
    return False


def bound_names(target: ast.AST | None) -> set[str]:
    if isinstance(target, ast.Name):
        return {target.id}
    if isinstance(target, (ast.Tuple, ast.List)):
        return set().union(*(bound_names(e) for e in target.elts)) if target.elts else set()
    if isinstance(target, ast.Starred):
        return bound_names(target.value)
    return set()


def parameters(func: ast.FunctionDef | ast.AsyncFunctionDef) -> set[str]:
    names = {a.arg for a in (*func.args.posonlyargs, *func.args.args, *func.args.kwonlyargs)}
    for extra in (func.args.vararg, func.args.kwarg):
        if extra is not None:
            names.add(extra.arg)
    return names


def safe_names(func: ast.FunctionDef | ast.AsyncFunctionDef, module_safe: frozenset[str]) -> frozenset[str]:
    """The module's safe names, plus local names every binding of which is safe:
    assigned from constants, or looping over them (``for table in ("a", "b")``).
    Parameters, ``with ... as``, ``except ... as`` and imports are never safe."""
    bindings: dict[str, list[ast.AST | None]] = {}
    never: set[str] = parameters(func)
    stored: set[str] = set()
    for node in ast.walk(func):
        if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            stored.add(node.id)
        if isinstance(node, ast.Assign):
            for target in node.targets:
                for name in bound_names(target):
                    bindings.setdefault(name, []).append(node.value)
        elif isinstance(node, (ast.AnnAssign, ast.AugAssign, ast.NamedExpr)):
            for name in bound_names(node.target):
                bindings.setdefault(name, []).append(node.value)
        elif isinstance(node, (ast.For, ast.AsyncFor, ast.comprehension)):
            for name in bound_names(node.target):
                bindings.setdefault(name, []).append(node.iter)
        elif isinstance(node, (ast.With, ast.AsyncWith)):
            for item in node.items:
                never |= bound_names(item.optional_vars)
        elif isinstance(node, ast.ExceptHandler) and node.name:
            never.add(node.name)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            never |= {(a.asname or a.name).split(".")[0] for a in node.names}
    safe = set(module_safe) - stored - never  # a module value re-bound here is judged by its bindings
    changed = True
    while changed:  # a name is safe once every value bound to it is; grows to a fixed point
        changed = False
        for name, values in bindings.items():
            if name in safe or name in never:
                continue
            if all(v is not None and is_safe(v, safe) for v in values):
                safe.add(name)
                changed = True
    return frozenset(safe - never)


def is_built_from_values(node: ast.expr, safe: frozenset[str] = frozenset()) -> bool:
    """True for SQL assembled by f-string, %, .format or + from values that do not
    come from the file's own constants (see ``is_safe``)."""
    if isinstance(node, ast.Call):
        func = node.func
        if isinstance(func, ast.Attribute) and func.attr == "format":
            return not is_safe(node, safe)
        # sa.text(f"...") inside op.execute(): the inner call is checked itself.
        return False
    if isinstance(node, ast.JoinedStr):
        return not is_safe(node, safe)
    if isinstance(node, ast.BinOp) and isinstance(node.op, (ast.Mod, ast.Add)):
        return not is_safe(node, safe)
    return False
