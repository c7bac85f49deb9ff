"""Command line: parse arguments, call the library (:mod:`migdoc.doctor`), print, map errors
to exit codes. Each command is parse -> one library call -> print -> exit code.

Over ~400 lines for a reason: most of it is click's declarations of the five commands'
options and their help texts, which belong where the commands are.

Exit codes: 0 clean, 1 findings / failed dry-run / unapplied plan, 2 usage,
config or environment error, 3 a bug in migdoc.
"""

from __future__ import annotations

import functools
import os
import sys
import traceback
from collections.abc import Callable

import click

from migdoc import __version__
from migdoc.errors import MigdocError

EXIT_OK, EXIT_FINDINGS, EXIT_USAGE, EXIT_BUG = 0, 1, 2, 3
DEFAULT_STEP_TIMEOUT = 300.0
"""migdoc.dryrun.results.DEFAULT_STEP_TIMEOUT, written here: importing the dry-run's records
to show a default would load the rules and networkx into every command, a cached check too."""


def _project_options(command: Callable, is_many: bool = False) -> Callable:
    """PATH (several with ``is_many``), -c/--config, -n/--name, --version-location: as in Alembic.

    -c and -n may also come before the command (``migdoc -c x check``), where Alembic users
    put them; given in both places, the command's own wins."""

    @click.argument(
        "paths" if is_many else "path",
        nargs=-1 if is_many else 1,
        default=None if is_many else ".",
        required=False,
        type=click.Path(file_okay=True, dir_okay=True),
    )
    @click.option("-c", "--config", "config", default=None, help="Alembic config file (default PATH/alembic.ini).")
    @click.option("-n", "--name", default=None, help="Section of the ini file.  [default: alembic]")
    @click.option(
        "--version-location",
        "version_locations",
        multiple=True,
        metavar="DIR",
        help="A versions folder, for projects that set version_locations in code (repeatable).",
    )
    @functools.wraps(command)
    def wrapper(*args, config=None, name=None, **kwargs):
        before = click.get_current_context().find_root().params
        if is_many:
            kwargs["paths"] = kwargs.get("paths") or (".",)
        return command(
            *args, config=config or before.get("config"), name=name or before.get("name") or "alembic", **kwargs
        )

    return wrapper


