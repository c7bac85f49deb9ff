"""Text of a version file -> :class:`RevisionFile`, with ``ast``.

The reader never imports the file and never raises: whatever it cannot read
becomes ``read_error`` on the record, which the rules report as MD010.
"""

from __future__ import annotations

import ast
import functools
import hashlib
import io
import re
import sys
import tokenize

from migdoc.body_reader import is_dispatcher, read_dispatched_body, read_function_body, read_module_values
from migdoc.model import Assignment, FunctionBody, Header, Operation, RevisionFile

_NO_CODES: frozenset[str] = frozenset()  # one empty set for the files that ignore nothing

_IGNORE_COMMENT = re.compile(r"#\s*migdoc:\s*ignore\[([A-Za-z0-9_,\s]+)\]")
_HEADER_FIELD = re.compile(r"^\s*(Revision ID|Revises|Create Date)\s*:\s*(.*?)\s*$")
_TRACKED = ("revision", "down_revision", "branch_labels", "depends_on")
_MISSING = object()


class _NotLiteral(Exception):
    """A value that cannot be known without running the module."""


def read_revision(path: str, data: bytes) -> RevisionFile:
    """Read one version file. Total: every input yields a record."""
    digest = hashlib.sha256(data).hexdigest()
    try:
        return _read(path, data, digest)
    except Exception as exc:  # noqa: BLE001 - the reader's contract is to never raise
        return RevisionFile(path=path, read_error=f"cannot be read: {exc!r}", sha256=digest)


def decode_source(data: bytes) -> str:
    """Decode as Python would (PEP 263 cookie, BOM); raises on bad bytes."""
    if b"\x00" in data:
        raise ValueError("the file contains NUL bytes")
    encoding, _ = tokenize.detect_encoding(io.BytesIO(data).readline)
    text = data.decode(encoding)
    return text[1:] if text.startswith("\ufeff") else text


def _read(path: str, data: bytes, digest: str) -> RevisionFile:
    try:
        text = decode_source(data)
    except (UnicodeDecodeError, SyntaxError, LookupError) as exc:
        return RevisionFile(path=path, read_error=f"undecodable bytes ({exc})", sha256=digest)
    except ValueError as exc:
        return RevisionFile(path=path, read_error=str(exc), sha256=digest)
    try:
        module = ast.parse(text, filename=path)
    except SyntaxError as exc:
        detail = exc.msg or "invalid syntax"
        return RevisionFile(
            path=path,
            read_error=f"syntax error: {detail}",
            read_error_line=max(exc.lineno or 1, 1),
            sha256=digest,
        )
    except (ValueError, RecursionError, MemoryError) as exc:
        return RevisionFile(path=path, read_error=f"cannot be parsed: {exc}", sha256=digest)
    return _read_module(path, text, module, digest)


