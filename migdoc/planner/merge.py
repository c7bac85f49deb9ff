"""``--merge``: one merge revision for the open heads, as ``alembic merge`` writes it. Pure."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

from migdoc.errors import FixRefused
from migdoc.model import (
    CreateFile,
    FixOptions,
)
from migdoc.naming import (
    render_file_template,
)
from migdoc.planner.archive import (
    is_labelled_layout,
)
from migdoc.planner.context import (
    HEAD_CONFLICT,
    MULTIPLE_HEADS,
    PartialPlan,
    PlanContext,
    PlanState,
    folder_of,
    has_error,
    healthy_note,
    name_of,
)
from migdoc.planner.renumber import unsafe_name_reason
from migdoc.reader import read_revision

MERGE_MESSAGE = "merge heads"


# -- merge -------------------------------------------------------------------


def plan_merge(context: PlanContext, options: FixOptions, state: PlanState | None = None) -> PartialPlan:
    """A merge revision for the open heads, as ``alembic merge heads`` writes it."""
    state = state or PlanState.initial(context)
    if context.graph.cycles:
        return PartialPlan(unresolved=("--merge: the chain has a loop; break it by hand first (MD005)",), state=state)
    if is_labelled_layout(context):
        return PartialPlan(
            notes=("--merge: the heads sit on their own labelled branches (a deliberate layout); nothing merged",),
            state=state,
        )
    if not has_error(context):
        return PartialPlan(
            notes=(healthy_note("--merge", "nothing to merge", f"an error-level second head ({MULTIPLE_HEADS})"),),
            state=state,
        )
    heads = state.heads(context)
    if len(heads) < 2:
        return PartialPlan(notes=(f"--merge: {len(heads)} head; nothing to merge",), state=state)
    files = context.files
    known = {str(files[i].revision) for i in state.survivors} | set(context.archived) | set(context.graph.declarations)
    if options.rev_id is not None:
        unsafe = unsafe_name_reason(options.rev_id)
        if unsafe is not None:
            raise FixRefused(f"--rev-id {options.rev_id!r} cannot be a revision id: {unsafe}", flag="--rev-id")
        if options.rev_id in known:
            raise FixRefused(f"--rev-id {options.rev_id}: a revision with that id already exists", flag="--rev-id")
    revision = options.rev_id or _new_revision_id(known, heads, options)
    message = options.message or MERGE_MESSAGE
    head_files = [i for i in state.survivors if files[i].revision in heads]
    folders = {folder_of(files[i].path) for i in head_files}
    folder = folders.pop() if len(folders) == 1 else context.version_dirs[0]
    stem = render_file_template(context.file_template, revision, message, options, context.truncate_slug_length)
    path = f"{folder}/{stem}.py"
    if name_of(path) in context.existing_names.get(folder, frozenset()):
        return PartialPlan(
            unresolved=(f"--merge: {path} already exists; cannot write the merge revision",), state=state
        )
    content = render_merge_script(context.script_template, revision, tuple(heads), options)
    check = read_revision(path, content.encode("utf-8"))
    if check.revision != revision or set(check.down_revisions) != set(heads):
        content = render_merge_script(None, revision, tuple(heads), options)
    merged_codes = tuple(sorted({MULTIPLE_HEADS, HEAD_CONFLICT} & {d.code for d in context.diagnostics}))
    action = CreateFile(
        path=path,
        content=content,
        reason=f"merges the {len(heads)} heads {', '.join(heads)} into one, as `alembic merge heads` would",
        answers=merged_codes,
        revision=revision,
    )
    # The merge file is new: the surviving files and their parents stay as they are.
    return PartialPlan(actions=(action,), state=state)


def _new_revision_id(known: set[str], heads: Sequence[str], options: FixOptions) -> str:
    """The next number for numbered chains, else 12 hex characters (deterministic from the inputs)."""
    numbered = [rev for rev in known if rev.isdigit()]
    if numbered and len(numbered) * 2 >= len(known):
        width = max(len(rev) for rev in numbered)
        candidate = max(int(rev) for rev in numbered) + 1
        while str(candidate).zfill(width) in known:
            candidate += 1
        return str(candidate).zfill(width)
    seed = f"{','.join(sorted(heads))}|{options.now.isoformat()}"
    while True:
        candidate = hashlib.sha256(seed.encode()).hexdigest()[:12]
        if candidate not in known:
            return candidate
        seed += "+"


def _comma(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    return ", ".join(str(v) for v in value)  # type: ignore[union-attr]


def render_merge_script(template: str | None, revision: str, heads: tuple[str, ...], options: FixOptions) -> str:
    """The project's ``script.py.mako`` rendered as Alembic renders it for a merge
    (Alembic's generic template when the project has none or it cannot be rendered)."""
    from mako.template import Template

    values = dict(
        up_revision=revision,
        down_revision=heads if len(heads) > 1 else (heads[0] if heads else None),
        branch_labels=None,
        depends_on=None,
        create_date=options.now,
        comma=_comma,
        message=options.message or MERGE_MESSAGE,
        upgrades=None,
        downgrades=None,
        imports=None,
        config=None,
    )
    if template is not None:
        try:
            return Template(text=template).render_unicode(**values)
        except Exception:  # noqa: BLE001 - a custom template may need Alembic's runtime; fall back
            pass
    return Template(text=_generic_script()).render_unicode(**values)


def _generic_script() -> str:
    """Alembic's own ``generic`` template, from the installed alembic: a merge written here
    is the file ``alembic merge`` would write. Found without importing alembic (which
    would pull in SQLAlchemy: the planner stays free of it)."""
    import importlib.util
    from pathlib import Path

    spec = importlib.util.find_spec("alembic")
    assert spec is not None and spec.origin is not None, "alembic is a dependency of migdoc"
    return (Path(spec.origin).parent / "templates" / "generic" / "script.py.mako").read_text(encoding="utf-8")