def _remember_url(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    """Seen once by the masking function as soon as it is parsed, so its password is
    scrubbed from every later line, whatever prints it (reports, errors, tracebacks)."""
    if value:
        from migdoc.util.masking import mask_url

        mask_url(value)
    return value


def _checked_rev_id(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    """--rev-id as Alembic's ``verify_rev_id`` would take it: refused here, before any plan."""
    if value is not None:
        from migdoc.errors import UsageError
        from migdoc.project.naming import revision_id_problem

        problem = revision_id_problem(value)
        if problem is not None:
            raise UsageError(f"--rev-id {value!r} cannot be a revision id: {problem}", option="--rev-id", value=value)
    return value


def _database_url_option(command: Callable) -> Callable:
    """--database-url (or MIGDOC_DATABASE_URL); its password is masked in all output."""
    return click.option(
        "--database-url",
        envvar="MIGDOC_DATABASE_URL",
        metavar="URL",
        default=None,
        show_envvar=True,
        callback=_remember_url,
        help="A deployed database (any SQLAlchemy URL), read-only: its alembic_version is read, nothing written.",
    )(command)


def _load(
    path: str,
    config: str | None,
    name: str,
    version_locations: tuple[str, ...],
    is_read_only: bool = False,
):
    from migdoc.doctor import load_project

    project = load_project(
        path, config=config, name=name, version_locations=version_locations, is_read_only=is_read_only
    )
    for note in project.layout.notes:
        _print_note(note)
    return project


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


def _masked(text: str) -> str:
    """Database passwords never reach the terminal, not even in a traceback."""
    from migdoc.util.masking import mask_secrets

    return mask_secrets(text)


def _is_terminal() -> bool:
    """Colour only for a person at a terminal, and never with NO_COLOR (which turns off
    colour, not the dry-run's live progress)."""
    return sys.stdout.isatty() and not os.environ.get("NO_COLOR")


def _dryrun_options(command: Callable) -> Callable:
    """The dry-run's options (of ``dryrun`` and of ``check --dryrun``)."""
    options = [
        click.option(
            "--server",
            "server_url",
            envvar="MIGDOC_DRYRUN_SERVER",
            show_envvar=True,
            metavar="URL",
            default=None,
            callback=_remember_url,
            help="A PostgreSQL server migdoc may create a throwaway database on (dropped after). "
            "Default: a private server started from local binaries. Never --database-url / MIGDOC_DATABASE_URL, "
            "which always mean the deployed database.",
        ),
        click.option(
            "--run-as-server-role",
            is_flag=True,
            envvar="MIGDOC_DRYRUN_RUN_AS_SERVER_ROLE",
            show_envvar=True,
            help="With --server: run the project's code as the URL's own role, not as a role made for the run "
            "that has no rights outside the throwaway database (for migrations that need that role's rights, "
            "such as CREATE EXTENSION postgis as a superuser); changes outside it are then found only afterwards.",
        ),
        click.option(
            "--pg-bindir", metavar="DIR", default=None, help="Folder with initdb and postgres for a private server."
        ),
        click.option(
            "--url-env",
            multiple=True,
            metavar="NAME",
            help="Environment variable(s) env.py reads the URL from (default DATABASE_URL; repeatable).",
        ),
        click.option(
            "-x",
            "x_arguments",
            multiple=True,
            metavar="KEY=VALUE",
            help="As Alembic's -x, for env.py's context.get_x_argument(); {url} in VALUE is the throwaway "
            "database's URL (repeatable).",
        ),
        click.option("--no-downgrade", is_flag=True, help="Run the upgrades only."),
        click.option(
            "--since",
            metavar="REV",
            default=None,
            help="Prove REV and the revisions after it only: upgrade to REV's parents first, in one unchecked "
            "alembic upgrade.",
        ),
        click.option(
            "--from-database",
            "from_database",
            metavar="URL",
            default=None,
            callback=_remember_url,
            help="Start from the schema (no rows) of this deployed PostgreSQL database, copied read-only with "
            "pg_dump, stamped where it is; then prove the revisions it has not applied.",
        ),
        click.option("--to", "to_revision", metavar="REV", default=None, help="Stop after this revision."),
        click.option(
            "--setup",
            metavar="MODULE:CALLABLE",
            default=None,
            help="Call the application's own code with the throwaway connection before the chain, for a "
            "chain that starts from a schema the application builds (e.g. myapp.models:Base.metadata.create_all).",
        ),
        click.option(
            "--setup-stamp",
            metavar="REV",
            default=None,
            help="Stamp the chain at REV after --setup/--base-sql (when the callable does not stamp it itself); "
            "the dry-run starts above it.",
        ),
        click.option(
            "--base-sql",
            metavar="FILE",
            default=None,
            help="Run this SQL file on the throwaway database before the chain (before --setup).",
        ),
        click.option(
            "--python",
            "python",
            metavar="PATH",
            default=None,
            help="The project's Python (its virtualenv's): runs env.py and the migrations there, with its "
            "own Alembic (>= 1.7), SQLAlchemy (>= 1.4) and driver. Default: migdoc's own.",
        ),
        click.option(
            "--fail-fast",
            is_flag=True,
            help="Stop at the first failure (default: report every failure, going on where it safely can).",
        ),
        click.option(
            "--step-timeout",
            type=click.FloatRange(min=0, min_open=True),
            metavar="SECONDS",
            default=DEFAULT_STEP_TIMEOUT,  # the dry-run's own default (a test holds them equal)
            show_default=True,
            help="Stop a step (one upgrade or downgrade) that runs longer than this.",
        ),
    ]
    for option in reversed(options):
        command = option(command)
    return command


def _dryrun_printers(is_downgrade: bool):
    """What shows a dry-run live, on a terminal only: the progress per revision and the
    "dry-run on ..." line (to stdout: the project's own prints go to stderr during the run)."""
    from migdoc.options import DryrunPrinters
    from migdoc.output import dryrun_text

    if not sys.stdout.isatty():  # a CI log: a line now and then on stderr, never silent for minutes
        return DryrunPrinters(
            progress=dryrun_text.PeriodicProgress(
                lambda text: click.echo(text, nl=False, err=True), is_downgrade=is_downgrade
            ),
            style=_styler(False),
        )
    stdout = sys.stdout
    style = _styler(_is_terminal())
    return DryrunPrinters(
        progress=dryrun_text.ProgressPrinter(
            lambda text: click.echo(text, nl=False, file=stdout), style, is_downgrade=is_downgrade
        ),
        on_database=lambda text: click.echo(style(f"dry-run on {text}", "dim"), file=stdout),
        style=style,
    )


_DRYRUN_OPTION_NAMES = (
    "server_url",
    "pg_bindir",
    "url_env",
    "x_arguments",
    "no_downgrade",
    "to_revision",
    "step_timeout",
    "run_as_server_role",
    "fail_fast",
    "setup",
    "setup_stamp",
    "base_sql",
    "python",
    "since",
    "from_database",
)


def _dryrun_options_of(kwargs: dict):
    """The dry-run's options, taken out of a command's keyword arguments."""
    from migdoc.options import DryrunOptions

    options = {name: kwargs.pop(name) for name in _DRYRUN_OPTION_NAMES}
    return DryrunOptions(
        **{**options, "url_env": tuple(options["url_env"]), "x_arguments": tuple(options["x_arguments"])},
        base_ref=kwargs.pop("dryrun_base_ref", None) or kwargs.get("base_ref"),
    )


def _with_dryrun(command: Callable) -> Callable:
    """Adds ``--dryrun`` (and the dry-run's options) to ``check``: the static check, then
    the dry-run, one exit code. In text the dry-run's report follows the check's; in the
    other formats the check renders the dry-run's result in its own format."""

    @click.option("--dryrun", "is_dryrun", is_flag=True, help="Then prove every upgrade/downgrade on PostgreSQL.")
    @click.option(
        "--drift",
        "is_drift",
        is_flag=True,
        help="With --database-url: compare the database's schema with the one the chain builds up to its stamp, "
        "on a throwaway database (found as the dry-run finds one); each difference is MD031.",
    )
    @_dryrun_options
    @functools.wraps(command)
    def wrapper(*args, is_dryrun, is_drift, **kwargs):
        options = _dryrun_options_of(kwargs)
        return command(
            *args, dryrun_options=options if is_dryrun else None, drift_options=options if is_drift else None, **kwargs
        )

    return wrapper


def _report_interrupt(exc: KeyboardInterrupt) -> int:
    """One line on stderr; the exit code a shell expects, 128 + the signal (130 SIGINT, 143 SIGTERM)."""
    from migdoc.util.interrupts import report

    return report(exc)


class _MigdocGroup(click.Group):
    """Maps migdoc's own errors to one line and exit 2, and bugs to exit 3,
    inside click so every caller (console script, tests) sees the same codes."""

    def invoke(self, ctx: click.Context):
        try:
            os.getcwd()
        except FileNotFoundError:
            # every path shown is shown from here, and Alembic resolves relative ones from here
            click.echo(
                "migdoc: error: the current directory no longer exists (deleted after the shell entered it); "
                "cd to an existing folder and run migdoc again",
                err=True,
            )
            ctx.exit(EXIT_USAGE)
        try:
            return super().invoke(ctx)
        except MigdocError as exc:
            from migdoc.output.text import printable
            from migdoc.util.filesystem import display_text

            # one line, whatever the message quotes (an id or a path with a newline in it);
            # the paths it names shown from here
            click.echo(_masked(f"migdoc: error: {printable(display_text(str(exc)))}"), err=True)
            ctx.exit(exc.exit_code)
        except (click.exceptions.Exit, click.Abort, click.ClickException, SystemExit):
            raise
        except KeyboardInterrupt as exc:  # before click turns it into Abort: "aborted", exit 2
            ctx.exit(_report_interrupt(exc))
        except BrokenPipeError:
            ctx.exit(EXIT_OK)
        except Exception:  # noqa: BLE001 - the last line of defence: a bug in migdoc
            click.echo(_masked(traceback.format_exc()), err=True, nl=False)
            click.echo(
                f"migdoc {__version__}: internal error; please report it with the traceback above",
                err=True,
            )
            ctx.exit(EXIT_BUG)


@click.group(cls=_MigdocGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="migdoc")
@click.option("-c", "--config", "config", default=None, metavar="FILE", help="Alembic config file, for every command.")
@click.option("-n", "--name", default=None, metavar="SECTION", help="Section of the ini file, for every command.")
def cli(config, name) -> None:
    """A doctor for Alembic migration chains: reads version files without importing them."""


@cli.command(
    epilog="""\b
Example:
  migdoc graph migrations --last 30
  migdoc graph --format html -o chain.html && xdg-open chain.html"""
)
@_project_options
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["text", "dot", "mermaid", "json", "html"]),
    default="text",
    show_default=True,
    help="html: one self-contained page, the chain drawn in lanes, findings on each node.",
)
@click.option("--around", metavar="REV", default=None, help="Only the revisions within --depth steps of REV.")
@click.option("--depth", type=click.IntRange(min=0), default=None, metavar="N", help="For --around (default 3).")
@click.option("--since", metavar="REV", default=None, help="Only REV and the revisions after it.")
@click.option("--last", type=click.IntRange(min=1), default=None, metavar="N", help="Only the newest N revisions.")
@click.option(
    "--paths",
    "path_mode",
    type=click.Choice(["short", "name", "full"]),
    default="short",
    show_default=True,
    help="text: file paths relative to the versions folder, the file name only, or in full.",
)
@click.option(
    "-o", "--output-file", "output_file", metavar="FILE", default=None, help="Write the graph to FILE (atomically)."
)
def graph(path, config, name, version_locations, fmt, around, depth, since, last, path_mode, output_file):
    """Draw the revision graph (exit 0 even when the chain is broken)."""
    import shutil

    from migdoc.chain.window import Window, cut_graph
    from migdoc.doctor import graph_findings, graph_paths, graph_problems
    from migdoc.errors import UsageError
    from migdoc.output import dot, json_format, mermaid, text

    if depth is not None and around is None:
        raise UsageError("--depth goes with --around REV")
    project = _load(path, config, name, version_locations)
    whole = Window(around=around, depth=depth, since=since, last=last)
    shown = cut_graph(project.graph, whole)
    if fmt == "json":
        _emit(json_format.render_graph(shown), output_file, False)
        return
    problems = graph_problems(project)
    if fmt == "dot":
        report = dot.render_graph(shown, problems)
    elif fmt == "mermaid":
        report = mermaid.render_graph(shown, problems)
        edges = shown.graph.number_of_edges()
        if edges > mermaid.DEFAULT_MAX_EDGES:
            click.echo(
                f"migdoc: warning: {edges} edges, above Mermaid's default maxEdges of {mermaid.DEFAULT_MAX_EDGES}: "
                "GitHub and most viewers will refuse to draw it; cut it with --last N, --since REV or --around REV",
                err=True,
            )
    elif fmt == "html":
        from migdoc.output import html

        report = html.render_graph(
            shown, problems, graph_findings(project), title=f"migdoc graph: {project.layout.root.name}"
        )
    else:
        is_terminal = output_file is None and _is_terminal()
        width = shutil.get_terminal_size().columns if output_file is None and sys.stdout.isatty() else None
        report = text.render_graph(shown, problems, _styler(is_terminal), graph_paths(project, path_mode), width)
    _emit(report, output_file, fmt == "text" and output_file is None and _is_terminal())


