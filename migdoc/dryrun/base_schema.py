"""The schema a chain starts from when the application builds it in code.

mlflow, jupyterhub and buildbot create their first tables with ``metadata.create_all``
and only then run (or stamp) their migrations: their first revision alters a table no
revision creates. ``--base-sql FILE`` runs a SQL file, ``--setup MODULE:CALLABLE`` calls
the application's own code with the throwaway connection, ``--setup-stamp REV`` stamps
the chain there (or the callable stamps it, as the application does). Touches the
database (and reads FILE); every problem here is the caller's to fix: exit 2.
"""

from __future__ import annotations

import importlib
import sys
from dataclasses import dataclass
from pathlib import Path

from migdoc.errors import EnvironmentProblem, UsageError, one_line


@dataclass(frozen=True)
class BaseSchema:
    """What builds the base: each part optional, run in this order."""

    sql_file: str | None = None
    setup: str | None = None  # MODULE:CALLABLE, CALLABLE may be dotted (Base.metadata.create_all)
    stamp: str | None = None
    sql_text: str | None = None  # the file's text, read before the run (the run changes folder)

    @property
    def is_empty(self) -> bool:
        return self.sql_file is None and self.setup is None and self.stamp is None


def check_setup_spec(spec: str) -> tuple[str, str]:
    module, sep, attribute = spec.partition(":")
    if not sep or not module.strip() or not attribute.strip():
        raise UsageError(
            f"--setup {spec}: give MODULE:CALLABLE (e.g. myapp.models:Base.metadata.create_all)",
            option="--setup",
            value=spec,
        )
    return module.strip(), attribute.strip()


def read_sql(path: str) -> str:
    try:
        return Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"--base-sql {path}: cannot read it: {exc}", option="--base-sql", value=path) from exc


def run_sql(connection, sql: str, path: str) -> None:
    """The whole file in one round trip, without parameters (a ``%`` in it is a ``%``)."""
    try:
        connection.exec_driver_sql(sql, execution_options={"no_parameters": True})
    except Exception as exc:
        connection.rollback()
        raise EnvironmentProblem(
            # the driver's own message: SQLAlchemy's wrapper would repeat the whole file
            f"--base-sql {path} failed on the throwaway database: {one_line(getattr(exc, 'orig', None) or exc)}",
            needs=path,
            remedy="fix the SQL file",
        ) from exc


def call_setup(connection, spec: str, project_root: Path) -> None:
    """``MODULE:CALLABLE(connection)``, the module imported as the project's code is (from
    the project folder and ``prepend_sys_path``)."""
    module_name, attribute = check_setup_spec(spec)
    added = str(project_root) not in sys.path
    if added:
        sys.path.insert(0, str(project_root))
    try:
        try:
            target = importlib.import_module(module_name)
            for part in attribute.split("."):
                target = getattr(target, part)
        except (ImportError, AttributeError) as exc:
            raise EnvironmentProblem(
                f"--setup {spec}: cannot find it in this Python ({sys.executable}): {one_line(exc)}",
                needs=module_name,
                remedy="install the application here, or name a module under the project folder",
            ) from exc
        if not callable(target):
            raise UsageError(f"--setup {spec}: not callable", option="--setup", value=spec)
        try:
            target(connection)
        except Exception as exc:
            connection.rollback()
            raise EnvironmentProblem(
                f"--setup {spec} failed before the first migration ran: {type(exc).__name__}: {one_line(exc)}",
                needs=spec,
                remedy="make the callable take the connection it is given",
            ) from exc
    finally:
        if added and str(project_root) in sys.path:
            sys.path.remove(str(project_root))


def stamp(connection, script_dir, revision: str, version_table: str, version_schema: str | None) -> None:
    from alembic.runtime.migration import MigrationContext
    from alembic.script.revision import RevisionError
    from alembic.util import CommandError

    context = MigrationContext.configure(
        connection, opts={"version_table": version_table, "version_table_schema": version_schema}
    )
    try:
        # a database stamped on several branches: its revisions, separated by spaces
        context.stamp(script_dir, tuple(revision.split()) if " " in revision.strip() else revision)
    except (CommandError, RevisionError, KeyError, ValueError) as exc:
        connection.rollback()
        raise UsageError(f"--setup-stamp {revision}: {one_line(exc)}", option="--setup-stamp", value=revision) from exc


def current_heads(connection, version_table: str, version_schema: str | None) -> tuple[str, ...]:
    """The revisions the version table holds after the base was built (the callable may stamp)."""
    from alembic.runtime.migration import MigrationContext

    context = MigrationContext.configure(
        connection, opts={"version_table": version_table, "version_table_schema": version_schema}
    )
    return tuple(context.get_current_heads())


def build(connection, base: BaseSchema, script_dir, project_root: Path, version_table: str, version_schema) -> None:
    """The base built and committed: the SQL file, the callable, the stamp."""
    if base.sql_file is not None:
        run_sql(connection, base.sql_text or read_sql(base.sql_file), base.sql_file)
        connection.commit()
    if base.setup is not None:
        call_setup(connection, base.setup, project_root)
        if connection.in_transaction():
            connection.commit()
    if base.stamp is not None:
        stamp(connection, script_dir, base.stamp, version_table, version_schema)
        if connection.in_transaction():
            connection.commit()
