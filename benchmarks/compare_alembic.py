"""Hold migdoc against Alembic itself on real projects.

For each project, Alembic's own ``ScriptDirectory`` loads the version files
(it imports them, as ``alembic heads`` does), and migdoc reads the same
project through its Python API (``load_project`` / ``check_project``). The
tool prints, per project, the revisions, heads and bases both see, whether
they agree, and migdoc's error-level findings::

    python benchmarks/compare_alembic.py PATH... [-c FILE] [-n NAME] [--version-location DIR]...
    python benchmarks/compare_alembic.py --mirrors DIR [--fetch] --table benchmarks/real_projects.txt [--json]

PATH is what you would give migdoc: a folder with ``alembic.ini`` and/or
``pyproject.toml`` (``[tool.alembic]``), a Flask-Migrate ``migrations/`` folder
(an ini without ``script_location`` beside ``env.py``), a script folder
(``env.py`` + ``versions/``, read as ``ScriptDirectory(folder)``), or a
versions folder. ``OWNER/NAME@SHA:PATH`` reads PATH as it was at commit SHA of
the public repository OWNER/NAME, from a git mirror of it in ``--mirrors DIR``
(``DIR/OWNER+NAME/repo``, as the search tool's fetch lays them out, or
``DIR/OWNER+NAME.git``; ``--fetch`` clones a missing one from GitHub), extracted
with ``git archive`` into a temporary folder; ``GITDIR@SHA:PATH`` does the same
from a git directory on disk. ``-c`` and ``--version-location`` are then
relative to the repository root.
``--version-location`` accepts glob patterns (``versions/*/expand``): the tool
expands them and gives the same folders to both tools.

``--table FILE`` reads one project per line, with its own options, in the same
syntax (``#`` starts a comment; ``--label NAME`` names the row).

How Alembic is made to load a project it cannot import: every module a
version file imports that is not installed in this interpreter (the project's
own packages included) is replaced by a permissive stub (attribute access,
calls and subclassing all work), so module-level code such as
``from myapp.models import STATUS`` runs. A file whose module code still
crashes is read by migdoc's static reader instead, and Alembic's own
``Script``/``RevisionMap`` are built from that reading; the "Alembic read"
column says how many files that happened to. ``--static`` builds Alembic's
``RevisionMap`` from migdoc's reading for every file (the same fallback is used
when Alembic cannot even construct the ScriptDirectory).

Agreement: where Alembic builds its revision map, the revision ids, heads and
bases must be equal (as sets). Where Alembic fails to build it (a missing
revision is a ``KeyError``, a cycle ``CycleDetected``...), migdoc must report
the matching error (MD002, MD005...). Disagreement is data: the exit code is 0
whenever the tool ran, 2 only for a bad command line. A path that cannot be
read gets one line on stderr and a row saying so.

Each project runs in its own Python process (stubs and the project's modules
must not leak into the next project), with a time limit.
"""

from __future__ import annotations

import argparse
import contextlib
import glob
import importlib.util
import json
import os
import re
import shlex
import subprocess
import sys
import tempfile
import types
import warnings
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path

from stub_imports import stubbed_imports  # the tool runs as a script: its folder is on sys.path

# Alembic's failures while building its revision map, and the migdoc code
# that reports the same breakage.
FAILURE_CODES = {
    "KeyError": "MD002",  # a down_revision no file declares: Alembic's bare KeyError
    "CycleDetected": "MD005",
    "DependencyCycleDetected": "MD005",
    "LoopDetected": "MD005",
    "DependencyLoopDetected": "MD005",
    "branch-name-reused": "MD008",
    "no-revision-id": "MD014",
    "module-error": "MD010",
}
_MAP_FAILURES = {"KeyError", "CycleDetected", "DependencyCycleDetected", "branch-name-reused"}
_GIT_SPEC = re.compile(r"^(?P<gitdir>.+)@(?P<sha>[0-9a-fA-F]{4,40}):(?P<path>.*)$")


@dataclass
class ProjectSpec:
    path: str
    config: str | None = None
    name: str = "alembic"
    version_locations: list[str] = field(default_factory=list)
    label: str | None = None
    # filled in by prepare(): the folder read, and where a git commit was extracted
    commit: str = ""
    root: str | None = None


# ---------------------------------------------------------------- Alembic's side