@cli.command(
    epilog="""\b
Example:
  migdoc check migrations --format concise --statistics
  migdoc -c alembic.ini check --format sarif -o migdoc.sarif --exit-zero"""
)
@functools.partial(_project_options, is_many=True)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["text", "concise", "json", "sarif", "github"]),
    default="text",
    show_default=True,
    help="concise: path:line:col: CODE [revision] message, one line each.",
)
@click.option("--select", multiple=True, metavar="CODES", help="Only these codes (comma-separated, repeatable).")
@click.option("--ignore", multiple=True, metavar="CODES", help="Skip these codes (comma-separated, repeatable).")
@_database_url_option
@click.option(
    "--base-ref",
    metavar="REF",
    default=None,
    help="A git ref (origin/main): report MD017 when merging into it would leave two heads or a colliding id.",
)
@click.option("--statistics", "is_statistics", is_flag=True, help="Only a count of findings per code, most first.")
@click.option("--exit-zero", "is_exit_zero", is_flag=True, help="Exit 0 even with error-level findings.")
@click.option(
    "-o", "--output-file", "output_file", metavar="FILE", default=None, help="Write the report to FILE (atomically)."
)
@click.option(
    "--color",
    "colour",
    type=click.Choice(["auto", "always", "never"]),
    default="auto",
    show_default=True,
    help="auto: on a terminal, unless NO_COLOR is set; FORCE_COLOR turns it on.",
)
@click.option("-q", "--quiet", "is_quiet", is_flag=True, help="Findings only: no summary line, no layout notes.")
@click.option("--no-snippets", "is_no_snippets", is_flag=True, help="text: no source line under each finding.")
@_with_dryrun
def check(
    paths,
    config,
    name,
    version_locations,
    fmt,
    select,
    ignore,
    database_url,
    base_ref,
    is_statistics,
    is_exit_zero,
    output_file,
    colour,
    is_quiet,
    is_no_snippets,
    dryrun_options=None,
    drift_options=None,
):
    """Diagnose the chain. Exit 1 when any error-level finding remains.

    Several PATHs (a monorepo's environments) are read and reported one by one; the
    exit code is the worst of them."""
    from migdoc.options import CheckRequest
    from migdoc.reports.check import check_paths

    is_colour = _wants_colour(colour, is_file=output_file is not None)
    request = CheckRequest(
        paths=tuple(paths),
        config=config,
        name=name,
        version_locations=tuple(version_locations),
        fmt=fmt,
        select=_split(select),
        ignore=_split(ignore),
        database_url=database_url,
        base_ref=base_ref,
        is_statistics=is_statistics,
        is_exit_zero=is_exit_zero,
        is_quiet=is_quiet,
        is_colour=is_colour,
        is_snippets=not is_no_snippets,
        is_to_file=output_file is not None,
        dryrun=dryrun_options,
        drift=drift_options,
    )
    answer = check_paths(
        request,
        lambda: _styler(is_colour),
        on_note=_print_note,
        show=lambda text: _emit(text, None, is_colour),
        dryrun_printers=_dryrun_printers,
    )
    _emit(answer.report, output_file, is_colour)
    sys.exit(answer.code)


