"""Issue 11: the adversarial cases, kept as a fuzz test that runs in CI, bounded in time.

Projects are built from real shapes (Alembic's template with hex ids,
numbered chains, dated file names, whole-stem ids, merges, forks, labelled
expand/contract branches, ``depends_on``), then mutated the way real chains
break and the way an attacker would break them: files deleted, duplicated,
renamed, cut off, flipped, NUL bytes, undecodable bytes, hostile revision ids
(``../../x``, ``sub/r4``, control characters, empty, huge), FIFOs and device
symlinks, hostile ``alembic.ini`` and ``pyproject.toml``. Every case runs
``check``/``graph``/``fix`` in-process (click's runner; ``fix --apply`` and
``--undo`` on some) and must end with exit 0, 1 or 2, no traceback, within
its time limit, and with nothing outside the project touched.

``MIGDOC_FUZZ_SCALE`` multiplies the number of examples (1 in CI: about
3,000 runs in well under a minute on two cores). The examples are the same on
every run, so CI stays reproducible; ``MIGDOC_FUZZ_RANDOM=1`` draws new ones
(hypothesis prints how to reproduce any failure it finds).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from migdoc.cli import cli

SCALE = float(os.environ.get("MIGDOC_FUZZ_SCALE", "1"))
PER_CASE_SECONDS = 20
ALLOWED_EXIT_CODES = {0, 1, 2}


def fuzz_settings(examples: int):
    return settings(
        max_examples=max(1, int(examples * SCALE)),
        derandomize=not os.environ.get("MIGDOC_FUZZ_RANDOM"),
        deadline=None,
        database=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.data_too_large],
    )


class CaseTimedOut(Exception):
    """A single command ran past PER_CASE_SECONDS: a hang."""


@contextmanager
def time_limit(seconds: float, what: list[str]) -> Iterator[None]:
    def expire(signum, frame):
        raise CaseTimedOut(f"migdoc {' '.join(what)} ran longer than {seconds} s")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def invoke(*args: str) -> int:
    return run(*args).exit_code


def run(*args: str):
    with time_limit(PER_CASE_SECONDS, list(args)):
        result = CliRunner().invoke(cli, list(args))
    shown = f"migdoc {' '.join(repr(a) for a in args)}\n{result.output}"
    assert result.exit_code in ALLOWED_EXIT_CODES, shown
    assert "Traceback" not in result.output and "internal error" not in result.output, shown
    if result.exception is not None:
        assert isinstance(result.exception, SystemExit), shown
    return result


def assert_plan_stays_inside(project: Path) -> None:
    """Every path a plan names lies inside the project: checked on the plan itself, as
    ``fix --apply`` may refuse (or roll back) what the planner should never have proposed."""
    result = run("fix", "project", "--archive", "--merge", "--renumber", "--format", "json")
    if result.exit_code == 2:
        return  # refused with a reason: nothing planned
    root = project.resolve()
    for action in json.loads(result.stdout)["actions"]:
        for key in ("from", "to", "path"):
            if key in action:
                target = (project.parent / action[key]).resolve()
                assert target == root or root in target.parents, (key, action[key])


# -- the sandbox ------------------------------------------------------------------------------------


class Sandbox:
    """``root/project`` is what migdoc may touch; everything else under ``root`` (and the
    folder above it) is a witness that must stay exactly as it was."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.project = root / "work" / "project"
        (root / "work" / "outside").mkdir(parents=True)
        (root / "work" / "outside" / "canary.py").write_text("revision = 'canary'\ndown_revision = None\n")
        (root / "work" / "canary.txt").write_text("untouched\n")
        self.before = self.outside_state()

    def outside_state(self) -> dict[str, str]:
        state: dict[str, str] = {}
        for base in (self.root.parent, self.root):
            for path in base.iterdir() if base == self.root.parent else base.rglob("*"):
                if path == self.project or self.project in path.parents:
                    continue
                key = str(path)
                state[key] = hashlib.sha256(path.read_bytes()).hexdigest() if path.is_file() else "dir"
        return state

    def reset(self) -> Path:
        if self.project.exists():
            shutil.rmtree(self.project)
        self.project.mkdir()
        return self.project

    def assert_outside_untouched(self) -> None:
        assert self.outside_state() == self.before


@pytest.fixture
def sandbox(tmp_path, monkeypatch) -> Sandbox:
    monkeypatch.setenv("MIGDOC_NO_CACHE", "1")  # the read cache has its own fuzz test
    monkeypatch.delenv("MIGDOC_DATABASE_URL", raising=False)
    box = Sandbox(tmp_path)
    monkeypatch.chdir(tmp_path / "work")
    return box


# -- real-shaped chains ---------------------------------------------------------------------------------