@dataclass
class AlembicView:
    mode: str = ""
    revisions: list[str] = field(default_factory=list)
    heads: list[str] | None = None
    bases: list[str] | None = None
    head_labels: list[list[str]] = field(default_factory=list)
    failure: str | None = None
    failure_kind: str | None = None
    warnings: list[str] = field(default_factory=list)
    static_files: list[str] = field(default_factory=list)
    stubbed: list[str] = field(default_factory=list)
    version_locations: list[str] = field(default_factory=list)
    unreadable: str | None = None


def _has_tool_alembic(toml: Path) -> bool:
    import tomllib

    try:
        return "alembic" in tomllib.loads(toml.read_text(encoding="utf-8")).get("tool", {})
    except (OSError, ValueError):
        return False


def _package_on_disk(package: str, start: Path) -> Path | None:
    """Where ``package`` lives, looked for without importing it: the folder of
    ``start`` and its ancestors, each also with ``src/``."""
    relative = Path(*package.split("."))
    for folder in [start, *start.parents]:
        for base in (folder, folder / "src"):
            if (base / relative).is_dir():
                return base / relative
    return None


def _static_module(path: Path):
    """A stand-in for a version module, from migdoc's static reading of it."""
    from migdoc.project.reader import read_revision

    record = read_revision(str(path), path.read_bytes())
    if record.read_error is not None:
        return None
    module = types.SimpleNamespace(down_revision=_scalar(record.down_revisions), __doc__=record.message)
    if record.revision is not None:
        module.revision = record.revision
    if record.branch_labels:
        module.branch_labels = record.branch_labels
    if record.depends_on or record.is_depends_on_empty_string:
        module.depends_on = "" if record.is_depends_on_empty_string else record.depends_on
    return module


def _scalar(ids: tuple[str, ...]):
    return None if not ids else ids[0] if len(ids) == 1 else ids


def _classify(exc: BaseException) -> str:
    name = type(exc).__name__
    text = str(exc)
    if name in FAILURE_CODES:
        return name
    if "already used by revision" in text:
        return "branch-name-reused"
    if "Could not determine revision id" in text:
        return "no-revision-id"
    return "module-error" if isinstance(exc, SyntaxError | ValueError) else name