def _print_note(note: str) -> None:
    """How the layout was found goes to stderr: stdout stays the report (json, sarif...).
    Notes name absolute folders; shown from the current directory, as every path is."""
    from migdoc.util.filesystem import display_text

    click.echo(f"migdoc: info: {display_text(note)}", err=True)


def _emit(report: str, output_file: str | None, is_colour: bool) -> None:
    """The report to stdout, or to ``output_file`` whole (a reader never sees half of it)."""
    if output_file is None:
        click.echo(report, nl=False, color=is_colour or None)
        return
    from migdoc.errors import UsageError
    from migdoc.util.filesystem import write_atomically

    try:
        write_atomically(output_file, report)
    except OSError as exc:
        raise UsageError(f"cannot write {output_file}: {exc.strerror or exc}") from exc


def _wants_colour(choice: str, is_file: bool = False) -> bool:
    """--color always/never decide; auto: FORCE_COLOR on, NO_COLOR off (https://no-color.org,
    https://force-color.org), else colour only on a terminal and never into a file."""
    if choice != "auto":
        return choice == "always"
    if is_file:
        return False
    if os.environ.get("FORCE_COLOR"):
        return True
    return _is_terminal()


def _split(values: tuple[str, ...]) -> tuple[str, ...]:
    return tuple(part.strip() for value in values for part in value.split(",") if part.strip())


