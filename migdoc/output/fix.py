"""A repair plan as text, JSON or a unified diff (git's format, so ``git apply`` takes it)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import replace

from migdoc.errors import FixRefused
from migdoc.fix.edits import unified_diff
from migdoc.model import Action, CreateFile, EditText, MoveFile, Plan, Realign, RenameFile
from migdoc.output.text import Styler, plain, plural, printable
from migdoc.util.filesystem import display_path, display_text


def shown_plan(plan: Plan) -> Plan:
    """The plan as a person reads it: its paths, and the paths in its sentences, relative to
    the current directory when under it (the plan itself holds absolute ones). What a file
    will contain is shown as it will be written."""
    actions = []
    for action in plan.actions:
        said = {"reason": display_text(action.reason), "warnings": tuple(display_text(w) for w in action.warnings)}
        if isinstance(action, (MoveFile, RenameFile)):
            actions.append(
                replace(action, source=display_path(action.source), target=display_path(action.target), **said)
            )
        else:
            actions.append(replace(action, path=display_path(action.path), **said))
    realign = plan.realign
    if realign is not None:
        realign = replace(realign, reason=display_text(realign.reason), command=display_text(realign.command))
    return replace(
        plan,
        actions=tuple(actions),
        notes=tuple(display_text(note) for note in plan.notes),
        unresolved=tuple(display_text(item) for item in plan.unresolved),
        realign=realign,
    )


def _describe(action: Action) -> str:
    if isinstance(action, (MoveFile, RenameFile)):
        return f"{action.kind:<7} {printable(action.source)}\n          -> {printable(action.target)}"
    if isinstance(action, EditText):
        changes = "; ".join(f"line {e.line}: {printable(e.old)} -> {printable(e.new)}" for e in action.edits)
        return f"edit    {printable(action.path)}\n          {changes}"
    return f"create  {printable(action.path)}"


def render_plan(plan: Plan, style: Styler = plain, heading: str | None = None) -> str:
    plan = shown_plan(plan)
    lines = []
    flags = " ".join(f"--{s}" for s in plan.strategies)
    if heading is None:
        heading = f"migdoc fix {flags}: " + (plural(len(plan.actions), "action") if plan.actions else "nothing to do")
    lines.append(style(heading, "path"))
    for note in plan.notes:
        lines.append(style(f"  note: {printable(note)}", "dim"))
    lines += proof_lines(plan, style)
    for number, action in enumerate(plan.actions, 1):
        lines.append("")
        lines.append(f"  {number:>2}. {_describe(action)}")
        answers = f" (answers {', '.join(action.answers)})" if action.answers else ""
        lines.append(style(f"          why: {printable(action.reason)}{answers}", "dim"))
        for warning in action.warnings:
            lines.append(style(f"          warning: {printable(warning)}", "warning"))
    if plan.realign is not None:
        lines.append("")
        lines.append(style("  then stamp the database (migdoc never writes to it):", "warning"))
        lines.append(f"    {printable(plan.realign.command)}")
        lines.append(style(f"    why: {printable(plan.realign.reason)}", "dim"))
    if plan.unresolved:
        lines.append("")
        lines.append(style("  not fixed:", "warning"))
        for item in plan.unresolved:
            lines.append(f"    - {printable(item)}")
    return "\n".join(lines) + "\n"


_PROOF_WORDS = {True: ("proved", "dim"), False: ("NOT PROVED", "warning"), None: ("not run", "dim")}


def proof_lines(plan: Plan, style: Styler = plain) -> list[str]:
    """One line per proof of the planned tree: passed, failed (with the failing revision and
    statement of an upgrade), or did not run (and why)."""
    lines = []
    for proof in plan.proofs:
        word, tone = _PROOF_WORDS[proof.ok]
        lines.append(style(f"  {word}: {proof.name}: {printable(display_text(proof.why))}", tone))
        if proof.statement:
            lines.append(style(f"      statement: {printable(' '.join(proof.statement.split()))}", tone))
    return lines


def proof_to_dict(proof) -> dict:
    shown: dict = {"name": proof.name, "ok": proof.ok, "ran": proof.ok is not None, "why": display_text(proof.why)}
    if proof.revision is not None or proof.error is not None or proof.statement is not None:
        shown.update(revision=proof.revision, error=proof.error, statement=proof.statement)
    return shown


def render_overview(
    proposals: Mapping[str, Plan],
    style: Styler = plain,
    recommended: str | None = None,
    not_recommended: Mapping[str, str] | None = None,
) -> str:
    """The recommended plan first, then the alternatives (each saying why it is not the
    recommendation), then every flag that chooses one."""
    why_not = not_recommended or {}
    if not proposals:
        return "migdoc fix: nothing to do\n"
    parts = []
    if recommended is not None:
        plan = proposals[recommended]
        flags = " ".join(f"--{s}" for s in plan.strategies)
        parts.append(
            f"migdoc fix: recommended: {flags} ({plural(len(plan.actions), 'action')}); "
            "`migdoc fix --apply` applies it (nothing is written until then)\n"
        )
        parts.append(
            render_plan(plan, style, heading=f"recommended, {flags} would do {plural(len(plan.actions), 'action')}:")
        )
        parts.append("the alternatives:\n" if len(proposals) > 1 else "")
    else:
        parts.append(
            "migdoc fix: no plan can be recommended (each says why below); "
            "here is what each would do (nothing is written)\n"
        )
    for name, plan in proposals.items():
        if name == recommended:
            continue
        flags = " ".join(f"--{s}" for s in plan.strategies)
        count = plural(len(plan.actions), "action") if plan.actions else "nothing"
        heading = f"{flags} would do {count}" + (f" (not recommended: {why_not[name]})" if name in why_not else "")
        parts.append(render_plan(plan, style, heading=printable(display_text(heading)) + ":"))
    choices = ", ".join(dict.fromkeys(" ".join(f"--{s}" for s in plan.strategies) for plan in proposals.values()))
    parts.append(f"Choose with {choices}; --diff shows the changes; --apply writes them.\n")
    return "\n".join(p for p in parts if p)


def render_diff(plan: Plan) -> str:
    """Every move, rename, edit and new file, as ``git diff`` would show it."""
    plan = shown_plan(plan)
    out = []
    for action in plan.actions:
        if isinstance(action, (MoveFile, RenameFile)):
            out.append(
                f"diff --git a/{action.source} b/{action.target}\n"
                f"similarity index 100%\nrename from {action.source}\nrename to {action.target}\n"
            )
        elif isinstance(action, EditText):
            out.append(f"diff --git a/{action.path} b/{action.path}\n")
            out.append(unified_diff(action.old_text, action.new_text, action.path, action.path))
        elif isinstance(action, CreateFile):
            out.append(f"diff --git a/{action.path} b/{action.path}\nnew file mode 100644\n")
            out.append(unified_diff("", action.content, "/dev/null", action.path))
    return "".join(out)


def action_to_dict(action: Action) -> dict:
    common = {
        "action": action.kind,
        "revision": action.revision,
        "reason": action.reason,
        "answers": list(action.answers),
        "warnings": list(action.warnings),
    }
    if isinstance(action, (MoveFile, RenameFile)):
        return {**common, "from": action.source, "to": action.target, "sha256": action.sha256}
    if isinstance(action, EditText):
        edits = [
            {"line": e.line, "col": e.col, "end_line": e.end_line, "end_col": e.end_col, "old": e.old, "new": e.new}
            for e in action.edits
        ]
        return {**common, "path": action.path, "old_sha256": action.old_sha256, "edits": edits}
    return {**common, "path": action.path, "content": action.content}


def realign_to_dict(realign: Realign) -> dict:
    return {
        "current": list(realign.current),
        "revisions": list(realign.revisions),
        "command": realign.command,
        "reason": realign.reason,
    }


def plan_to_dict(plan: Plan) -> dict:
    refusal = plan.refusal
    plan = shown_plan(plan)
    shown = {
        "strategies": list(plan.strategies),
        "main_head": plan.main_head,
        "actions": [action_to_dict(a) for a in plan.actions],
        "notes": list(plan.notes),
        "unresolved": list(plan.unresolved),
        "stamp": realign_to_dict(plan.realign) if plan.realign is not None else None,
        "diff": render_diff(plan),
        "proofs": [proof_to_dict(proof) for proof in plan.proofs],
    }
    if refusal is not None:  # only where a strategy refused: every other plan keeps its shape
        shown["refused"] = refusal_to_dict(refusal.message, refusal.flag, refusal.candidates)
    return shown


def refusal_to_dict(message: str, flag: str | None, candidates: tuple[str, ...]) -> dict:
    """What a refusal says, the flag that decides, the values it could take; paths shown from here."""
    return {
        "message": display_text(message),
        "flag": flag,
        "candidates": [display_text(candidate) for candidate in candidates],
    }


def render_plan_json(plan: Plan) -> str:
    return json.dumps(plan_to_dict(plan), indent=2) + "\n"


def render_refusal_json(refused: FixRefused) -> str:
    """A refusal for machines: what it says, the flag that decides, the values it could take."""
    return json.dumps({"refused": refusal_to_dict(str(refused), refused.flag, refused.candidates)}, indent=2) + "\n"


def render_overview_json(
    proposals: Mapping[str, Plan], recommended: str | None = None, not_recommended: Mapping[str, str] | None = None
) -> str:
    """``proposals`` (each strategy's plan, the recommended one first, each with
    ``not_recommended``: why it is not the recommendation, or null) and ``recommended`` (its
    name, or null when no plan qualifies)."""
    why_not = not_recommended or {}
    ordered = sorted(proposals, key=lambda name: name != recommended)
    shown = {
        "recommended": recommended,
        "proposals": {
            name: {
                **plan_to_dict(proposals[name]),
                "not_recommended": display_text(why_not[name]) if name in why_not else None,
            }
            for name in ordered
        },
    }
    return json.dumps(shown, indent=2) + "\n"