def alembic_view(spec: ProjectSpec, is_static: bool, migdoc_files=None) -> AlembicView:
    """Load the project as ``alembic heads`` would; never raises."""
    from alembic import util as alembic_util
    from alembic.config import Config
    from alembic.script import ScriptDirectory
    from alembic.script.revision import RevisionMap

    view = AlembicView()
    path = Path(spec.path)
    locations = list(spec.version_locations)
    script: ScriptDirectory | None = None
    try:
        ini = Path(spec.config) if spec.config else path / "alembic.ini"
        toml = ini.parent / "pyproject.toml" if spec.config else path / "pyproject.toml"
        if ini.suffix == ".toml":
            ini, toml = ini.with_name("__none__"), ini
        has_toml = toml.exists() and _has_tool_alembic(toml)
        if ini.exists() or has_toml:
            config = Config(
                str(ini) if ini.exists() else None, ini_section=spec.name, toml_file=str(toml) if has_toml else None
            )
            location = config.get_alembic_option("script_location")
            base = (ini if ini.exists() else toml).parent
            if location is None and (base / "env.py").exists():
                # Flask-Migrate passes the ini's own folder in code
                config.set_main_option("script_location", str(base))
                view.mode = "Flask-Migrate folder"
            elif location and ":" in location and not os.path.isabs(location):
                package, *resource = location.split(":")
                found = _package_on_disk(package, base)
                if found is not None:  # importing the package would run the project's code
                    config.set_main_option("script_location", str(found.joinpath(*resource)))
                    view.mode = "package resolved on disk"
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", DeprecationWarning)
                script = ScriptDirectory.from_config(config)
            view.mode = view.mode or "config"
        elif (path / "env.py").exists() or (path / "versions").is_dir():
            script = ScriptDirectory(str(path), version_locations=locations or None)
            view.mode = "script folder"
        elif locations:
            script = ScriptDirectory(str(Path(locations[0]).parent), version_locations=locations)
            view.mode = "version locations"
        elif path.is_dir() and any(path.glob("*.py")):
            script = ScriptDirectory(str(path.parent), version_locations=[str(path)])
            view.mode = "versions folder"
        else:
            view.unreadable = "Alembic finds no alembic.ini, [tool.alembic], env.py or versions/ there"
        if script is not None and locations:
            script.version_locations = locations  # as env.py files that set them in code do
        if script is not None:
            view.version_locations = [str(p) for p in script._version_locations if p.exists()]
    except Exception as exc:  # noqa: BLE001 - Alembic's failure to read is a result
        view.unreadable = f"{type(exc).__name__}: {exc}"
        script = None

    if script is None or is_static:
        if migdoc_files is None:
            return view
        if script is None:
            view.mode = f"static (Alembic could not: {view.unreadable})" if view.unreadable else "static"
            view.unreadable = None
        else:
            view.mode = "static"
        _build_static(view, migdoc_files, RevisionMap)
        return view

    original_load = alembic_util.load_python_file

    def load_or_read(dir_, filename):
        try:
            return original_load(dir_, filename)
        except (Exception, SystemExit) as exc:  # noqa: BLE001 - module code crashed even under stubs
            module = _static_module(Path(dir_) / Path(filename).name)
            if module is None:
                raise  # migdoc cannot read it either: a real failure
            view.static_files.append(f"{Path(filename).name} ({type(exc).__name__}: {str(exc)[:80]})")
            return module

    loaded: list = []

    def recording():
        for item in script._load_revisions():
            loaded.append(item)
            yield item

    alembic_util.load_python_file = load_or_read
    script.revision_map = RevisionMap(recording)
    try:
        with stubbed_imports() as finder, warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            try:
                _fill_from_map(view, script.revision_map)
            except Exception as exc:  # noqa: BLE001
                view.failure = f"{type(exc).__name__}: {exc}"
                view.failure_kind = _classify(exc)
        view.stubbed = sorted(finder.stubbed)
        view.warnings = _alembic_warnings(caught)
    finally:
        alembic_util.load_python_file = original_load
    view.revisions = [str(s.revision) for s in loaded]
    n_static = len(view.static_files)
    view.mode += f", {n_static} file(s) read statically" if n_static else ""
    return view


def _alembic_warnings(caught) -> list[str]:
    import alembic

    home = os.path.dirname(alembic.__file__)
    return sorted({str(w.message) for w in caught if str(w.filename).startswith(home)})


def _fill_from_map(view: AlembicView, revision_map) -> None:
    # str(): a value computed from a stubbed module (a label such as
    # ``cli.EXPAND_BRANCH``) is a stub; its name is what the file says
    view.heads = [str(h) for h in revision_map.heads]
    view.bases = [str(b) for b in revision_map.bases]
    view.head_labels = [
        sorted(str(label) for label in revision_map.get_revision(h).branch_labels)
        for h in dict.fromkeys(revision_map.heads)
    ]


def _build_static(view: AlembicView, files, revision_map_class) -> None:
    from alembic.script.revision import Revision

    revisions = []
    try:
        for record in files:
            if record.read_error is not None:
                raise SyntaxError(f"{record.path}: {record.read_error}")
            if record.revision is None:
                if not re.match(r"([a-f0-9]+)\.py$", Path(record.path).name) and not Path(record.path).name.startswith(
                    "__init__"
                ):
                    raise RuntimeError(f"Could not determine revision id from filename {Path(record.path).name}")
                continue
            revisions.append(
                Revision(
                    record.revision,
                    _scalar(record.down_revisions),
                    # "" is not None to Alembic: a base that says so is no real base
                    dependencies="" if record.is_depends_on_empty_string else _scalar(record.depends_on),
                    branch_labels=record.branch_labels or None,
                )
            )
        view.revisions = [r.revision for r in revisions]
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            _fill_from_map(view, revision_map_class(lambda: revisions))
        view.warnings = _alembic_warnings(caught)
    except Exception as exc:  # noqa: BLE001
        view.failure = f"{type(exc).__name__}: {exc}"
        view.failure_kind = _classify(exc)
        view.revisions = view.revisions or [r.revision for r in revisions]


# ---------------------------------------------------------------- migdoc's side


@dataclass
class MigdocView:
    revisions: list[str] = field(default_factory=list)
    heads: list[str] = field(default_factory=list)
    bases: list[str] = field(default_factory=list)
    errors: dict[str, int] = field(default_factory=dict)
    note: str | None = None
    unreadable: str | None = None


