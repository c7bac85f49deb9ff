"""The database part of ``migdoc squash``: the schema a chain builds, read on a throwaway
PostgreSQL, rendered as one baseline revision, and the proofs of that baseline.

One throwaway database serves the whole squash. It is emptied before every run (every
schema dropped, ``public`` made again as PostgreSQL makes it), so each run starts from
what a fresh database is:

1. the old chain, base to REV (upgrades only, the project's env.py in a child process, as
   the dry-run runs it): its schema snapshot, its reflected ``MetaData``, its extensions;
2. the database emptied: Alembic's autogenerate renders that ``MetaData`` against it, as
   ``alembic revision --autogenerate`` does against an empty database;
3. what autogenerate does not carry (extensions, enum and domain types, sequences no
   serial column owns, indexes and constraints it cannot reflect, defaults) is added as
   explicit SQL taken from the catalog: the rendered body is run (it is generated code,
   not the project's), its snapshot compared with the chain's, and each missing or
   different object written as the catalog's own DDL, until the two agree or a difference
   is left that no statement answers (then the squash is refused, listing it).
   Steps 1 (reflection) to 3 run in the project's own Python (``--python``, a child
   process with migdoc on its path, as the dry-run's): the baseline is rendered by the
   Alembic and SQLAlchemy that will run it;
4. the old chain, base to heads (what the new chain must equal at the heads).

The proofs (:meth:`SquashDatabase.prove`) run the *planned* tree through the project's
env.py: the baseline alone equals the chain at REV, the baseline's downgrade leaves an
empty database (the stairway's own downgrade check), the new chain equals the old at the
heads. Nothing of the project is written here.

Over ~500 lines for a reason: the throwaway database's runs, the baseline's rendering in
the project's Python and the catalog DDL that completes it are one loop whose parts share
the snapshot's vocabulary (kind, name, definition); split, that vocabulary would be spread
over three files that must change together.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from contextlib import ExitStack
from dataclasses import dataclass, field

from migdoc.dryrun.schema import SchemaChange, Snapshot, diff_snapshots, take_snapshot
from migdoc.errors import FixRefused
from migdoc.model import Proof

SCHEMA_AT_REV = "schema-at-rev"
DOWNGRADE_EMPTIES = "downgrade-empties"
SCHEMA_AT_HEADS = "schema-at-heads"

_SYSTEM_SCHEMAS = "nspname NOT IN ('pg_catalog', 'information_schema') AND left(nspname, 3) <> 'pg_'"


@dataclass(frozen=True)
class ChainRun:
    """A chain run on an emptied database: its schema after the run, or why it failed."""

    snapshot: Snapshot | None
    failure: str | None
    revisions: int = 0


@dataclass(frozen=True)
class Baseline:
    """The baseline's body, rendered as ``alembic revision --autogenerate`` renders one
    (``upgrades``/``downgrades``/``imports``: the template arguments), and what it stands for."""

    upgrades: str
    downgrades: str
    imports: str
    at_rev: Snapshot
    at_heads: Snapshot | None
    explicit: tuple[str, ...] = ()
    """What was added as explicit SQL beyond autogenerate, one line each (shown in the plan)."""
    database: str = ""


@dataclass
class _Body:
    """The parts of the baseline, in the order upgrade() runs them."""

    pre: list[tuple[str, str]] = field(default_factory=list)  # (create, drop)
    post: list[tuple[str, str | None]] = field(default_factory=list)
    data: list[str] = field(default_factory=list)
    explicit: list[str] = field(default_factory=list)


class SquashDatabase:
    """One throwaway PostgreSQL for the whole squash (a context manager)."""

    def __init__(
        self,
        *,
        server_url: str | None = None,
        pg_bindir: str | None = None,
        python: str | None = None,
        url_env: Sequence[str] = ("DATABASE_URL",),
        x_arguments: Sequence[str] = (),
        step_timeout: float | None = None,
    ) -> None:
        self.server_url = server_url
        self.pg_bindir = pg_bindir
        self.python = python
        self.url_env = tuple(url_env)
        self.x_arguments = tuple(x_arguments)
        self.step_timeout = step_timeout
        self._stack = ExitStack()
        self.throwaway = None
        self.engine = None

    def __enter__(self) -> SquashDatabase:
        from sqlalchemy import create_engine
        from sqlalchemy.pool import NullPool

        from migdoc.dryrun.process import check_python
        from migdoc.dryrun.server import throwaway_database

        self.python = check_python(self.python or sys.executable)
        self.throwaway = self._stack.enter_context(throwaway_database(self.server_url, self.pg_bindir))
        self.engine = create_engine(self.throwaway.url, poolclass=NullPool, future=True)
        self._stack.callback(self.engine.dispose)
        return self

    def __exit__(self, *exc_info) -> None:
        self._stack.close()

    @property
    def description(self) -> str:
        assert self.throwaway is not None
        return self.throwaway.description

    # -- the database ---------------------------------------------------------------

    def empty(self) -> None:
        assert self.engine is not None
        _empty(self.engine)

    def snapshot(self, version_table: str = "alembic_version", version_schema: str | None = None) -> Snapshot:
        assert self.engine is not None
        with self.engine.connect() as connection:
            return take_snapshot(connection, version_table, version_schema)

    def run_chain(self, project, *, to: str | None, downgrade: bool = False) -> ChainRun:
        """The chain of ``project`` on the emptied database, through its env.py in a child
        process (the dry-run's stairway; with ``downgrade`` each step is also downgraded and
        the schema before it checked to come back)."""
        from migdoc.dryrun.guard import RunIdentity
        from migdoc.dryrun.process import run_in_child
        from migdoc.dryrun.results import DEFAULT_STEP_TIMEOUT
        from migdoc.dryrun.runner import host_of

        assert self.throwaway is not None and self.python is not None
        self.empty()
        throwaway = self.throwaway
        result = run_in_child(
            self.python,
            project,
            throwaway.url,
            database=throwaway.description,
            identity=RunIdentity(throwaway.name, throwaway.token, host_of(throwaway.url)),
            options={
                "downgrade": downgrade,
                "to": to,
                "url_env": list(self.url_env),
                "step_timeout": self.step_timeout or DEFAULT_STEP_TIMEOUT,
                "x_arguments": list(self.x_arguments),
                "fail_fast": True,
                "base": None,
            },
            progress=None,
        )
        failure = result.failure
        if failure is not None and failure.phase != "models":  # the models are MD020's business
            where = f" of {failure.revision}" if failure.revision else ""
            changes = "".join(f"; {change.describe()}" for change in failure.schema_diff[:5])
            return ChainRun(None, f"{failure.phase}{where} failed: {_one_line(failure.error)}{changes}")
        options = result.configure_options or {}
        version_table = options.get("version_table") or "alembic_version"
        version_schema = options.get("version_table_schema")
        return ChainRun(
            self.snapshot(str(version_table), str(version_schema) if version_schema else None),
            None,
            len({step.revision for step in result.steps}),
        )

    # -- the baseline ---------------------------------------------------------------

    def build_baseline(
        self, project, revision: str, data: Sequence[str] = (), has_descendants: bool = True
    ) -> Baseline:
        """The baseline that builds the schema ``project``'s chain has at ``revision``, with
        the ``data`` statements after the schema. Raises ``FixRefused`` when the chain does
        not run or a difference is left that no statement answers.

        The reflection, autogenerate and the trial runs of the rendered body happen in the
        project's own Python (``--python``): the baseline must be written for the Alembic and
        SQLAlchemy that will run it (a newer SQLAlchemy renders types an older one lacks)."""
        at_rev = self.run_chain(project, to=revision)
        if at_rev.snapshot is None:
            raise FixRefused(
                f"squash: the chain does not upgrade to {revision} on {self.description}: {at_rev.failure}"
            )
        assert self.throwaway is not None and self.python is not None
        built = _in_project_python(
            self.python,
            {
                "url": self.throwaway.url,
                "at_rev": [[k, n, d] for (k, n), d in at_rev.snapshot.items()],
                "data": list(data),
            },
        )
        if built.get("unanswered"):
            listed = "; ".join(built["unanswered"][:10])
            more = f" and {len(built['unanswered']) - 10} more" if len(built["unanswered"]) > 10 else ""
            raise FixRefused(
                f"squash: the baseline cannot build the schema the chain has at {revision}; "
                f"after it: {listed}{more} (nothing written)"
            )
        if built.get("error"):
            raise FixRefused(f"squash: the baseline for {revision} cannot be rendered: {built['error']}")
        at_heads = None
        if has_descendants:
            heads = self.run_chain(project, to=None)
            if heads.snapshot is None:
                raise FixRefused(
                    f"squash: the chain does not upgrade to its heads on {self.description}: {heads.failure}"
                )
            at_heads = heads.snapshot
        return Baseline(
            built["upgrades"],
            built["downgrades"],
            built["imports"],
            at_rev.snapshot,
            at_heads,
            tuple(built["explicit"]),
            self.description,
        )

    # -- the proofs -----------------------------------------------------------------

    def prove(self, planned, revision: str, baseline: Baseline) -> tuple[Proof, ...]:
        """On the planned tree (``planned``: a project read from the planned copy): (a) the
        baseline alone builds the schema the old chain has at ``revision``, and (c) its
        downgrade leaves an empty database (the stairway downgrades it and checks); (b) the
        new chain upgrades to the heads and equals the old chain there."""
        proofs = []
        alone = self.run_chain(planned, to=revision, downgrade=True)
        if alone.snapshot is None:
            failure = alone.failure or ""
            name = (
                DOWNGRADE_EMPTIES if failure.startswith(("downgrade", "consistency", "re-upgrade")) else SCHEMA_AT_REV
            )
            proofs.append(Proof(name, False, f"the baseline on {self.description}: {failure}"))
            return tuple(proofs)
        proofs.append(
            _compared(
                SCHEMA_AT_REV,
                baseline.at_rev,
                alone.snapshot,
                f"the schema after the baseline {revision} equals the old chain's at {revision}",
            )
        )
        proofs.append(Proof(DOWNGRADE_EMPTIES, True, "the baseline's downgrade leaves an empty database"))
        if baseline.at_heads is not None:
            heads = self.run_chain(planned, to=None)
            if heads.snapshot is None:
                proofs.append(Proof(SCHEMA_AT_HEADS, False, f"the new chain on {self.description}: {heads.failure}"))
            else:
                proofs.append(
                    _compared(
                        SCHEMA_AT_HEADS,
                        baseline.at_heads,
                        heads.snapshot,
                        f"the new chain upgrades to the heads ({heads.revisions} revisions) and equals the old chain there",
                    )
                )
        return tuple(proofs)


# -- in the project's Python -------------------------------------------------------------

_CHILD_START = (
    "import sys; sys.path[:] = [sys.argv[1], *(p for p in sys.path if p not in ('', '.'))]; "
    "from migdoc.fix.squash_schema import child_main; child_main(sys.argv[2])"
)


def _in_project_python(python: str, job: dict) -> dict:
    """Run :func:`build_in_this_python` on ``job`` in ``python`` (migdoc on its path, the
    project's Alembic and SQLAlchemy under it); its answer, or ``{"error": ...}``."""
    import json
    import subprocess
    import tempfile
    from pathlib import Path

    from migdoc.dryrun.process import migdoc_only

    with migdoc_only() as folder, tempfile.TemporaryDirectory(prefix="migdoc-squash-") as temporary:
        answer = Path(temporary) / "answer.json"
        job_file = Path(temporary) / "job.json"
        job_file.write_text(json.dumps({**job, "answer": str(answer)}), encoding="utf-8")
        done = subprocess.run(
            [python, "-c", _CHILD_START, folder, str(job_file)],
            capture_output=True,
            text=True,
            check=False,
            cwd=temporary,
        )
        if answer.is_file():
            return json.loads(answer.read_text(encoding="utf-8"))
        said = done.stderr.strip().splitlines()
        return {"error": said[-1] if said else f"{python} exited with {done.returncode}"}


def child_main(job_path: str) -> None:
    """The child's entry point: the job from ``job_path``, the answer to ``job["answer"]``."""
    import json
    import traceback

    with open(job_path, encoding="utf-8") as handle:
        job = json.load(handle)
    try:
        answer = build_in_this_python(job)
    except Exception as exc:  # noqa: BLE001 - said to the parent, which refuses with it
        answer = {"error": f"{type(exc).__name__}: {_one_line(exc)}", "traceback": traceback.format_exc()}
    with open(job["answer"], "w", encoding="utf-8") as handle:
        json.dump(answer, handle)


def build_in_this_python(job: dict) -> dict:
    """With the database at REV: reflect it, note what autogenerate does not carry, empty
    the database, autogenerate against it, then run the rendered body and compare its
    snapshot with REV's until they agree (each difference answered by the catalog's DDL)."""
    from sqlalchemy import create_engine
    from sqlalchemy.pool import NullPool

    at_rev: Snapshot = {(kind, name): definition for kind, name, definition in job["at_rev"]}
    engine = create_engine(_usable_url(job["url"]), poolclass=NullPool, future=True)
    try:
        body = _Body()
        metadata, extensions = _reflect(engine)
        for name, schema in extensions:
            body.pre.append(
                (
                    f'CREATE EXTENSION IF NOT EXISTS "{name}" WITH SCHEMA "{schema}"',
                    f'DROP EXTENSION IF EXISTS "{name}"',
                )
            )
            body.explicit.append(f"extension {name} (CREATE EXTENSION)")
        for kind, name in sorted(at_rev):
            if kind == "schema":
                body.pre.append((f"CREATE SCHEMA {_qualified(name)}", f"DROP SCHEMA {_qualified(name)}"))
                body.explicit.append(f"schema {name}")
        for (kind, name), definition in sorted(at_rev.items()):
            if kind == "type":
                body.pre.append((_create_type(name, definition), f"DROP TYPE {_qualified(name)}"))
                body.explicit.append(f"type {name}: {definition} (created before the tables, dropped after)")
        for name, definition in _free_sequences(engine, at_rev):
            body.pre.append((_create_sequence(name, definition), f"DROP SEQUENCE IF EXISTS {_qualified(name)}"))
            body.explicit.append(f"sequence {name}: {definition} (no serial column owns it)")
        _empty(engine)
        upgrade_ops, downgrade_ops, autogen = _autogenerate(engine, metadata)
        for _attempt in range(3):
            rendered = _render(autogen, upgrade_ops, downgrade_ops, body, job["data"])
            _empty(engine)
            _execute(engine, rendered)
            with engine.connect() as connection:
                differences = diff_snapshots(at_rev, take_snapshot(connection))
            if not differences:
                upgrades, downgrades, imports = rendered
                return {"upgrades": upgrades, "downgrades": downgrades, "imports": imports, "explicit": body.explicit}
            unanswered = _answer(differences, body, at_rev)
            if unanswered:
                return {"unanswered": [change.describe() for change in unanswered]}
        return {"unanswered": [change.describe() for change in differences]}
    finally:
        engine.dispose()


def _usable_url(url: str):
    """The throwaway URL with a driver this Python has (an older SQLAlchemy has no psycopg 3)."""
    import importlib.util

    from sqlalchemy.dialects import registry
    from sqlalchemy.engine import make_url

    parsed = make_url(url)
    for driver in ("psycopg", "psycopg2", "pg8000"):
        if importlib.util.find_spec(driver) is None:
            continue
        try:
            registry.load(f"postgresql.{driver}")
        except Exception:  # noqa: BLE001 - this SQLAlchemy has no dialect for it
            continue
        return parsed.set(drivername=f"postgresql+{driver}")
    return parsed


def _empty(engine) -> None:
    """Drop every schema and make ``public`` again as ``initdb`` leaves it."""
    from sqlalchemy import text

    with engine.begin() as connection:
        names = list(connection.execute(text(f"SELECT nspname FROM pg_namespace WHERE {_SYSTEM_SCHEMAS}")).scalars())
        for name in names:
            connection.execute(text(f'DROP SCHEMA "{name}" CASCADE'))
        connection.execute(text("CREATE SCHEMA public AUTHORIZATION pg_database_owner"))
        connection.execute(text("GRANT USAGE ON SCHEMA public TO PUBLIC"))


def _reflect(engine):
    """The schema now in the database as SQLAlchemy ``MetaData`` (the version table left
    out; serial columns as Alembic's autogenerate reflects them), and its extensions."""
    from alembic.migration import MigrationContext
    from sqlalchemy import MetaData, event, inspect, text

    metadata = MetaData()
    with engine.connect() as connection:
        impl = MigrationContext.configure(connection).impl
        event.listen(metadata, "column_reflect", impl.autogen_column_reflect)
        for schema in inspect(connection).get_schema_names():
            if schema == "information_schema" or schema.startswith("pg_"):
                continue
            metadata.reflect(connection, schema=None if schema == "public" else schema)
        extensions = connection.execute(
            text(
                "SELECT e.extname, n.nspname FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace "
                "WHERE e.extname <> 'plpgsql' ORDER BY e.extname"
            )
        ).all()
        # an exclusion constraint's index is reflected as a plain index: the constraint (added
        # from the catalog) makes it, so the index must not be created first
        backing = set(
            connection.execute(
                text(
                    "SELECT n.nspname, c.relname FROM pg_constraint k JOIN pg_class c ON c.oid = k.conindid "
                    "JOIN pg_namespace n ON n.oid = c.relnamespace WHERE k.contype = 'x'"
                )
            ).all()
        )
    for table in list(metadata.tables.values()):
        if table.name == "alembic_version":
            metadata.remove(table)
            continue
        for index in list(table.indexes):
            if (table.schema or "public", index.name) in backing:
                table.indexes.discard(index)
    from sqlalchemy.sql.elements import conv

    for table in metadata.tables.values():
        for item in (*table.indexes, *table.constraints):
            if isinstance(item.name, str):
                # the catalog's name is final: rendered as op.f(), so that a naming convention on
                # env.py's target_metadata does not name it again (Airflow's "ck_%(table_name)s_...")
                item.name = conv(item.name)
            # reflection fills in dialect options at their defaults (postgresql_include=[]...):
            # rendered, they are arguments an older SQLAlchemy refuses; left out, they mean the same
            for key, value in list(item.dialect_kwargs.items()):
                if value in (None, False) or (isinstance(value, (list, tuple, dict)) and not value):
                    del item.dialect_kwargs[key]
        for column in table.columns:
            if getattr(column.type, "create_type", None) is True:
                column.type.create_type = False  # created once, before the tables (a type may serve many)
    return metadata, [(str(name), str(schema)) for name, schema in extensions]


def _free_sequences(engine, snapshot: Snapshot) -> list[tuple[str, str]]:
    """Sequences in ``snapshot`` that no column owns (a serial column's is made with it)."""
    from sqlalchemy import text

    free = []
    with engine.connect() as connection:
        for (kind, name), definition in sorted(snapshot.items()):
            if kind != "sequence":
                continue
            owned = connection.execute(
                text(
                    "SELECT 1 FROM pg_depend WHERE classid = 'pg_class'::regclass "
                    "AND objid = CAST(:name AS regclass) AND refclassid = 'pg_class'::regclass "
                    "AND deptype IN ('a', 'i')"
                ),
                {"name": _qualified(name)},
            ).first()
            if owned is None:
                free.append((name, definition))
    return free


def _autogenerate(engine, metadata):
    """Alembic's autogenerate of ``metadata`` against the (empty) database."""
    from alembic.autogenerate import api
    from alembic.autogenerate.api import AutogenContext
    from alembic.migration import MigrationContext

    with engine.connect() as connection:
        opts = {
            "target_metadata": metadata,
            "include_schemas": True,
            "compare_type": True,
            "compare_server_default": True,
            # what `alembic revision --autogenerate` renders with (EnvironmentContext's defaults)
            "alembic_module_prefix": "op.",
            "sqlalchemy_module_prefix": "sa.",
            "user_module_prefix": None,
            "render_item": None,
        }
        context = MigrationContext.configure(connection=connection, opts=opts)
        script = api.produce_migrations(context, metadata)
        autogen = AutogenContext(context, metadata, opts=opts)
        # rendering needs no database: the context is kept for its options only
        return script.upgrade_ops, script.downgrade_ops, autogen


def _execute(engine, rendered: tuple[str, str, str]) -> None:
    """Run the rendered upgrade() (generated code, never the project's)."""
    from alembic.migration import MigrationContext
    from alembic.operations import Operations

    upgrades, _downgrades, imports = rendered
    source = f"from alembic import op\nimport sqlalchemy as sa\n{imports}\n\n\ndef upgrade():\n    {upgrades}\n"
    namespace: dict = {}
    exec(compile(source, "<squash baseline>", "exec"), namespace)  # noqa: S102 - migdoc's own rendering
    with engine.begin() as connection:
        with Operations.context(MigrationContext.configure(connection)):
            namespace["upgrade"]()


def _compared(name: str, expected: Snapshot, found: Snapshot, said: str) -> Proof:
    differences = diff_snapshots(expected, found)
    if not differences:
        return Proof(name, True, f"{said} ({len(expected)} objects)")
    listed = "; ".join(change.describe() for change in differences[:10])
    return Proof(name, False, f"{len(differences)} difference(s): {listed}")


# -- rendering ---------------------------------------------------------------------------


def _render(autogen, upgrade_ops, downgrade_ops, body: _Body, data: Sequence[str]) -> tuple[str, str, str]:
    """The template arguments ``upgrades``, ``downgrades``, ``imports``: the explicit SQL
    around autogenerate's operations (types before the tables and dropped after them), the
    data statements last; downgrade() undoes upgrade() in reverse order."""
    from alembic.autogenerate import render
    from alembic.operations import ops

    upgrade = [
        *(ops.ExecuteSQLOp(create) for create, _ in body.pre),
        *upgrade_ops.ops,
        *(ops.ExecuteSQLOp(create) for create, _ in body.post),
        *(ops.ExecuteSQLOp(statement) for statement in data),
    ]
    downgrade = [
        *(ops.ExecuteSQLOp(drop) for _, drop in reversed(body.post) if drop),
        *downgrade_ops.ops,
        *(ops.ExecuteSQLOp(drop) for _, drop in reversed(body.pre)),
    ]
    script = ops.MigrationScript(
        rev_id=None, upgrade_ops=ops.UpgradeOps(ops=upgrade), downgrade_ops=ops.DowngradeOps(ops=downgrade)
    )
    autogen.imports = set()
    arguments: dict = {}
    render._render_python_into_templatevars(autogen, script, arguments)
    return arguments["upgrades"], arguments["downgrades"], arguments["imports"]


def _answer(differences: Sequence[SchemaChange], body: _Body, at_rev: Snapshot) -> list[SchemaChange]:
    """Add to ``body`` the catalog's DDL for each difference between the chain's schema at REV
    (``before``) and the baseline's (``after``); the differences no statement answers."""
    unanswered = []
    # a view the baseline creates brings its columns with it
    views = {c.name for c in differences if c.kind == "view" and c.change == "removed"}
    constraint_indexes = {
        f"{c.name.split('.', 1)[0]}.{c.name.rsplit('.', 1)[1]}"
        for c in differences
        if c.kind in ("primary key", "unique constraint", "exclusion constraint") and c.change == "removed"
    }
    for change in differences:
        kind, name, definition = change.kind, change.name, change.before
        if kind == "column" and change.change == "removed" and name.rsplit(".", 1)[0] in views:
            continue
        if kind == "index" and name in constraint_indexes:
            continue  # the constraint added below makes its own index
        if change.change == "removed" or (change.change == "changed" and kind in ("index",) + _CONSTRAINTS):
            if kind == "index":
                assert definition is not None
                schema = name.split(".", 1)[0]
                drop = f"DROP INDEX IF EXISTS {_qualified(name)}"
                creates = [definition] if change.change == "removed" else [drop, definition]
                for statement in creates:
                    body.post.append((statement, drop if statement is definition else None))
                body.explicit.append(f"index {name}: {definition}")
                del schema
                continue
            if kind in _CONSTRAINTS:
                assert definition is not None
                table, constraint = name.rsplit(".", 1)
                drop = f"ALTER TABLE {_qualified(table)} DROP CONSTRAINT IF EXISTS {_ident(constraint)}"
                add = f"ALTER TABLE {_qualified(table)} ADD CONSTRAINT {_ident(constraint)} {definition}"
                if change.change == "changed":
                    body.post.append((drop, None))
                body.post.append((add, drop))
                body.explicit.append(f"{kind} {name}: {definition}")
                continue
            if kind == "sequence" and change.change == "removed":
                assert definition is not None
                body.pre.append((_create_sequence(name, definition), f"DROP SEQUENCE IF EXISTS {_qualified(name)}"))
                body.explicit.append(f"sequence {name}: {definition}")
                continue
            if kind == "view" and change.change == "removed":
                assert definition is not None
                materialized = definition.startswith("MATERIALIZED ")
                query = definition.removeprefix("MATERIALIZED ")
                word = "MATERIALIZED VIEW" if materialized else "VIEW"
                body.post.append(
                    (f"CREATE {word} {_qualified(name)} AS {query}", f"DROP {word} IF EXISTS {_qualified(name)}")
                )
                body.explicit.append(f"view {name}")
                continue
        if change.change == "changed" and kind == "column":
            fixed = _column_default(name, change.before or "", change.after or "")
            if fixed is not None:
                body.post.append((fixed, None))
                body.explicit.append(f"column {name}: {change.before}")
                continue
        unanswered.append(change)
    return unanswered


_CONSTRAINTS = (
    "primary key",
    "unique constraint",
    "check constraint",
    "foreign key",
    "exclusion constraint",
    "constraint",
)


def _column_default(name: str, before: str, after: str) -> str | None:
    """``ALTER COLUMN ... SET/DROP DEFAULT`` when the default is all that differs."""
    strip = lambda text: text.split(" DEFAULT ", 1)[0]  # noqa: E731
    if strip(before) != strip(after) or " IDENTITY " in before + after:
        return None
    table, column = name.rsplit(".", 1)
    if " DEFAULT " in before:
        default = before.split(" DEFAULT ", 1)[1].removesuffix(" GENERATED")
        return f"ALTER TABLE {_qualified(table)} ALTER COLUMN {_ident(column)} SET DEFAULT {default}"
    return f"ALTER TABLE {_qualified(table)} ALTER COLUMN {_ident(column)} DROP DEFAULT"


def _create_type(name: str, definition: str) -> str:
    if definition.startswith("ENUM "):
        return f"CREATE TYPE {_qualified(name)} AS {definition}"
    return f"CREATE DOMAIN {_qualified(name)} AS {definition.removeprefix('DOMAIN ')}"


def _create_sequence(name: str, definition: str) -> str:
    kind, _, rest = definition.partition(" START ")
    start, _, increment = rest.partition(" INCREMENT ")
    return f"CREATE SEQUENCE {_qualified(name)} AS {kind} START {start} INCREMENT {increment}"


def _ident(name: str) -> str:
    return name if name.isidentifier() and name == name.lower() else '"' + name.replace('"', '""') + '"'


def _qualified(name: str) -> str:
    return ".".join(_ident(part) for part in name.split("."))


def _one_line(value: object) -> str:
    return " ".join(str(value).split())