def _read_module(path: str, text: str, module: ast.Module, digest: str) -> RevisionFile:
    ignored = (
        frozenset(
            code.strip().upper()
            for match in _IGNORE_COMMENT.finditer(text)
            for code in match.group(1).split(",")
            if code.strip()
        )
        or _NO_CODES
    )
    constants = _LazyConstants(module)
    assigned: dict[str, tuple[ast.expr, Assignment]] = {}
    functions: dict[str, ast.FunctionDef | ast.AsyncFunctionDef] = {}
    for stmt in module.body:
        for name, value in _assignments(stmt):
            if name in _TRACKED:
                assigned[name] = (value, _where(stmt, value))
        if isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef)):
            functions[stmt.name] = stmt

    header = _read_header(module)
    lines = text.splitlines()
    upgrade = functions.get("upgrade")
    downgrade = functions.get("downgrade")
    module_values = read_module_values(module) if upgrade or downgrade else None
    common = dict(
        path=path,
        header=header,
        ignored_codes=ignored,
        sha256=digest,
        upgrade=_read_body(upgrade, functions, lines, module_values)
        if upgrade
        else _bound_elsewhere(module, "upgrade", lines),
        downgrade=_read_body(downgrade, functions, lines, module_values) if downgrade else None,
    )

    if "revision" not in assigned:
        if "down_revision" in assigned:
            line = assigned["down_revision"][1].line
            return RevisionFile(read_error="`revision` is not assigned", read_error_line=line, **common)
        return RevisionFile(**common)

    rev_node, rev_at = assigned["revision"]
    try:
        revision = _literal(rev_node, constants)
    except _NotLiteral:
        revision = _MISSING
    if isinstance(revision, str):
        revision = sys.intern(revision)  # also its children's down_revision: one string
    else:
        return RevisionFile(
            read_error="`revision` is not a string literal",
            read_error_line=rev_at.line,
            revision_at=rev_at,
            **common,
        )
    if "down_revision" not in assigned:
        return RevisionFile(
            read_error="`down_revision` is not assigned",
            read_error_line=rev_at.line,
            revision=revision,
            revision_at=rev_at,
            **common,
        )
    down_node, down_at = assigned["down_revision"]
    try:
        down_revisions = _id_tuple(_literal(down_node, constants))
    except _NotLiteral:
        return RevisionFile(
            read_error="`down_revision` is not a literal (string, tuple, list or None)",
            read_error_line=down_at.line,
            revision=revision,
            revision_at=rev_at,
            down_revision_at=down_at,
            **common,
        )

    labels, labels_at, labels_unresolved, _ = _optional_ids(assigned, "branch_labels", constants)
    depends, depends_at, depends_unresolved, depends_raw = _optional_ids(assigned, "depends_on", constants)
    return RevisionFile(
        revision=revision,
        revision_at=rev_at,
        down_revisions=down_revisions,
        down_revision_at=down_at,
        branch_labels=labels,
        branch_labels_at=labels_at,
        is_branch_labels_unresolved=labels_unresolved,
        depends_on=depends,
        depends_on_at=depends_at,
        is_depends_on_unresolved=depends_unresolved,
        is_depends_on_empty_string=depends_raw == "",
        **common,
    )


def _optional_ids(
    assigned: dict[str, tuple[ast.expr, Assignment]], name: str, constants: dict[str, object]
) -> tuple[tuple[str, ...], Assignment | None, bool, object]:
    if name not in assigned:
        return (), None, False, None
    node, at = assigned[name]
    try:
        raw = _literal(node, constants)
        return _id_tuple(raw), at, False, raw
    except _NotLiteral:
        return (), Assignment(at.line, at.end_line, at.col, at.end_col, is_literal=False), True, None


def _id_tuple(value: object) -> tuple[str, ...]:
    """Alembic's ``util.to_tuple`` for revision ids: None and () mean none."""
    if value is None:
        return ()
    if isinstance(value, str):
        return (sys.intern(value),)
    if isinstance(value, (tuple, list)) and all(isinstance(v, str) for v in value):
        return tuple(sys.intern(v) for v in value)
    raise _NotLiteral


def _read_body(func, functions: dict, lines: list[str], module_values) -> FunctionBody:
    """``upgrade()`` / ``downgrade()``; for a multidb dispatcher, the work of the
    ``upgrade_<db>()`` functions it calls by name (:func:`read_dispatched_body`)."""
    body = read_function_body(func, lines, module_values)
    prefix = func.name + "_"
    targets = [(name, f) for name, f in functions.items() if name.startswith(prefix)]
    if not targets or not is_dispatcher(func):
        return body
    return read_dispatched_body(body, [(name, read_function_body(f, lines, module_values)) for name, f in targets])


def _bound_elsewhere(module: ast.Module, name: str, lines: list[str]) -> FunctionBody | None:
    """``name`` as the module binds it other than by a top-level ``def``: a ``def`` under
    ``if``/``try``, an import, an assignment, a star import. Such a body is read as
    unknown work (every object uncertain for the replay); None only when nothing in the
    module could bind the name, as in a file cut off before its ``def upgrade()``
    (MD010: Alembic fails when it reaches that revision)."""
    for node in ast.walk(module):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.name == name:
            return read_function_body(node, lines)
        is_bound = (isinstance(node, ast.Name) and node.id == name and isinstance(node.ctx, ast.Store)) or (
            isinstance(node, (ast.Import, ast.ImportFrom))
            and any(alias.name == "*" or (alias.asname or alias.name.split(".")[0]) == name for alias in node.names)
        )
        if is_bound:
            line = getattr(node, "lineno", 1)
            return FunctionBody(
                line=line,
                fingerprint=f"<{name} bound at module level: {ast.dump(node)}>",
                does_work=True,
                only_raises=False,
                operations=(Operation(kind="unknown", line=line, is_certain=False),),
                has_uncertain_sql=True,
            )
    return None