BODIES = [
    "    pass",
    '    op.add_column("customers", sa.Column("tier", sa.String(20)))',
    '    op.create_table("orders", sa.Column("id", sa.Integer(), primary_key=True))',
    '    op.drop_column("customers", "tier")',
    '    op.create_index("ix_orders_id", "orders", ["id"])',
    '    op.execute(f"UPDATE customers SET tier = {TIER}")',
    '    op.execute("ALTER TABLE customers ADD COLUMN score int")',
    '    with op.batch_alter_table("orders") as batch_op:\n        batch_op.add_column(sa.Column("note", sa.Text()))',
    '    raise NotImplementedError("irreversible")',
]

HOSTILE_IDS = [  # the first three name paths
    "../../../../PWNED",
    "../../outside/canary",
    "sub/r4",
    "r4\n::error file=x::pwned",
    "r\x1b[2Jx",
    "",
    " ",
    "x" * 300,
    "é\u202eevil",
    "..",
    ".hidden",
    "heads",
    "base",
    "r1@head",
    "+2",
    "-1",
]


@st.composite
def chain(draw) -> dict:
    """A project as data: its config and its version files (name -> bytes)."""
    count = draw(st.integers(1, 9))
    style = draw(st.sampled_from(["hex", "numbered", "dated", "stem"]))
    ids = []
    for n in range(count):
        if style == "hex":
            ids.append(hashlib.sha1(f"{n}-{draw(st.integers(0, 9))}".encode()).hexdigest()[:12])
        elif style == "stem":
            ids.append(f"{n + 1:04d}_step_{n}")
        else:
            ids.append(f"{n + 1:04d}")
    layout = draw(st.sampled_from(["linear", "forked", "merged", "labelled"]))
    parents: list[tuple[str, ...]] = []
    for n in range(count):
        if n == 0 or (layout == "labelled" and n == 1):
            parents.append(())
        elif layout == "forked" and n >= 2 and draw(st.booleans()):
            parents.append((ids[draw(st.integers(0, n - 1))],))
        elif layout == "merged" and n >= 3 and draw(st.integers(0, 3)) == 0:
            first, second = draw(st.lists(st.integers(0, n - 1), min_size=2, max_size=2, unique=True))
            parents.append((ids[first], ids[second]))
        elif layout == "labelled" and n >= 2:
            parents.append((ids[n - 2],))
        else:
            parents.append((ids[n - 1],))
    files: dict[str, bytes] = {}
    typed = draw(st.booleans())
    for n, (rev, down) in enumerate(zip(ids, parents, strict=True)):
        labels = f"({'expand' if n == 0 else 'contract'!r},)" if layout == "labelled" and n < 2 else "None"
        depends = repr(ids[0]) if n > 2 and draw(st.integers(0, 5)) == 0 else "None"
        down_text = "None" if not down else repr(down[0]) if len(down) == 1 else repr(down)
        annotation = ": Union[str, Sequence[str], None]" if typed else ""
        text = (
            f'"""step {n}\n\nRevision ID: {rev}\nRevises: {", ".join(down)}\n'
            f'Create Date: 2025-0{1 + n % 9}-1{n % 10} 10:00:00.000000\n\n"""\n'
            "from typing import Sequence, Union\n\nfrom alembic import op\nimport sqlalchemy as sa\n\nTIER = 3\n\n"
            f"revision{': str' if typed else ''} = {rev!r}\n"
            f"down_revision{annotation} = {down_text}\n"
            f"branch_labels{annotation} = {labels}\n"
            f"depends_on{annotation} = {depends}\n\n\n"
            f"def upgrade(){' -> None' if typed else ''}:\n{draw(st.sampled_from(BODIES))}\n\n\n"
            f"def downgrade(){' -> None' if typed else ''}:\n{draw(st.sampled_from(BODIES))}\n"
        )
        name = {"dated": f"2025010{1 + n % 9}_{rev}_step_{n}.py", "stem": f"{rev}.py"}.get(style, f"{rev}_step_{n}.py")
        files[name] = text.encode()
    template = "%%(year)d%%(month).2d%%(day).2d_%%(rev)s_%%(slug)s" if style == "dated" else None
    return {"files": files, "template": template}


