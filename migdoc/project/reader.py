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

from migdoc.model import Assignment, FunctionBody, Header, Operation, RevisionFile
from migdoc.project.assignments import NOT_LITERAL, Binding, Undecided, evaluate_module
from migdoc.project.body_reader import is_dispatcher, read_dispatched_body, read_function_body, read_module_values

_NO_CODES: frozenset[str] = frozenset()  # one empty set for the files that ignore nothing

_IGNORE_COMMENT = re.compile(r"#\s*migdoc:\s*ignore\[([A-Za-z0-9_,\s]+)\]")
_HEADER_FIELD = re.compile(r"^\s*(Revision ID|Revises|Create Date)\s*:\s*(.*?)\s*$")
_TRACKED = ("revision", "down_revision", "branch_labels", "depends_on")


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
    bindings = evaluate_module(module, _TRACKED, text)
    functions: dict[str, ast.FunctionDef | ast.AsyncFunctionDef] = {
        stmt.name: stmt for stmt in module.body if isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef))
    }

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

    if "revision" not in bindings:
        if "down_revision" in bindings:
            line = _where(bindings["down_revision"]).line
            return RevisionFile(read_error="`revision` is not assigned", read_error_line=line, **common)
        return RevisionFile(**common)

    rev_at = _where(bindings["revision"])
    revision = bindings["revision"].value
    if isinstance(revision, str):
        revision = sys.intern(revision)  # also its children's down_revision: one string
    else:
        return RevisionFile(
            read_error=_undecided_message("revision", revision, "is not a string literal"),
            read_error_line=_error_line(bindings["revision"]),
            revision_at=rev_at,
            **common,
        )
    if "down_revision" not in bindings:
        return RevisionFile(
            read_error="`down_revision` is not assigned",
            read_error_line=rev_at.line,
            revision=revision,
            revision_at=rev_at,
            **common,
        )
    down_at = _where(bindings["down_revision"])
    try:
        down_revisions = _id_tuple(bindings["down_revision"].value)
    except _NotLiteral:
        return RevisionFile(
            read_error=_undecided_message(
                "down_revision",
                bindings["down_revision"].value,
                "is not a literal (string, tuple, list, set or None)",
            ),
            read_error_line=_error_line(bindings["down_revision"]),
            revision=revision,
            revision_at=rev_at,
            down_revision_at=down_at,
            **common,
        )

    labels, labels_at, labels_unresolved, _ = _optional_ids(bindings, "branch_labels")
    depends, depends_at, depends_unresolved, depends_raw = _optional_ids(bindings, "depends_on")
    return RevisionFile(
        revision=revision,
        revision_at=rev_at,
        down_revisions=down_revisions,
        down_revision_at=down_at,
        branch_labels=labels,
        branch_labels_at=labels_at,
        is_branch_labels_unresolved=labels_unresolved is not None,
        branch_labels_unresolved_reason=labels_unresolved or None,
        depends_on=depends,
        depends_on_at=depends_at,
        is_depends_on_unresolved=depends_unresolved is not None,
        depends_on_unresolved_reason=depends_unresolved or None,
        is_depends_on_empty_string=depends_raw == "",
        **common,
    )


def _undecided_message(name: str, value: object, plain: str) -> str:
    """MD010's text: the old wording for a value that is simply not a literal; the reason
    for one that only running the module decides (``if``, ``global``, ``:=``...)."""
    if isinstance(value, Undecided) and value.reason != NOT_LITERAL:
        return f"`{name}` is decided only when the module runs: {value.reason}"
    return f"`{name}` {plain}"


def _error_line(binding: Binding) -> int:
    value = binding.value
    if isinstance(value, Undecided) and value.line:
        return value.line
    return getattr(binding.node, "lineno", 1)


def _optional_ids(
    bindings: dict[str, Binding], name: str
) -> tuple[tuple[str, ...], Assignment | None, str | None, object]:
    """(ids, where, why unresolved: "" for a value that is not a literal, the reason when
    only running the module decides it, None when read; the raw value)."""
    if name not in bindings:
        return (), None, None, None
    binding = bindings[name]
    at = _where(binding)
    try:
        return _id_tuple(binding.value), at, None, binding.value
    except _NotLiteral:
        value = binding.value
        reason = value.reason if isinstance(value, Undecided) and value.reason != NOT_LITERAL else ""
        return (), Assignment(at.line, at.end_line, at.col, at.end_col, is_literal=False), reason, None


def _id_tuple(value: object) -> tuple[str, ...]:
    """Alembic's ``util.to_tuple`` for revision ids: None and () mean none."""
    if value is None:
        return ()
    if isinstance(value, str):
        return (sys.intern(value),)
    if isinstance(value, (tuple, list)) and all(isinstance(v, str) for v in value):
        return tuple(sys.intern(v) for v in value)
    if isinstance(value, (set, frozenset)) and all(isinstance(v, str) for v in value):
        return tuple(sys.intern(v) for v in sorted(value))  # Alembic accepts a set; its order is Python's whim
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


def _where(binding: Binding) -> Assignment:
    node = binding.node
    line = getattr(node, "lineno", 1)
    end_line = getattr(node, "end_lineno", None) or line
    col = getattr(node, "col_offset", 0)
    end_col = getattr(node, "end_col_offset", None) or col
    if binding.is_editable and not isinstance(binding.value, Undecided):
        return _assignment(line, end_line, col, end_col)
    return Assignment(line, end_line, col, end_col, is_literal=False)


@functools.lru_cache(maxsize=4096)
def _assignment(line: int, end_line: int, col: int, end_col: int) -> Assignment:
    """Files written from one template assign ``revision`` and its siblings at the same
    places: one immutable record for each place, not one per file (memory at 50,000)."""
    return Assignment(line=line, end_line=end_line, col=col, end_col=end_col)


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