def _assignments(stmt: ast.stmt) -> list[tuple[str, ast.expr]]:
    if isinstance(stmt, ast.Assign):
        return [(t.id, stmt.value) for t in stmt.targets if isinstance(t, ast.Name)]
    if isinstance(stmt, ast.AnnAssign) and isinstance(stmt.target, ast.Name) and stmt.value:
        return [(stmt.target.id, stmt.value)]
    return []


def _where(stmt: ast.stmt, value: ast.expr) -> Assignment:
    return _assignment(
        value.lineno, value.end_lineno or value.lineno, value.col_offset, value.end_col_offset or value.col_offset
    )


@functools.lru_cache(maxsize=4096)
def _assignment(line: int, end_line: int, col: int, end_col: int) -> Assignment:
    """Files written from one template assign ``revision`` and its siblings at the same
    places: one immutable record for each place, not one per file (memory at 50,000)."""
    return Assignment(line=line, end_line=end_line, col=col, end_col=end_col)


class _LazyConstants(dict):
    """``_module_constants`` computed on first look-up: most files never need it."""

    def __init__(self, module: ast.Module) -> None:
        super().__init__()
        self._module: ast.Module | None = module

    def _load(self) -> None:
        if self._module is not None:
            self.update(_module_constants(self._module))
            self._module = None

    def __contains__(self, key: object) -> bool:
        self._load()
        return super().__contains__(key)

    def __getitem__(self, key: str) -> object:
        self._load()
        return super().__getitem__(key)


def _module_constants(module: ast.Module) -> dict[str, object]:
    """Module-level names and ``Class.ATTR`` bound to literals, for labels
    written as references (``branch_labels = (Branch.BILLING,)``)."""
    constants: dict[str, object] = {}
    for stmt in module.body:
        for name, value in _assignments(stmt):
            try:
                constants[name] = ast.literal_eval(value)
            except (ValueError, TypeError, SyntaxError, RecursionError, MemoryError):
                constants.pop(name, None)
        if isinstance(stmt, ast.ClassDef):
            for inner in stmt.body:
                for name, value in _assignments(inner):
                    try:
                        constants[f"{stmt.name}.{name}"] = ast.literal_eval(value)
                    except (ValueError, TypeError, SyntaxError, RecursionError, MemoryError):
                        pass
    return constants


def _literal(node: ast.expr, constants: dict[str, object]) -> object:
    if isinstance(node, (ast.Tuple, ast.List)):
        return tuple(_literal(element, constants) for element in node.elts)
    if isinstance(node, ast.Name) and node.id in constants:
        return constants[node.id]
    if (
        isinstance(node, ast.Attribute)
        and isinstance(node.value, ast.Name)
        and f"{node.value.id}.{node.attr}" in constants
    ):
        return constants[f"{node.value.id}.{node.attr}"]
    try:
        value = ast.literal_eval(node)
    except (ValueError, TypeError, SyntaxError, RecursionError, MemoryError) as exc:
        raise _NotLiteral from exc
    if value is None or isinstance(value, (str, tuple, list)):
        return value
    raise _NotLiteral


def _read_header(module: ast.Module) -> Header:
    if not module.body:
        return Header()
    first = module.body[0]
    if not (
        isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant) and isinstance(first.value.value, str)
    ):
        return Header()
    doc = first.value.value
    start = first.lineno
    # The raw string starts on the line of its opening quotes; a docstring that
    # begins with a newline after the quotes keeps the line numbers aligned.
    message = None
    fields: dict[str, tuple[str, int]] = {}
    for offset, raw_line in enumerate(doc.splitlines()):
        match = _HEADER_FIELD.match(raw_line)
        if match:
            fields.setdefault(match.group(1), (match.group(2), start + offset))
        elif message is None and raw_line.strip():
            message = raw_line.strip()
    revises = None
    revises_line = 0
    if "Revises" in fields:
        value, revises_line = fields["Revises"]
        revises = tuple(part.strip() for part in value.split(",") if part.strip())
    rev_id, rev_line = fields.get("Revision ID", (None, 0))
    rev_id = sys.intern(rev_id) if rev_id else None
    revises = tuple(sys.intern(r) for r in revises) if revises is not None else None
    return Header(
        revision_id=rev_id or None,
        revision_id_line=rev_line,
        revises=revises,
        revises_line=revises_line,
        create_date=fields.get("Create Date", (None, 0))[0] or None,
        message=message,
    )
