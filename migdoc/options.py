"""The options of ``check`` and ``dryrun`` as records: what the command line parses, the
library takes, and the result cache keys on; and the answer a report gives. Pure data."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

Styler = Callable[[str, str], str]


@dataclass(frozen=True)
class DryrunOptions:
    """The dry-run's options (of ``dryrun`` and of ``check --dryrun``)."""

    server_url: str | None = None
    pg_bindir: str | None = None
    url_env: tuple[str, ...] = ()
    x_arguments: tuple[str, ...] = ()
    no_downgrade: bool = False
    to_revision: str | None = None
    step_timeout: float | None = None
    run_as_server_role: bool = False
    fail_fast: bool = False
    setup: str | None = None
    setup_stamp: str | None = None
    base_sql: str | None = None
    python: str | None = None
    since: str | None = None
    base_ref: str | None = None
    from_database: str | None = None


@dataclass(frozen=True)
class DryrunPrinters:
    """What shows a dry-run as it runs: the progress printer (None: nothing live), the
    "dry-run on ..." line, and the style of the final report."""

    progress: object | None = None
    on_database: Callable[[str], None] | None = None
    style: Styler | None = None


@dataclass(frozen=True)
class CheckRequest:
    """Every option of ``check``; each one that shapes the answer is part of its cache key."""

    paths: tuple[str, ...] = (".",)
    config: str | None = None
    name: str = "alembic"
    version_locations: tuple[str, ...] = ()
    fmt: str = "text"
    select: tuple[str, ...] = ()
    ignore: tuple[str, ...] = ()
    database_url: str | None = None
    base_ref: str | None = None
    is_statistics: bool = False
    is_exit_zero: bool = False
    is_quiet: bool = False
    is_colour: bool = False
    is_snippets: bool = True
    """text: the source line under each finding (``--no-snippets``: none)."""
    is_to_file: bool = False
    """The report goes to ``-o FILE``: no live dry-run (the report is written whole)."""
    dryrun: DryrunOptions | None = None
    drift: DryrunOptions | None = None
    """``--drift``: compare the ``--database-url`` database's schema with the chain's (MD031),
    on a throwaway database made as the dry-run makes one."""

    @property
    def is_cacheable(self) -> bool:
        """Only an answer made of files alone: a database, git or a dry-run may say otherwise next time."""
        return self.dryrun is None and self.database_url is None and self.base_ref is None


@dataclass(frozen=True)
class Answer:
    """A rendered report and the exit code that goes with it."""

    report: str
    code: int
    is_cached: bool = field(default=False, compare=False)