def migdoc_load(spec: ProjectSpec, version_locations: list[str] | None = None):
    from migdoc.doctor import load_project

    return load_project(
        spec.path,
        config=spec.config,
        name=spec.name,
        version_locations=tuple(version_locations if version_locations is not None else spec.version_locations),
        is_read_only=True,
    )


def migdoc_view(project) -> MigdocView:
    from migdoc.doctor import check_project

    result = check_project(project)
    errors = Counter(d.code for d in result.diagnostics if d.severity.value == "error")
    return MigdocView(
        revisions=[rf.revision for rf in project.files if rf.revision],
        heads=list(project.graph.heads),
        bases=list(project.graph.bases),
        errors=dict(sorted(errors.items())),
    )


# ---------------------------------------------------------------- comparison


def compare(alembic: dict, migdoc: dict) -> dict:
    """Agreement of the two views (plain dicts, as the workers return them).

    Revisions, heads and bases must be equal as sets; Alembic's failure to
    build its map must be matched by migdoc's error for it, and an error that
    claims such a failure where Alembic builds its map is a difference too, as
    is a duplicate id one of them sees and the other does not.
    """
    if alembic.get("unreadable") or migdoc.get("unreadable"):
        return {"agree": None, "differences": []}
    differences = []
    compared: tuple[str, ...] = ("revisions", "heads", "bases")
    errors = migdoc["errors"]
    if alembic["failure"]:
        wanted = FAILURE_CODES.get(alembic["failure_kind"])
        if not (wanted and wanted in errors):
            said = ", ".join(errors) or "no error"
            differences.append(f"Alembic fails ({alembic['failure']}); migdoc: {said}")
        # Alembic builds its map after loading every file: then the revisions it
        # loaded are all there are; a file that fails to load stops it halfway
        compared = ("revisions",) if alembic["failure_kind"] in _MAP_FAILURES else ()
    else:
        claimed = sorted(code for code in set(FAILURE_CODES.values()) if code in errors)
        if claimed:
            said = ", ".join(f"{code} x{errors[code]}" for code in claimed)
            differences.append(f"migdoc reports {said}, but Alembic builds its revision map")
        is_duplicate = any("more than once" in w for w in alembic.get("warnings", ()))
        if is_duplicate != ("MD001" in errors):
            said = "warns of a duplicate revision" if is_duplicate else "sees no duplicate revision"
            differences.append(f"Alembic {said}; migdoc: {'MD001' if 'MD001' in errors else 'no MD001'}")
    for what in compared:
        a, m = set(alembic[what]), set(migdoc[what])
        if a != m:
            only_a, only_m = sorted(a - m), sorted(m - a)
            differences.append(f"{what}: only Alembic {_few(only_a)}; only migdoc {_few(only_m)}")
    return {"agree": not differences, "differences": differences}


def _few(ids: list[str], limit: int = 6) -> str:
    if not ids:
        return "none"
    shown = ", ".join(ids[:limit])
    return f"{len(ids)} ({shown}{', ...' if len(ids) > limit else ''})"


def alembic_verdict(alembic: dict) -> str:
    """What Alembic makes of the chain: "healthy" is its map built, no warning,
    and one head or heads that each carry their own branch label."""
    if alembic.get("unreadable"):
        return "cannot read"
    if alembic["failure"]:
        return f"fails: {alembic['failure_kind']}"
    if any("more than once" in w for w in alembic["warnings"]):
        return "duplicate revision"
    heads = list(dict.fromkeys(alembic["heads"]))
    if len(heads) > 1:
        labels = alembic["head_labels"]
        every = [label for group in labels for label in group]
        if all(labels) and len(every) == len(set(every)):
            return f"healthy ({len(heads)} labelled heads)"
        return f"{len(heads)} heads"
    return "healthy" if heads else "empty"


# ---------------------------------------------------------------- running