@cli.command(
    short_help="The database's revision(s), the heads, what `upgrade heads` would run.",
    epilog="""\b
Example:
  migdoc status --database-url postgresql://app@db.internal/app""",
)
@_project_options
@_database_url_option
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
def status(path, config, name, version_locations, database_url, fmt):
    """The database's revision(s), the heads, and what `alembic upgrade heads` would run (read-only)."""
    from migdoc.doctor import project_status
    from migdoc.output.status import render_status, render_status_json

    project = _load(path, config, name, version_locations)
    state, deployment, whereabouts = project_status(project, database_url or None)
    render = render_status_json if fmt == "json" else render_status
    click.echo(render(state.url, project.graph, deployment, whereabouts), nl=False)


@cli.command(
    epilog="""\b
Example:
  migdoc explain MD001
  migdoc explain missing-revision"""
)
@click.argument("code", required=False)
def explain(code):
    """Print a rule's documentation (all codes when CODE is omitted)."""
    from migdoc.errors import UsageError
    from migdoc.output.explain import find_rule, render_rule_list
    from migdoc.rules import RULES

    if code is None:
        click.echo(render_rule_list(RULES.values()), nl=False)
        return
    rule = find_rule(RULES.values(), code)
    if rule is None:
        raise UsageError(f"unknown rule {code!r}; `migdoc explain` lists them", option="CODE", value=code)
    click.echo(rule.documentation(), nl=False)


