"""How the migrations are run, read from env.py: MD029 (no lock_timeout) and MD030 (no
advisory lock around the run). Both info and off by default: they judge the deployment
set-up, which some teams own elsewhere (a wrapper script, a CI job). Pure: the edge puts
env.py's text in ``CheckContext.env_source``; nothing here reads the disk.

Read as text, not run: a mention in a comment does not count (comments are dropped), and
a mention anywhere else does, wherever it is (a helper env.py calls, a branch not taken):
a lint that is off by default and says "info" errs towards silence."""

from __future__ import annotations

import io
import re
import tokenize
from collections.abc import Iterator

from migdoc.model import RevisionFile
from migdoc.rules.registry import CheckContext, Finding, rule

_LOCK_TIMEOUT = re.compile(r"lock_timeout", re.I)
_ADVISORY = re.compile(r"pg_(?:try_)?advisory_(?:xact_)?lock\b", re.I)
_RUN_MIGRATIONS = re.compile(r"\brun_migrations\s*\(")


def env_code(source: str) -> str:
    """env.py without its comments (strings stay: SQL lives in them). Source that does not
    tokenize is taken as it is."""
    try:
        tokens = [t for t in tokenize.generate_tokens(io.StringIO(source).readline) if t.type != tokenize.COMMENT]
        return tokenize.untokenize(tokens)
    except (tokenize.TokenError, SyntaxError, IndentationError):
        return source


def env_sets_lock_timeout(source: str | None) -> bool:
    """``SET lock_timeout`` in SQL, ``options="-c lock_timeout=..."`` in connect_args, ..."""
    return source is not None and bool(_LOCK_TIMEOUT.search(env_code(source)))


def _env_file(context: CheckContext) -> RevisionFile | None:
    # a finding names its file through a RevisionFile; env.py is not a revision, only its path counts
    return RevisionFile(path=context.env_path) if context.env_path else None


def _line_of(source: str, pattern: re.Pattern[str]) -> int:
    match = pattern.search(source)
    return source.count("\n", 0, match.start()) + 1 if match else 1


@rule(
    "MD029",
    "missing-lock-timeout",
    "info",
    summary=(
        "Off by default (`--select MD029`). The project's env.py sets no `lock_timeout` (no `SET lock_timeout`, "
        "no `-c lock_timeout=` in the connection's options) and `[tool.migdoc] lock_timeout` is not set."
    ),
    why=(
        "Every `ALTER TABLE` takes ACCESS EXCLUSIVE, if only for an instant. Without a timeout it waits behind "
        "any long query on the table, and every query that arrives after it waits behind it: a one-line "
        "migration takes the application down until the long query ends."
    ),
    example="""
env.py:  with connectable.connect() as connection:
             context.configure(connection=connection, target_metadata=target_metadata)
             with context.begin_transaction():
                 context.run_migrations()          <- MD029: no lock_timeout""",
    fix=(
        "Not changed by `fix`: in env.py, run `connection.exec_driver_sql(\"SET lock_timeout = '2s'\")` before "
        '`run_migrations()` (or pass `connect_args={"options": "-c lock_timeout=2s"}`), and retry the '
        'deploy when it times out; or tell migdoc with `[tool.migdoc] lock_timeout = "2s"`.'
    ),
    enabled_by_default=False,
)
def missing_lock_timeout(context: CheckContext) -> Iterator[Finding]:
    source = context.env_source
    if source is None or context.is_lock_timeout_set or env_sets_lock_timeout(source):
        return
    yield Finding(
        _env_file(context),
        _line_of(source, _RUN_MIGRATIONS),
        "env.py sets no lock_timeout: a migration's ALTER TABLE waits behind any long query and blocks every "
        "query behind it; SET lock_timeout (e.g. '2s') on the connection before run_migrations(), or set "
        '[tool.migdoc] lock_timeout = "2s" if the deployment sets it elsewhere',
    )


@rule(
    "MD030",
    "unserialized-upgrade",
    "info",
    summary=(
        "Off by default (`--select MD030`). The project's env.py takes no PostgreSQL advisory lock "
        "(`pg_advisory_lock`, `pg_advisory_xact_lock`, `pg_try_advisory_lock`) around `run_migrations()`."
    ),
    why=(
        "Deploys that start several instances at once (containers, replicas, a retried job) each run "
        "`alembic upgrade`: two of them apply the same revision at the same time, and one fails half-way or "
        "both write `alembic_version`."
    ),
    example="""
env.py:  with context.begin_transaction():
             context.run_migrations()          <- MD030: nothing serializes two upgrades""",
    fix=(
        "Not changed by `fix`: in env.py, inside `context.begin_transaction()`, run "
        '`connection.exec_driver_sql("SELECT pg_advisory_xact_lock(<a constant of your project>)")` before '
        "`context.run_migrations()`; the second upgrade waits, then finds nothing left to do."
    ),
    enabled_by_default=False,
)
def unserialized_upgrade(context: CheckContext) -> Iterator[Finding]:
    source = context.env_source
    if source is None or _ADVISORY.search(env_code(source)):
        return
    yield Finding(
        _env_file(context),
        _line_of(source, _RUN_MIGRATIONS),
        "env.py takes no advisory lock around run_migrations(): two deploys starting together both upgrade; "
        "run SELECT pg_advisory_xact_lock(<constant>) inside context.begin_transaction() first",
    )