@st.composite
def mutated_chain(draw, first: str | None = None) -> dict:
    """``first``: a mutation applied before the random ones (the apply test asks for hostile ids)."""
    project = draw(chain())
    files: dict[str, bytes] = project["files"]
    specials: list[tuple[str, str]] = []
    for round_ in range(draw(st.integers(0, 4)) + (first is not None)):
        names = sorted(files)
        kind = (
            first
            if round_ == 0 and first is not None
            else draw(
                st.sampled_from(
                    [
                        "delete",
                        "duplicate",
                        "rename",
                        "cut",
                        "flip",
                        "nul",
                        "undecodable",
                        "hostile_id",
                        "hostile_parent",
                        "loop",
                        "empty_depends",
                        "stray",
                        "stale_header",
                        "fifo",
                        "device",
                        "subfolder",
                    ]
                )
            )
        )
        if not names and kind not in ("stray", "fifo", "device"):
            continue
        name = draw(st.sampled_from(names)) if names else ""
        data = files.get(name, b"")
        if kind == "delete":
            del files[name]
        elif kind == "duplicate":
            files[name.replace(".py", "_copy.py")] = data
        elif kind == "rename":
            files[f"9999_{draw(st.sampled_from(['x', 'misnamed', 'ffffffffffff']))}.py"] = files.pop(name)
        elif kind == "cut":
            files[name] = data[: draw(st.integers(0, len(data)))]
        elif kind == "flip" and data:
            at = draw(st.integers(0, len(data) - 1))
            files[name] = data[:at] + bytes([data[at] ^ (1 << draw(st.integers(0, 7)))]) + data[at + 1 :]
        elif kind == "nul":
            files[name] = data.replace(b"\n\n", b"\n\x00\n", 1)
        elif kind == "undecodable":
            files[name] = data.replace(b"step", b"st\xff\xfep", 1)
        elif kind in ("hostile_id", "path_id"):
            hostile = draw(st.sampled_from(HOSTILE_IDS if kind == "hostile_id" else HOSTILE_IDS[:3]))
            files[name] = data.replace(b"\nrevision", f"\nrevision = {hostile!r}\n_old_revision".encode(), 1)
        elif kind == "hostile_parent":
            hostile = draw(st.sampled_from(HOSTILE_IDS))
            files[name] = data.replace(b"\ndown_revision", f"\ndown_revision = {hostile!r}\n_old_down".encode(), 1)
        elif kind == "loop":
            other = draw(st.sampled_from(names))
            rev = other.split("_")[0].removesuffix(".py")
            files[name] = data.replace(b"\ndown_revision", f"\ndown_revision = {rev!r}\n_old_down".encode(), 1)
        elif kind == "empty_depends":
            files[name] = data.replace(b"\ndepends_on", b"\ndepends_on = ''\n_old_depends", 1)
        elif kind == "stray":
            files[f"helpers_{len(files)}.py"] = b"def helper():\n    return 1\n"
        elif kind == "stale_header":
            files[name] = data.replace(b"Revision ID: ", b"Revision ID: stale", 1)
        elif kind in ("fifo", "device"):
            specials.append((kind, f"zz_{kind}_{len(specials)}.py"))
        elif kind == "subfolder":
            files[f"sub/{name}"] = files.pop(name)
    return {**project, "files": files, "specials": specials}


def write_chain(root: Path, project: dict) -> Path:
    script = root / "migrations"
    versions = script / "versions"
    versions.mkdir(parents=True)
    ini = "[alembic]\nscript_location = %(here)s/migrations\npath_separator = os\n"
    if project["template"]:
        ini += f"file_template = {project['template']}\n"
    (root / "alembic.ini").write_text(ini)
    (script / "env.py").write_text("raise SystemExit('migdoc never runs env.py for check, graph or fix')\n")
    for name, data in project["files"].items():
        (versions / name).parent.mkdir(parents=True, exist_ok=True)
        (versions / name).write_bytes(data)
    for kind, name in project.get("specials", ()):
        if kind == "fifo":
            os.mkfifo(versions / name)
        else:
            (versions / name).symlink_to("/dev/zero")
    return versions


COMMANDS = [
    ("check",),
    ("check", "--format", "json"),
    ("check", "--format", "sarif"),
    ("check", "--format", "github"),
    ("graph",),
    ("graph", "--format", "json"),
    ("graph", "--format", "dot"),
    ("graph", "--format", "mermaid"),
    ("fix",),
    ("fix", "--archive"),
    ("fix", "--merge"),
    ("fix", "--renumber", "--diff"),
    ("fix", "--archive", "--merge", "--renumber", "--format", "json"),
]


@fuzz_settings(450)
@given(project=mutated_chain(), commands=st.lists(st.sampled_from(COMMANDS), min_size=3, max_size=6, unique=True))
def test_fuzz_check_graph_and_fix_on_mutated_chains(sandbox, project, commands):
    write_chain(sandbox.reset(), project)
    for command in commands:
        invoke(command[0], "project", *command[1:])
    assert_plan_stays_inside(sandbox.project)
    sandbox.assert_outside_untouched()