def compare_one(spec: ProjectSpec, is_static: bool) -> dict:
    """One project, in this process: both views and their agreement. Never raises."""
    from migdoc.errors import MigdocError

    migdoc = MigdocView()
    project = None
    folder = Path(spec.config).parent if spec.config else Path(spec.path)
    with contextlib.suppress(OSError):
        os.chdir(folder if folder.is_dir() else folder.parent)  # where people run `alembic`
    try:
        project = migdoc_load(spec)
    except MigdocError as exc:
        migdoc.unreadable = str(exc)
    alembic = alembic_view(spec, is_static, project.files if project is not None else None)
    missed = migdoc.unreadable
    holds_files = any(any(Path(v).glob("*.py")) for v in alembic.version_locations)
    if project is not None and holds_files and not any(rf.revision for rf in project.files):
        missed = "0 revisions"
    if missed and alembic.version_locations:
        # migdoc did not find what Alembic reads: say so (column "migdoc read"),
        # and still compare the reading, on the folders Alembic read
        try:
            project = migdoc_load(spec, alembic.version_locations)
            migdoc = MigdocView(note=f"migdoc at PATH: {missed}")
        except MigdocError as exc:
            project, migdoc.unreadable = None, str(exc)
        if is_static and project is not None:  # the first static view had no reading to build from
            alembic = alembic_view(spec, is_static, project.files)
    if project is not None and migdoc.unreadable is None:
        found = migdoc_view(project)
        found.note = migdoc.note
        migdoc = found
    row = {
        "project": spec.label or spec.path,
        "commit": spec.commit,
        "path": spec.path,
        "root": spec.root,
        "migdoc_read": "as given" if migdoc.note is None else "with Alembic's folders",
        "alembic": asdict(alembic),
        "migdoc": asdict(migdoc),
    }
    row.update(compare(row["alembic"], row["migdoc"]))
    row["alembic_says"] = alembic_verdict(row["alembic"])
    return row


_REPOSITORY = re.compile(r"^[\w.-]+/[\w.-]+$")


def mirror_of(repository: str, mirrors: Path | None, is_fetch: bool) -> str:
    """The git directory holding ``OWNER/NAME``'s history in ``mirrors``. Raises ValueError."""
    if mirrors is None:
        raise ValueError(f"{repository}: give --mirrors DIR (a folder of git mirrors)")
    name = repository.replace("/", "+")
    for candidate in (mirrors / name / "repo", mirrors / f"{name}.git", mirrors / name):
        if (candidate / "HEAD").is_file():
            return str(candidate)
    if not is_fetch:
        raise ValueError(f"{repository}: no mirror in {mirrors} (--fetch clones it)")
    target = mirrors / f"{name}.git"
    done = subprocess.run(
        ["git", "clone", "--quiet", "--mirror", f"https://github.com/{repository}.git", str(target)],
        capture_output=True,
        text=True,
    )
    if done.returncode != 0:
        raise ValueError(f"{repository}: git clone failed: {done.stderr.strip()}")
    return str(target)


def prepare(spec: ProjectSpec, scratch: Path, mirrors: Path | None = None, is_fetch: bool = False) -> ProjectSpec:
    """Resolve paths; extract ``OWNER/NAME@SHA:PATH`` or ``GITDIR@SHA:PATH`` into ``scratch``.
    Raises ValueError."""
    spec.label = spec.label or spec.path
    match = _GIT_SPEC.match(spec.path)
    if match and not Path(match["gitdir"]).is_dir() and _REPOSITORY.match(match["gitdir"]):
        gitdir = mirror_of(match["gitdir"], mirrors, is_fetch)
        match = _GIT_SPEC.match(f"{gitdir}@{match['sha']}:{match['path']}")
    if match and Path(match["gitdir"]).is_dir():
        gitdir, sha, inner = match["gitdir"], match["sha"], match["path"].strip("/") or "."
        git = ["git", f"--git-dir={gitdir}"]
        done = subprocess.run([*git, "rev-parse", "--short", f"{sha}^{{commit}}"], capture_output=True, text=True)
        if done.returncode != 0:
            raise ValueError(f"{gitdir}: no commit {sha}")
        short = done.stdout.strip()
        root = scratch / f"{Path(gitdir).resolve().parent.name}@{short}"
        wanted = [inner]
        wanted += [spec.config] if spec.config else []
        wanted += [_glob_prefix(v) for v in spec.version_locations]
        root.mkdir(parents=True, exist_ok=True)  # several projects of one commit share it
        archive = subprocess.run([*git, "archive", "--format=tar", sha, "--", *wanted], capture_output=True)
        if archive.returncode != 0:
            raise ValueError(f"{gitdir}@{short}: {archive.stderr.decode(errors='replace').strip()}")
        subprocess.run(["tar", "-x", "-C", str(root)], input=archive.stdout, check=True)
        spec.commit, spec.root = short, str(root)
        spec.path = str(root / inner)
        base = root
    else:
        base = Path.cwd()
    if spec.config:
        spec.config = str((base / spec.config).resolve())
    spec.version_locations = _expand(spec.version_locations, base)
    if not Path(spec.path).exists():
        raise ValueError(f"{spec.path}: no such file or folder")
    spec.path = str(Path(spec.path).resolve())
    return spec


