"""The edge of ``fix``'s proofs: new files rendered from the project's own template, and the
planned tree upgraded from base to heads on a throwaway PostgreSQL.

Both run only where the user asked for a write (``fix --apply``): rendering runs the Python
inside ``script.py.mako``; the upgrade runs the project's ``env.py`` and migrations. Neither
touches the project's files: the upgrade runs on a copy of the planned tree in a temporary
folder (the configuration, the script folder with its env.py and template, the version
files as the plan leaves them), removed afterwards.
"""

from __future__ import annotations

import dataclasses
import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from migdoc.errors import ApplyError
from migdoc.model import CreateFile, EditText, MoveFile, Plan, Proof, RenameFile, TemplateRender
from migdoc.project.layout import ProjectLayout
from migdoc.project.reader import read_revision
from migdoc.util.filesystem import display_path

UPGRADE = "upgrade"


# -- rendering new files from the project's template -------------------------------


def render_templates(layout: ProjectLayout, plan: Plan) -> Plan:
    """``plan`` with every file to be rendered from the project's template rendered, as
    ``alembic merge`` renders it: Mako on the template file, Alembic's template arguments
    plus ``comma`` and ``config`` (the project's Alembic Config), encoded with the project's
    ``output_encoding``. Raises ``ApplyError`` (nothing written) when the template cannot be
    rendered or the result does not declare the revision planned: never a fallback."""
    if not any(isinstance(a, CreateFile) and a.template is not None for a in plan.actions):
        return plan
    config = alembic_config(layout)
    actions = tuple(
        _rendered(action, config) if isinstance(action, CreateFile) and action.template is not None else action
        for action in plan.actions
    )
    return dataclasses.replace(plan, actions=actions, proofs=())


def _rendered(action: CreateFile, config) -> CreateFile:
    render = action.template
    assert render is not None
    content = render_template(render, config)
    record = read_revision(action.path, content.encode("utf-8"))
    shown = display_path(render.template)
    if record.read_error is not None or record.revision != action.revision:
        said = record.read_error or f"revision {record.revision!r}"
        raise ApplyError(
            f"{shown} renders a file that does not declare revision {action.revision} ({said}); nothing written"
        )
    if set(record.down_revisions) != set(render.down_revisions):
        raise ApplyError(
            f"{shown} renders down_revision {record.down_revisions!r}, not {render.down_revisions!r}; nothing written"
        )
    return dataclasses.replace(action, content=content, template=None)


def render_template(render: TemplateRender, config) -> str:
    """The template rendered as ``alembic.util.template_to_file`` renders it (then decoded
    again: a plan holds text). Raises ``ApplyError`` with why."""
    from alembic.util import format_as_comma
    from mako import exceptions as mako_exceptions
    from mako.template import Template

    shown = display_path(render.template)
    arguments = dict(render.arguments)
    timezone = config.get_alembic_option("timezone") if config is not None else None
    if timezone:
        arguments["create_date"] = _in_timezone(arguments["create_date"], timezone, shown)
    encoding = (config.get_alembic_option("output_encoding") if config is not None else None) or "utf-8"
    try:
        template = Template(filename=render.template)
        output = template.render_unicode(**arguments, comma=format_as_comma, config=config)
    except OSError as exc:
        raise ApplyError(f"{shown}: cannot be read ({exc.strerror or exc}); nothing written") from exc
    except mako_exceptions.MakoException as exc:
        raise ApplyError(f"{shown}: the template does not compile ({_one_line(exc)}); nothing written") from exc
    except Exception as exc:  # noqa: BLE001 - the template's own Python failed: refuse, saying so
        raise ApplyError(
            f"{shown}: rendering failed ({type(exc).__name__}: {_one_line(exc)}); the template may need an "
            "argument `alembic merge` does not pass; nothing written"
        ) from exc
    try:
        return output.encode(encoding).decode(encoding)
    except (LookupError, UnicodeError) as exc:
        raise ApplyError(f"{shown}: cannot be written as {encoding} ({exc}); nothing written") from exc


def _in_timezone(create_date, timezone: str, shown: str):
    from datetime import timezone as utc_zone
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    for name in (timezone, timezone.upper()):
        try:
            return create_date.astimezone(utc_zone.utc).astimezone(ZoneInfo(name))
        except (ZoneInfoNotFoundError, ValueError):
            continue
    raise ApplyError(f"{shown}: the project's timezone {timezone!r} is unknown; nothing written")


def alembic_config(layout: ProjectLayout):
    """The project's Alembic Config, as its command line builds it (None without one)."""
    from alembic.config import Config

    config_file = layout.config_file
    if config_file is None:
        config = Config()
    elif config_file.suffix == ".toml":
        config = Config(toml_file=str(config_file))
    else:
        pyproject = config_file.parent / "pyproject.toml"
        config = Config(
            str(config_file),
            ini_section=layout.ini_section,
            toml_file=str(pyproject) if pyproject.is_file() else None,
        )
    if layout.script_location is not None:
        config.set_main_option("script_location", str(layout.script_location).replace("%", "%%"))
    return config


def _one_line(value: object) -> str:
    return " ".join(str(value).split())


# -- the upgrade from base to heads on the planned tree -----------------------------


