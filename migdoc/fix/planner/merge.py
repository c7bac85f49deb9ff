"""``--merge``: one merge revision for the open heads, as ``alembic merge`` writes it. Pure."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

from migdoc.errors import FixRefused
from migdoc.fix.planner.archive import (
    is_labelled_layout,
)
from migdoc.fix.planner.context import (
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
from migdoc.fix.planner.renumber import unsafe_name_reason
from migdoc.model import (
    CreateFile,
    FixOptions,
    TemplateRender,
)
from migdoc.project.naming import (
    render_file_template,
)

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
    if context.script_template_path is None:
        # `alembic merge` renders script.py.mako and fails without it; a merge file from any
        # other template would not be the project's (issue 23: a built-in one broke a run)
        return PartialPlan(
            unresolved=(
                "--merge: the project has no script.py.mako in its script folder, so the merge file cannot be "
                "rendered as `alembic merge` renders it; add the template (or run `alembic merge heads`)",
            ),
            state=state,
        )
    render = merge_render(context.script_template_path, revision, tuple(heads), options)
    content = preview_of(render)
    merged_codes = tuple(sorted({MULTIPLE_HEADS, HEAD_CONFLICT} & {d.code for d in context.diagnostics}))
    action = CreateFile(
        path=path,
        content=content,
        reason=f"merges the {len(heads)} heads {', '.join(heads)} into one, as `alembic merge heads` would",
        answers=merged_codes,
        revision=revision,
        template=render,
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


def merge_render(template: str, revision: str, heads: tuple[str, ...], options: FixOptions) -> TemplateRender:
    """The template arguments ``ScriptDirectory.generate_revision`` passes for ``alembic merge``,
    in its order, but ``comma`` and ``config`` (the edge adds them when it renders): the down
    revision a scalar for one head and a tuple for several, labels and dependencies None."""
    arguments = (
        ("up_revision", revision),
        ("down_revision", heads if len(heads) > 1 else (heads[0] if heads else None)),
        ("branch_labels", None),
        ("depends_on", None),
        ("create_date", options.now),
        ("message", options.message or MERGE_MESSAGE),
    )
    return TemplateRender(template=template, arguments=arguments, down_revisions=heads)


def preview_of(render: TemplateRender) -> str:
    """What a preview shows for a file rendered only at ``--apply``: the template and its
    arguments. The template is Python (Mako); a preview, which promises to write nothing,
    does not run it."""
    lines = [
        f"# rendered at --apply from {render.template}, as `alembic merge` renders it;",
        "# a preview does not run the template (it is Python). Template arguments:",
    ]
    lines += [f"#   {name} = {value!r}" for name, value in render.arguments]
    lines.append("#   comma = alembic.util.format_as_comma; config = the project's Alembic Config")
    return "\n".join(lines) + "\n"