def _glob_prefix(pattern: str) -> str:
    parts = []
    for part in Path(pattern).parts:
        if any(c in part for c in "*?["):
            break
        parts.append(part)
    return str(Path(*parts)) if parts else "."


def _expand(patterns: list[str], base: Path) -> list[str]:
    out: list[str] = []
    for pattern in patterns:
        full = str(base / pattern)
        matches = sorted(glob.glob(full)) if any(c in pattern for c in "*?[") else [full]
        out += [str(Path(m).resolve()) for m in matches if Path(m).is_dir() or not any(c in pattern for c in "*?[")]
    return list(dict.fromkeys(out))


def run_worker(spec: ProjectSpec, is_static: bool, timeout: float) -> dict:
    """Run compare_one in a fresh interpreter: stubs and project modules stay there."""
    with tempfile.TemporaryDirectory(prefix="compare-alembic-") as tmp:
        out = Path(tmp) / "row.json"
        command = [sys.executable, __file__, "--worker", json.dumps(asdict(spec)), str(out)]
        command += ["--static"] if is_static else []
        try:
            done = subprocess.run(command, capture_output=True, text=True, timeout=timeout, cwd=tmp)
        except subprocess.TimeoutExpired:
            return _failed_row(spec, f"gave up after {timeout:.0f} s")
        if not out.exists():
            last = (done.stderr.strip().splitlines() or ["no output"])[-1]
            return _failed_row(spec, f"the comparison crashed: {last}")
        return json.loads(out.read_text(encoding="utf-8"))


def _failed_row(spec: ProjectSpec, reason: str) -> dict:
    return {
        "project": spec.label or spec.path,
        "commit": spec.commit,
        "path": spec.path,
        "unreadable": reason,
        "agree": None,
        "differences": [],
        "alembic_says": "cannot read",
    }


# ---------------------------------------------------------------- output


def render_markdown(rows: list[dict]) -> str:
    lines = [
        "| project | commit | Alembic read | revisions (Alembic / migdoc) | heads | bases | agree | Alembic says "
        "| migdoc read | migdoc error-level findings |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    notes = []
    for row in rows:
        name, commit = row["project"], row["commit"] or "-"
        if row.get("unreadable"):
            lines.append(f"| {name} | {commit} | cannot read | | | | | | | |")
            notes.append(f"- {name}: {row['unreadable']}")
            continue
        a, m = row["alembic"], row["migdoc"]
        if a.get("unreadable") or m.get("unreadable"):
            reason = a.get("unreadable") or m.get("unreadable")
            who = "Alembic" if a.get("unreadable") else "migdoc"
            lines.append(
                f"| {name} | {commit} | {a['mode'] or '-'} | | | | | {row['alembic_says']} | {who} cannot read | |"
            )
            notes.append(f"- {name}: {who}: {reason}")
            continue
        agree = {True: "yes", False: "**no**", None: "-"}[row["agree"]]
        heads = "-" if a["heads"] is None else len(set(a["heads"]))
        bases = "-" if a["bases"] is None else len(set(a["bases"]))
        errors = ", ".join(f"{code} x{n}" for code, n in m["errors"].items()) or "none"
        lines.append(
            f"| {name} | {commit} | {a['mode']} | {len(a['revisions'])} / {len(m['revisions'])} "
            f"| {heads} / {len(m['heads'])} | {bases} / {len(m['bases'])} | {agree} | {row['alembic_says']} "
            f"| {row['migdoc_read']} | {errors} |"
        )
        notes += [f"- {name}: {d}" for d in row["differences"]]
        if m.get("note"):
            notes.append(f"- {name}: {m['note']}")
        if a.get("static_files"):
            notes.append(f"- {name}: read statically (module code crashed under stubs): {', '.join(a['static_files'])}")
    text = "\n".join(lines) + "\n"
    for row in rows:  # paths inside an extracted commit read better without the scratch folder
        if row.get("root"):
            notes = [note.replace(row["root"] + os.sep, "") for note in notes]
    if notes:
        text += "\nNotes and differences:\n\n" + "\n".join(notes) + "\n"
    return text


# ---------------------------------------------------------------- command line


def _project_parser(prog: str) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=prog, add_help=False, exit_on_error=False)
    parser.add_argument("paths", nargs="*", metavar="PATH")
    parser.add_argument("-c", "--config", default=None)
    parser.add_argument("-n", "--name", default="alembic")
    parser.add_argument("--version-location", dest="version_locations", action="append", default=[])
    parser.add_argument("--label", default=None)
    return parser