@fuzz_settings(100)
@given(
    project=st.sampled_from([None, "path_id", "hostile_id", "hostile_parent", "duplicate"]).flatmap(
        lambda first: mutated_chain(first)
    ),
    strategy=st.sampled_from(["--archive", "--merge", "--renumber"]),
)
def test_fuzz_fix_apply_and_undo_stay_inside_the_project(sandbox, project, strategy):
    write_chain(sandbox.reset(), project)
    if invoke("fix", "project", strategy, "--apply") == 0:
        invoke("check", "project")
        invoke("fix", "project", "--undo")
    sandbox.assert_outside_untouched()


# -- hostile config files ----------------------------------------------------------------------------------

INI_LINES = [
    "script_location = %(here)s/migrations",
    "script_location = migrations",
    "script_location = nowhere",
    "script_location = mig\x00rations",
    "script_location = " + "x" * 5000,
    "script_location = %(nope)s/migrations",
    "script_location = pkg.missing:migrations",
    "script_location = ../outside",
    "script_location = /dev/zero",
    "version_locations = %(here)s/migrations/versions ../outside",
    "version_locations = /nonexistent/versions",
    "path_separator = nonsense",
    "path_separator = newline",
    "recursive_version_locations = true",
    "file_template = %%(rev)s_%%(slug",
    "file_template = %(rev)s",
    "prepend_sys_path = .",
]

PYPROJECT_TEXTS = [
    "tool = 5",
    "[tool]\nmigdoc = 5",
    "[tool]\nalembic = []",
    "[tool.migdoc]\nselect = 5",
    "[tool.migdoc]\nselect = 1.5",
    "[tool.migdoc]\nignore = true",
    "[tool.migdoc]\nignore = 1979-05-27",
    "[tool.migdoc]\nselect = [[]]",
    '[tool.migdoc]\nselect = ["MD999"]',
    '[tool.migdoc]\nselect = ["all"]\nignore = ["MD0"]',
    '[tool.migdoc]\nseverity = { MD004 = "fatal" }',
    "[tool.migdoc]\nseverity = 3",
    '[tool.migdoc]\nseverity = { MD004 = ["error"] }',
    "[tool.migdoc]\nselect = " + "[" * 3000 + "]" * 3000,
    "[tool.alembic]\nscript_location = 5",
    '[tool.alembic]\nscript_location = "%(here)s/migrations"\nversion_locations = [1, 2]',
    '[tool.alembic]\nscript_location = "%(here)s/migrations"\nversion_locations = "%(missing)s"',
    '[tool.alembic]\nscript_location = "%(here)s/migrations"\nrecursive_version_locations = {a = 1}',
    "[tool.alembic\nbroken",
    '[tool.alembic]\nscript_location = "\\u0000"',
]


@st.composite
def hostile_config(draw) -> dict:
    ini_lines = draw(st.lists(st.sampled_from(INI_LINES), max_size=3))
    section = draw(st.sampled_from(["[alembic]", "[alembic]", "[other]", "", "[alembic"]))
    ini = (section + "\n" + "\n".join(ini_lines) + "\n").encode("utf-8", "surrogatepass")
    if draw(st.integers(0, 4)) == 0 and ini:
        at = draw(st.integers(0, len(ini) - 1))
        ini = ini[:at] + draw(st.sampled_from([b"\xff", b"\x00", b"%", b"\n[", b"="])) + ini[at:]
    return {
        "ini": draw(st.sampled_from([None, ini, ini, ini, "fifo"])),
        "pyproject": draw(st.sampled_from([None, "fifo", *PYPROJECT_TEXTS])),
        "bytes": draw(st.sampled_from([b"", b"\xff\xfe", b"\x00"])),
    }


@fuzz_settings(300)
@given(config=hostile_config(), command=st.sampled_from(COMMANDS[:1] + COMMANDS[4:5] + COMMANDS[8:10]))
def test_fuzz_hostile_config_files(sandbox, config, command):
    root = sandbox.reset()
    write_chain(
        root,
        {
            "files": {"0001_a.py": b"revision = '0001'\ndown_revision = None\n\ndef upgrade():\n    pass\n"},
            "template": None,
        },
    )
    (root / "alembic.ini").unlink()
    for name, content in (("alembic.ini", config["ini"]), ("pyproject.toml", config["pyproject"])):
        if content == "fifo":
            os.mkfifo(root / name)
        elif isinstance(content, bytes):
            (root / name).write_bytes(content)
        elif content is not None:
            (root / name).write_bytes(content.encode() + config["bytes"])
    invoke(command[0], "project", *command[1:])
    invoke("status", "project", "--database-url", "sqlite:///project/no-such.db")
    assert not (root / "no-such.db").exists()
    sandbox.assert_outside_untouched()