def not_run(problem: Exception, copy: ProjectLayout, original: ProjectLayout) -> Proof:
    """The database proof did not run (no PostgreSQL found, or the project's code cannot be
    imported here): not an error, said with why, the copy's paths shown as the project's."""
    said = _one_line(problem).replace(str(copy.root), str(original.root))
    return Proof(UPGRADE, None, f"the database proof did not run: {said}")


def skipped() -> Proof:
    return Proof(UPGRADE, None, "--no-verify: the database proof was skipped")


def upgrade_proof(result, plan: Plan, copy: ProjectLayout, original: ProjectLayout) -> Proof:
    """What the upgrade of the planned copy (a dry-run result, upgrades only) proves.

    False, with the failing revision, error and statement, when a step fails or a file the
    plan writes cannot be loaded; None when the project's env.py cannot run at all (it would
    not on the project as it is either: nothing about the plan is known)."""
    failure = result.failure
    if failure is None or failure.phase == "models":  # the models are MD020's business, not the plan's
        return Proof(UPGRADE, True, f"upgraded base to heads ({len(result.steps)} revisions) on {result.database}")
    file = _original_path(failure.file, copy, original)
    error = _one_line(failure.error).replace(str(copy.root), str(original.root))
    if failure.phase == "load" and failure.revision is None and (file is None or file not in _written_paths(plan)):
        return Proof(UPGRADE, None, f"the database proof did not run: the project's env.py could not run ({error})")
    where = f" ({display_path(file)})" if file else ""
    return Proof(
        UPGRADE,
        False,
        f"{failure.phase} of {failure.revision or 'the chain'}{where} failed on {result.database}: {error}",
        revision=failure.revision,
        error=error,
        statement=failure.statement,
    )


def _written_paths(plan: Plan) -> set[str]:
    paths: set[str] = set()
    for action in plan.actions:
        if isinstance(action, (MoveFile, RenameFile)):
            paths.add(action.target)
        else:
            paths.add(action.path)
    return paths


def _original_path(file: str | None, copy: ProjectLayout, original: ProjectLayout) -> str | None:
    """A path the dry-run reported in the copy, as the path it stands for in the project."""
    if file is None:
        return None
    path = Path(os.path.abspath(file))
    try:
        return str(original.root / path.relative_to(copy.root))
    except ValueError:
        return str(path)


_SKIPPED = shutil.ignore_patterns("__pycache__", "*.pyc", ".migdoc")


@contextmanager
def planned_copy(layout: ProjectLayout, plan: Plan) -> Iterator[ProjectLayout]:
    """A temporary copy of what Alembic reads (the configuration, the script folder with
    env.py and its template, the version folders) with the plan carried out on it; the
    project's own folders stay first on ``sys.path`` so env.py imports the application as
    it does at home. Removed afterwards."""
    with tempfile.TemporaryDirectory(prefix="migdoc-proof-") as temporary:
        root = Path(temporary) / "project"
        root.mkdir()

        def mirrored(path: Path) -> Path:
            try:
                return root / Path(path).relative_to(layout.root)
            except ValueError:
                return root / "outside" / Path(*Path(path).resolve().parts[1:])

        archive = layout.archive_root
        if layout.script_location is not None and layout.script_location.is_dir():
            shutil.copytree(
                layout.script_location,
                mirrored(layout.script_location),
                ignore=lambda folder, names: [
                    *_SKIPPED(folder, names),
                    *(n for n in names if Path(folder, n) == archive),
                ],
                symlinks=True,
                dirs_exist_ok=True,
            )
        for location in layout.version_locations:
            if mirrored(location).exists():  # inside the script folder: copied with it
                continue
            shutil.copytree(location, mirrored(location), ignore=_SKIPPED, symlinks=True)
        config_file = None
        if layout.config_file is not None:
            config_file = mirrored(layout.config_file)
            config_file.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(layout.config_file, config_file)
            pyproject = layout.config_file.parent / "pyproject.toml"
            if pyproject.is_file() and pyproject != layout.config_file:
                shutil.copy2(pyproject, config_file.parent / "pyproject.toml")
        _carry_out(plan, mirrored)
        yield dataclasses.replace(
            layout,
            root=root,
            config_file=config_file,
            script_location=mirrored(layout.script_location) if layout.script_location is not None else None,
            version_locations=tuple(mirrored(p) for p in layout.version_locations),
            prepend_sys_path=(*layout.prepend_sys_path, layout.root),
        )


def _carry_out(plan: Plan, mirrored) -> None:
    """The plan on the copy: a file moved out of the version folders is removed from it."""
    for action in plan.actions:
        if isinstance(action, (MoveFile, RenameFile)):
            source, target = mirrored(Path(action.source)), mirrored(Path(action.target))
            if source.exists():
                target.parent.mkdir(parents=True, exist_ok=True)
                os.replace(source, target)
        elif isinstance(action, (EditText, CreateFile)):
            target = mirrored(Path(action.path))
            target.parent.mkdir(parents=True, exist_ok=True)
            # a copied symlink still points at the project's file: replace the link, never write through it
            if target.is_symlink():
                target.unlink()
            target.write_text(action.new_text if isinstance(action, EditText) else action.content, encoding="utf-8")