@cli.command(
    short_help="Plan repairs and show them; --apply writes them.",
    epilog="""\b
Example:
  migdoc fix            # the recommended plan first, then the alternatives
  migdoc fix --apply    # apply the recommended plan
  migdoc fix --merge --diff""",
)
@_project_options
@click.option(
    "--archive", "is_archive", is_flag=True, help="Keep the main line; archive dead branches, stray copies and repeats."
)
@click.option(
    "--merge", "is_merge", is_flag=True, help="Write a merge revision for the open heads, as `alembic merge`."
)
@click.option(
    "--relink",
    "is_relink",
    is_flag=True,
    help="Re-point a revision whose parent is missing (a cherry-pick) at the branch's current head.",
)
@click.option(
    "--rebase",
    "is_rebase",
    is_flag=True,
    help="Re-point the newer branch's first revision onto the other head (down_revision and Revises:).",
)
@click.option(
    "--reid",
    "is_reid",
    is_flag=True,
    help="Give the copy of a duplicated id the id its file name carries (else a fresh one); re-point its children.",
)
@click.option("--renumber", "is_renumber", is_flag=True, help="Rename files so their names carry their revision ids.")
@click.option(
    "--head",
    metavar="REV",
    default=None,
    help="The head that stays: the main head for --archive, the head --rebase/--relink re-point onto.",
)
@click.option(
    "--keep",
    metavar="FILE",
    multiple=True,
    help="For a revision id declared by several files: the file --archive keeps (repeatable).",
)
@click.option("-m", "--message", default=None, help='For --merge: the message, as `alembic merge -m` ("merge heads").')
@click.option(
    "--base-ref",
    metavar="REF",
    default=None,
    help="With --relink: re-point this branch's new revision onto REF's head (the MD017 rebase).",
)
@click.option(
    "--rev-id",
    default=None,
    callback=_checked_rev_id,
    help="For --merge: the new revision's id, as `alembic merge --rev-id`.",
)
@click.option(
    "--file-template",
    metavar="TEMPLATE",
    default=None,
    help="For --renumber: the file name pattern, as Alembic's file_template (default: learned from the names).",
)
@click.option(
    "--archive-dir",
    metavar="DIR",
    default=None,
    help="Where --archive moves files (default script_location/archive/DATE).",
)
@click.option("--diff", "show_diff", is_flag=True, help="Show the plan as a unified diff.")
@click.option("--apply", "is_apply", is_flag=True, help="Carry the plan out (journalled; undo with --undo).")
@click.option("--undo", "is_undo", is_flag=True, help="Restore the files of the last applied fix.")
@click.option(
    "--no-verify",
    "is_no_verify",
    is_flag=True,
    help="With --apply: skip the database proof (the upgrade of the planned tree on a throwaway PostgreSQL).",
)
@click.option(
    "--server",
    "server_url",
    envvar="MIGDOC_DRYRUN_SERVER",
    show_envvar=True,
    metavar="URL",
    default=None,
    callback=_remember_url,
    help="For the database proof of --apply: a PostgreSQL server migdoc may create a throwaway database on.",
)
@click.option(
    "--pg-bindir", metavar="DIR", default=None, help="For the database proof: folder with initdb and postgres."
)
@click.option(
    "--url-env",
    multiple=True,
    metavar="NAME",
    help="For the database proof: environment variable(s) env.py reads the URL from (default DATABASE_URL).",
)
@click.option("-x", "x_arguments", multiple=True, metavar="KEY=VALUE", help="For the database proof: as Alembic's -x.")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
@_database_url_option
def fix(
    path,
    config,
    name,
    version_locations,
    is_archive,
    is_merge,
    is_renumber,
    is_relink,
    is_rebase,
    is_reid,
    head,
    keep,
    base_ref,
    message,
    rev_id,
    file_template,
    archive_dir,
    show_diff,
    is_apply,
    is_undo,
    is_no_verify,
    server_url,
    pg_bindir,
    url_env,
    x_arguments,
    fmt,
    database_url,
):
    """Plan repairs and show them; --apply writes them. Exit 0 nothing to do / applied, 1 plan not applied
    (a proof of the planned tree failed, or the plan was not healthier)."""
    from migdoc.model import FixOptions
    from migdoc.reports.fix import FixPrinters, FixRequest, fix_report, undo_report

    project = _load(path, config, name, version_locations, is_read_only=not is_apply)
    printers = FixPrinters(
        out=functools.partial(click.echo, nl=False),
        err=functools.partial(click.echo, err=True),
        style=_styler(_is_terminal()),
    )
    if is_undo:
        sys.exit(undo_report(project, printers))
    options = FixOptions(
        is_renumber=is_renumber,
        is_archive=is_archive,
        is_merge=is_merge,
        is_relink=is_relink,
        is_rebase=is_rebase,
        is_reid=is_reid,
        head=head,
        archive_dir=archive_dir,
        keep=tuple(keep),
        file_template=file_template,
        message=message,
        rev_id=rev_id,
    )
    request = FixRequest(
        options=options,
        fmt=fmt,
        database_url=database_url,
        base_ref=base_ref,
        show_diff=show_diff,
        is_apply=is_apply,
        is_no_verify=is_no_verify,
        server_url=server_url,
        pg_bindir=pg_bindir,
        url_env=tuple(url_env) or ("DATABASE_URL",),
        x_arguments=tuple(x_arguments),
    )
    sys.exit(fix_report(project, request, printers))