def read_table(path: Path) -> list[ProjectSpec]:
    """One project per line, ``PATH [-c FILE] [-n NAME] [--version-location DIR]... [--label NAME]``."""
    specs = []
    parser = _project_parser(str(path))
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        words = shlex.split(line, comments=True)
        if not words:
            continue
        try:
            args = parser.parse_args(words)
        except (argparse.ArgumentError, SystemExit) as exc:
            raise ValueError(f"{path}:{number}: {exc}") from None
        if len(args.paths) != 1:
            raise ValueError(f"{path}:{number}: expected one PATH, got {len(args.paths)}")
        specs.append(ProjectSpec(args.paths[0], args.config, args.name, args.version_locations, args.label))
    return specs


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["--worker"]:
        spec = ProjectSpec(**json.loads(argv[1]))
        row = compare_one(spec, is_static="--static" in argv)
        Path(argv[2]).write_text(json.dumps(row), encoding="utf-8")
        return 0
    parser = argparse.ArgumentParser(
        prog="compare_alembic.py", description=__doc__.split("\n\n")[0], parents=[_project_parser("")]
    )
    parser.add_argument("--table", action="append", default=[], metavar="FILE", help="one project per line")
    parser.add_argument("--json", action="store_true", help="machine output")
    parser.add_argument("--static", action="store_true", help="build Alembic's RevisionMap from migdoc's reading")
    parser.add_argument("--timeout", type=float, default=600, help="seconds per project (default 600)")
    parser.add_argument("--mirrors", type=Path, default=None, metavar="DIR", help="git mirrors of OWNER/NAME rows")
    parser.add_argument("--fetch", action="store_true", help="clone a missing mirror from GitHub into --mirrors")
    try:
        args = parser.parse_args(argv)
    except argparse.ArgumentError as exc:
        print(f"compare_alembic: {exc}", file=sys.stderr)
        return 2
    specs = [ProjectSpec(p, args.config, args.name, list(args.version_locations), args.label) for p in args.paths]
    try:
        for table in args.table:
            specs += read_table(Path(table))
    except (OSError, ValueError) as exc:
        print(f"compare_alembic: {exc}", file=sys.stderr)
        return 2
    if not specs:
        print("compare_alembic: give at least one PATH or --table FILE", file=sys.stderr)
        return 2
    if importlib.util.find_spec("migdoc") is None or importlib.util.find_spec("alembic") is None:
        print("compare_alembic: run it with the Python that has migdoc installed (pip install -e .)", file=sys.stderr)
        return 2
    rows = []
    with tempfile.TemporaryDirectory(prefix="compare-alembic-src-") as scratch:
        for spec in specs:
            shown = spec.label or spec.path
            try:
                prepare(spec, Path(scratch), args.mirrors, args.fetch)
            except (ValueError, OSError, subprocess.CalledProcessError) as exc:
                print(f"compare_alembic: {shown}: cannot be read: {exc}", file=sys.stderr)
                rows.append(_failed_row(spec, str(exc)))
                continue
            row = run_worker(spec, args.static, args.timeout)
            reason = row.get("unreadable") or row["alembic"].get("unreadable")
            if reason:
                print(f"compare_alembic: {shown}: cannot be read: {reason}", file=sys.stderr)
            rows.append(row)
    if args.json:
        print(json.dumps({"projects": rows}, indent=2))
    else:
        print(render_markdown(rows), end="")
    return 0


if __name__ == "__main__":
    sys.exit(main())
