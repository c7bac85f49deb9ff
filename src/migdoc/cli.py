"""Command line: parse arguments, call the library, print, map errors to exit codes.

Exit codes: 0 clean, 1 findings / failed dry-run / unapplied plan, 2 usage,
config or environment error, 3 a bug in migdoc.
"""

from __future__ import annotations

import functools
import sys
import traceback
from collections.abc import Callable

import click

from migdoc import __version__
from migdoc.errors import MigdocError

EXIT_OK, EXIT_FINDINGS, EXIT_USAGE, EXIT_BUG = 0, 1, 2, 3


def _project_options(command: Callable) -> Callable:
    """PATH, -c/--config, -n/--name, --version-location: as in Alembic."""

    @click.argument("path", default=".", type=click.Path(file_okay=True, dir_okay=True))
    @click.option("-c", "--config", "config", default=None, help="Alembic config file (default PATH/alembic.ini).")
    @click.option("-n", "--name", default="alembic", show_default=True, help="Section of the ini file.")
    @click.option(
        "--version-location",
        "version_locations",
        multiple=True,
        metavar="DIR",
        help="A versions folder, for projects that set version_locations in code (repeatable).",
    )
    @functools.wraps(command)
    def wrapper(*args, **kwargs):
        return command(*args, **kwargs)

    return wrapper


def _load(path: str, config: str | None, name: str, version_locations: tuple[str, ...]):
    from migdoc.api import load_project

    return load_project(path, config=config, name=name, version_locations=version_locations)


def _styler(enabled: bool):
    from migdoc.output.text import plain

    if not enabled:
        return plain
    colours = {
        "error": "red",
        "warning": "yellow",
        "info": "blue",
        "path": None,
        "dim": "bright_black",
        "head": "green",
    }

    def style(text: str, role: str) -> str:
        if role == "path":
            return click.style(text, bold=True)
        return click.style(text, fg=colours.get(role))

    return style


def _is_terminal() -> bool:
    return sys.stdout.isatty()


class _MigdocGroup(click.Group):
    """Maps migdoc's own errors to one line and exit 2, and bugs to exit 3,
    inside click so every caller (console script, tests) sees the same codes."""

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except MigdocError as exc:
            click.echo(f"migdoc: error: {exc}", err=True)
            ctx.exit(exc.exit_code)
        except (click.exceptions.Exit, click.Abort, click.ClickException, SystemExit, KeyboardInterrupt):
            raise
        except BrokenPipeError:
            ctx.exit(EXIT_OK)
        except Exception:  # noqa: BLE001 - the last line of defence: a bug in migdoc
            click.echo(traceback.format_exc(), err=True, nl=False)
            click.echo(
                f"migdoc {__version__}: internal error; please report it with the traceback above",
                err=True,
            )
            ctx.exit(EXIT_BUG)


@click.group(cls=_MigdocGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="migdoc")
def cli() -> None:
    """A doctor for Alembic migration chains: reads version files without importing them."""


@cli.command()
@_project_options
@click.option(
    "--format", "fmt", type=click.Choice(["text", "dot", "mermaid", "json"]), default="text", show_default=True
)
def graph(path, config, name, version_locations, fmt):
    """Draw the revision graph (exit 0 even when the chain is broken)."""
    from migdoc.api import check_project
    from migdoc.output import dot, json_format, mermaid, text

    project = _load(path, config, name, version_locations)
    if fmt == "json":
        click.echo(json_format.render_graph(project.graph), nl=False)
        return
    problems: dict[str, list[str]] = {}
    for d in check_project(project).diagnostics:
        if d.file and d.severity.value != "info":
            problems.setdefault(d.file, []).append(d.code)
    if fmt == "dot":
        click.echo(dot.render_graph(project.graph, problems), nl=False)
    elif fmt == "mermaid":
        click.echo(mermaid.render_graph(project.graph, problems), nl=False)
    else:
        click.echo(text.render_graph(project.graph, problems, _styler(_is_terminal())), nl=False)


@cli.command()
@_project_options
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["text", "json", "sarif", "github"]),
    default="text",
    show_default=True,
)
@click.option("--select", multiple=True, metavar="CODES", help="Only these codes (comma-separated, repeatable).")
@click.option("--ignore", multiple=True, metavar="CODES", help="Skip these codes (comma-separated, repeatable).")
def check(path, config, name, version_locations, fmt, select, ignore):
    """Diagnose the chain. Exit 1 when any error-level finding remains."""
    from migdoc.api import check_project
    from migdoc.output import github, json_format, sarif, text

    project = _load(path, config, name, version_locations)
    result = check_project(project, select=_split(select), ignore=_split(ignore))
    renderers = {
        "json": json_format.render_check,
        "sarif": sarif.render_check,
        "github": github.render_check,
    }
    if fmt == "text":
        click.echo(text.render_check(result, _styler(_is_terminal())), nl=False)
    else:
        click.echo(renderers[fmt](result), nl=False)
    sys.exit(EXIT_FINDINGS if result.has_errors else EXIT_OK)


def _split(values: tuple[str, ...]) -> tuple[str, ...]:
    return tuple(part.strip() for value in values for part in value.split(",") if part.strip())


@cli.command()
@click.argument("code", required=False)
def explain(code):
    """Print a rule's documentation (all codes when CODE is omitted)."""
    from migdoc.errors import UsageError
    from migdoc.rules import RULES

    if code is None:
        for rule_ in RULES.values():
            click.echo(f"{rule_.code}  {rule_.name:<24} {rule_.severity.value:<8} {rule_.summary}")
        return
    wanted = code.strip().upper()
    matches = [r for r in RULES.values() if r.code == wanted or r.name == code.strip().lower()]
    if not matches:
        raise UsageError(f"unknown rule {code!r}; `migdoc explain` lists them")
    click.echo(matches[0].documentation(), nl=False)


def main(argv: list[str] | None = None) -> None:
    """Entry point: one line on stderr and exit 2 for problems with the input."""
    try:
        cli.main(args=argv, prog_name="migdoc", standalone_mode=False)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    except click.UsageError as exc:
        exc.show()
        sys.exit(EXIT_USAGE)
    except click.ClickException as exc:
        exc.show()
        sys.exit(EXIT_USAGE)
    except click.Abort:
        click.echo("migdoc: aborted", err=True)
        sys.exit(EXIT_USAGE)
    except KeyboardInterrupt:
        click.echo("migdoc: interrupted", err=True)
        sys.exit(130)
    sys.exit(EXIT_OK)