@cli.command(
    short_help="Squash REV and its ancestors into one proved baseline revision.",
    epilog="""\b
Example:
  migdoc squash --to 3f2a9c1d --diff     # the plan, proved on a throwaway PostgreSQL
  migdoc squash --to 3f2a9c1d --apply    # write it (journalled)
  migdoc squash --undo""",
)
@_project_options
@click.option(
    "--to",
    "to_revision",
    metavar="REV",
    default=None,
    help="The revision the baseline replaces, with its ancestors; it keeps REV's id.",
)
@click.option(
    "--keep-data",
    "is_keep_data",
    is_flag=True,
    help="Carry the range's data migrations (literal SQL, bulk_insert rows) into the baseline.",
)
@click.option(
    "--drop-data",
    "is_drop_data",
    is_flag=True,
    help="Leave the range's data migrations out (a fresh database has no rows for them).",
)
@click.option(
    "--archive-dir",
    metavar="DIR",
    default=None,
    help="Where the squashed files go (default script_location/archive/DATE).",
)
@click.option("--diff", "show_diff", is_flag=True, help="Show the plan as a unified diff.")
@click.option("--apply", "is_apply", is_flag=True, help="Carry the plan out (journalled; undo with --undo).")
@click.option("--undo", "is_undo", is_flag=True, help="Restore the files of the last applied squash or fix.")
@click.option(
    "--server",
    "server_url",
    envvar="MIGDOC_DRYRUN_SERVER",
    show_envvar=True,
    metavar="URL",
    default=None,
    callback=_remember_url,
    help="A PostgreSQL server migdoc may create the throwaway database on (default: a private server).",
)
@click.option("--pg-bindir", metavar="DIR", default=None, help="Folder with initdb and postgres for a private server.")
@click.option(
    "--python",
    "python",
    metavar="PATH",
    default=None,
    help="The project's Python (its virtualenv's): runs env.py and the migrations there.",
)
@click.option(
    "--url-env",
    multiple=True,
    metavar="NAME",
    help="Environment variable(s) env.py reads the URL from (default DATABASE_URL).",
)
@click.option(
    "-x",
    "x_arguments",
    multiple=True,
    metavar="KEY=VALUE",
    help="As Alembic's -x; {url} is the throwaway database's URL.",
)
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
@_database_url_option
def squash(
    path,
    config,
    name,
    version_locations,
    to_revision,
    is_keep_data,
    is_drop_data,
    archive_dir,
    show_diff,
    is_apply,
    is_undo,
    server_url,
    pg_bindir,
    python,
    url_env,
    x_arguments,
    fmt,
    database_url,
):
    """Squash REV and all its ancestors into one baseline revision that keeps REV's id, proved
    on a throwaway PostgreSQL (the baseline builds the schema the chain has at REV, the new chain
    equals the old at the heads, the baseline's downgrade empties the database); the old files
    are archived. Exit 0 applied / nothing to do, 1 plan not applied (shown only, or a proof
    failed), 2 refused."""
    from migdoc.errors import UsageError
    from migdoc.fix.squash import SquashOptions
    from migdoc.reports.fix import FixPrinters, SquashRequest, squash_report, squash_undo_report

    project = _load(path, config, name, version_locations, is_read_only=not is_apply)
    printers = FixPrinters(
        out=functools.partial(click.echo, nl=False),
        err=functools.partial(click.echo, err=True),
        style=_styler(_is_terminal()),
    )
    if is_undo:
        sys.exit(squash_undo_report(project, printers))
    if not to_revision:
        raise UsageError(
            "squash needs --to REV: the revision the baseline replaces (with its ancestors)", option="--to"
        )
    if is_keep_data and is_drop_data:
        raise UsageError("--keep-data and --drop-data exclude each other", option="--keep-data")
    request = SquashRequest(
        options=SquashOptions(
            to=to_revision, is_keep_data=is_keep_data, is_drop_data=is_drop_data, archive_dir=archive_dir
        ),
        fmt=fmt,
        database_url=database_url,
        show_diff=show_diff,
        is_apply=is_apply,
        server_url=server_url,
        pg_bindir=pg_bindir,
        python=python,
        url_env=tuple(url_env) or ("DATABASE_URL",),
        x_arguments=tuple(x_arguments),
    )
    sys.exit(squash_report(project, request, printers))


@cli.command(
    short_help="Prove every upgrade and downgrade on a throwaway PostgreSQL.",
    epilog="""\b
Example:
  migdoc dryrun migrations --no-downgrade
  migdoc dryrun --server postgresql://postgres@localhost:5432/postgres""",
)
@_project_options
@_dryrun_options
@click.option("--database-url", "deployed_url", hidden=True, default=None)
@click.option(
    "--base-ref",
    "dryrun_base_ref",
    metavar="REF",
    default=None,
    help="A git ref (origin/main): prove only the revisions this branch adds over it, starting from its heads.",
)
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
@click.option(
    "--locks",
    "is_lock_table",
    is_flag=True,
    help="After the run, a table per upgrade step: the locks it took on tables that existed before it, "
    "rewrites, index builds and validations (json always has them).",
)
def dryrun(path, config, name, version_locations, fmt, deployed_url, is_lock_table, **options):
    """Prove every upgrade and downgrade on a throwaway PostgreSQL. Exit 0 passed, 1 a step failed
    or the models drifted from the migrations (MD020), 2 an environment problem.

    Every connection the project's code opens is proved to be the throwaway database
    first; a connection anywhere else stops the run (exit 2) before anything runs there."""
    from migdoc.errors import UsageError

    if deployed_url:
        # one name, one meaning: --database-url is the deployed database, never dry-run on
        raise UsageError(
            "--database-url is the deployed database, which the dry-run never uses; "
            "pass --server URL (or MIGDOC_DRYRUN_SERVER) for a server migdoc may create a throwaway database on"
        )
    from migdoc.options import DryrunPrinters
    from migdoc.reports.dryrun import dryrun_path

    dryrun_options = _dryrun_options_of(options)
    printers = _dryrun_printers(not dryrun_options.no_downgrade) if fmt == "text" else DryrunPrinters()
    report, code = dryrun_path(
        path,
        fmt,
        dryrun_options,
        printers,
        config,
        name,
        tuple(version_locations),
        on_note=_print_note,
        is_lock_table=is_lock_table,
    )
    click.echo(report, nl=False)
    sys.exit(code)


def main(argv: list[str] | None = None) -> None:
    """Entry point: one line on stderr and exit 2 for problems with the input.

    The console script starts at :func:`migdoc.__main__.main`, which handles
    signals before this module is even imported; a caller of this function
    gets the same from its first line."""
    from migdoc.util import interrupts

    interrupts.install()
    try:
        # without standalone mode click returns (not raises) the code given to ctx.exit()
        code = cli.main(args=argv, prog_name="migdoc", standalone_mode=False)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    except click.UsageError as exc:
        exc.show()
        sys.exit(EXIT_USAGE)
    except click.ClickException as exc:
        exc.show()
        sys.exit(EXIT_USAGE)
    except click.Abort as exc:
        # click turns a signal that lands while it parses arguments (outside invoke) into Abort
        if isinstance(exc.__cause__ or exc.__context__, KeyboardInterrupt):
            sys.exit(_report_interrupt(exc.__cause__ or exc.__context__))
        click.echo("migdoc: aborted", err=True)
        sys.exit(EXIT_USAGE)
    except KeyboardInterrupt as exc:
        sys.exit(_report_interrupt(exc))
    sys.exit(code if isinstance(code, int) else EXIT_OK)
