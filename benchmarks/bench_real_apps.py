"""migdoc dryrun against Alembic run by hand, on pip-installed applications, each in its own venv.

    python benchmarks/bench_real_apps.py --venvs /tmp/apps --migdoc /path/to/migdoc [--create]
        [--list benchmarks/real_apps.txt] [--only optuna,mlflow] [--json results.json]
    python benchmarks/bench_real_apps.py --venvs /tmp/apps --python-mode   # this venv's migdoc, --python APP

For each application in the list (benchmarks/real_apps.txt): its venv is VENVS/NAME/venv (made and
filled with the pinned requirement and its driver with ``--create``); the migdoc under test is
installed into it from ``--migdoc`` (with the venv's own Alembic and SQLAlchemy held as they are:
where migdoc's requirements would change them, the row says "cannot install"), or, with
``--python-mode``, this environment's migdoc runs with ``--python APP_PYTHON``. Then
``migdoc dryrun --format json`` on the application's chain (migdoc starts its own private server,
as a user's run would), and Alembic by hand on a private server this script starts, in three
ways (benchmarks/byhand_alembic.py, run by the application's own Python): ``stairway``,
``steps`` (one ``upgrade REV`` command per revision) and ``updownup`` (upgrade heads, downgrade
base, upgrade heads). Prints a markdown table; "agree?" compares migdoc's verdict with the
stairway by hand: both pass, or both fail first at the same revision.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import shlex
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent
BYHAND = HERE / "byhand_alembic.py"
DRIVER_SCHEMES = {
    "psycopg2-binary": "postgresql+psycopg2",
    "psycopg2": "postgresql+psycopg2",
    "asyncpg": "postgresql+asyncpg",
}
BYHAND_MODES = ("stairway", "steps", "updownup", "check")


@dataclass
class App:
    """One line of the list: where the chain is in site-packages and how the app runs it."""

    name: str
    requirement: str
    drivers: list[str]
    path: str
    ini: str | None = None
    script: str | None = None
    ini_from: str | None = None
    imports: list[str] = field(default_factory=list)
    url_env: list[str] = field(default_factory=list)
    scheme: str | None = None
    connection: bool = False
    migdoc_options: list[str] = field(default_factory=list)
    note: str = ""
    venv: str = ""
    setup: str | None = None
    versions: list[str] = field(default_factory=list)
    attributes: dict = field(default_factory=dict)
    prepare: list[str] = field(default_factory=list)
    wrap: str | None = None


def read_list(path: Path) -> list[App]:
    """Each line: NAME REQUIREMENT key=value... (shell quoting); '#' starts a comment."""
    apps = []
    for number, line in enumerate(path.read_text().splitlines(), 1):
        words = shlex.split(line, comments=True)
        if not words:
            continue
        name, requirement, *pairs = words
        values = {}
        for pair in pairs:
            key, equals, value = pair.partition("=")
            if not equals:
                raise SystemExit(f"{path}:{number}: expected key=value, got {pair!r}")
            values[key] = value
        known = {
            "drivers",
            "path",
            "ini",
            "script",
            "ini_from",
            "imports",
            "url_env",
            "scheme",
            "connection",
            "migdoc",
            "venv",
            "setup",
            "versions",
            "attributes",
            "prepare",
            "wrap",
        }
        unknown = set(values) - known - {"note"}
        if unknown:
            raise SystemExit(f"{path}:{number}: unknown key(s) {', '.join(sorted(unknown))}")
        drivers = [d for d in values.get("drivers", "psycopg2-binary").split(",") if d]
        apps.append(
            App(
                name=name,
                requirement=requirement,
                drivers=drivers,
                path=values["path"],
                ini=values.get("ini"),
                script=values.get("script"),
                ini_from=values.get("ini_from"),
                imports=[m for m in values.get("imports", "").split(",") if m],
                url_env=[e for e in values.get("url_env", "").split(",") if e],
                scheme=values.get("scheme") or DRIVER_SCHEMES.get(drivers[0], "postgresql+psycopg2"),
                connection=values.get("connection", "") in ("1", "true", "yes"),
                migdoc_options=shlex.split(values.get("migdoc", "")),
                note=values.get("note", ""),
                venv=values.get("venv", name),
                setup=values.get("setup"),
                versions=[v for v in values.get("versions", "").split(",") if v],
                attributes=json.loads(values.get("attributes", "{}")),
                prepare=[c for c in values.get("prepare", "").split(",") if c],
                wrap=values.get("wrap"),
            )
        )
    return apps


def venv_python(venvs: Path, app: App) -> Path:
    return venvs / app.venv / "venv" / "bin" / "python"


def run(command, timeout=1800, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run(command, capture_output=True, text=True, timeout=timeout, **kwargs)


def create_venv(venvs: Path, app: App) -> str | None:
    """Make VENVS/NAME/venv with the pinned requirement and drivers; None, or why it failed."""
    python = venv_python(venvs, app)
    if not python.exists():
        made = run([sys.executable, "-m", "venv", str(python.parent.parent)])
        if made.returncode:
            return f"venv: {made.stderr.strip().splitlines()[-1:]}"
    installed = run([str(python), "-m", "pip", "install", "-q", app.requirement, *app.drivers])
    if installed.returncode:
        return "pip: " + _last_error_line(installed.stderr)
    return None


def _last_error_line(text: str) -> str:
    lines = [line for line in text.splitlines() if line.strip() and not line.startswith("WARNING: Location")]
    errors = [line for line in lines if "ERROR" in line or "error" in line]
    return (errors or lines or ["(no output)"])[-1].strip()[:200]


def site_packages(python: Path) -> Path:
    out = run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"], check=True)
    return Path(out.stdout.strip())


def installed_version(python: Path, distribution: str) -> str:
    out = run([str(python), "-c", f"from importlib.metadata import version; print(version({distribution!r}))"])
    return out.stdout.strip() or "?"


def install_migdoc(python: Path, migdoc: Path) -> str | None:
    """Install the migdoc under test, holding the app's Alembic and SQLAlchemy where they are."""
    frozen = run([str(python), "-m", "pip", "freeze"]).stdout.splitlines()
    held = [line for line in frozen if line.lower().startswith(("alembic==", "sqlalchemy=="))]
    with tempfile.NamedTemporaryFile("w", suffix=".txt", delete=False) as constraints:
        constraints.write("\n".join(held) + "\n")
    try:
        installed = run([str(python), "-m", "pip", "install", "-q", "-c", constraints.name, "-e", str(migdoc)])
    finally:
        os.unlink(constraints.name)
    if installed.returncode:
        return "cannot install: " + _last_error_line(installed.stderr)
    return None


def migdoc_command(args, app: App, python: Path, site: Path) -> list[str]:
    if args.python_mode:
        command = [sys.executable, "-m", "migdoc", "dryrun", "--python", str(python)]
    else:
        command = [str(python), "-m", "migdoc", "dryrun"]
    command.append(str(site / app.path))
    # -c only where migdoc would not find the file itself in PATH, as a user would call it (a named
    # file's relative script_location is read from the current directory, as Alembic reads it)
    if app.ini and (site / app.ini) != site / app.path / "alembic.ini":
        command += ["-c", str(site / app.ini)]
    for name in app.url_env:
        command += ["--url-env", name]
    for folder in _versions(app, site):
        command += ["--version-location", str(folder)]
    options = [option.replace("{site}", str(site)) for option in app.migdoc_options]
    return [*command, *options, "--format", "json"]


def supported_options(command: list[str], options: list[str]) -> tuple[list[str], list[str]]:
    """The options this migdoc's ``dryrun --help`` knows, and those left out (with their values):
    main's migdoc has no --setup, and should be judged on what it can be asked."""
    index = command.index("dryrun")
    # from an empty folder, as the run itself: `python -m` would import a migdoc/ in the current one
    with tempfile.TemporaryDirectory(prefix="bench-real-apps-") as cwd:
        shown = run([*command[: index + 1], "--help"], cwd=cwd).stdout
    known = {word.rstrip(",").split("=")[0] for word in shown.split() if word.startswith("--")}
    kept, left_out = [], []
    skipping = False
    for option in options:
        if option.startswith("--"):
            skipping = option.split("=")[0] not in known
        (left_out if skipping else kept).append(option)
    return kept, left_out


def _versions(app: App, site: Path) -> list[Path]:
    """The version folders the application sets in code (globs expanded, in order)."""
    folders = []
    for pattern in app.versions:
        folders += sorted(site.glob(pattern)) if any(c in pattern for c in "*?[") else [site / pattern]
    return folders


def failures_of(report: dict) -> list[dict]:
    """Every failure in a dry-run report: ``failures`` where the migdoc under test lists them all,
    else the one ``failure`` (the SPEC's shape)."""
    if report.get("failures"):
        return list(report["failures"])
    return [report["failure"]] if report.get("failure") else []


def run_migdoc(args, app: App, python: Path, site: Path) -> dict:
    command = migdoc_command(args, app, python, site)
    path_index = command.index(str(site / app.path))
    options, left_out = supported_options(command[:path_index], command[path_index + 1 :])
    command = [*command[: path_index + 1], *options]
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="bench-real-apps-") as cwd:
        try:
            done = run(command, cwd=cwd, timeout=args.timeout)
        except subprocess.TimeoutExpired:
            return {
                "exit": None,
                "seconds": args.timeout,
                "verdict": f"timeout {args.timeout:.0f}s",
                "command": command,
            }
    seconds = time.perf_counter() - started
    result = {"exit": done.returncode, "seconds": round(seconds, 2), "command": command, "left_out": left_out}
    try:
        report = json.loads(done.stdout)
    except ValueError:
        report = None
    if report is None:
        result["verdict"] = f"exit {done.returncode}"
        result["error"] = _last_error_line(done.stderr or done.stdout)
        return result
    failures = failures_of(report)
    result["steps"] = len(report.get("steps", []))
    result["drift"] = [d.get("message", "") for d in report.get("model_drift") or []]
    result["failures"] = [
        {"revision": f.get("revision"), "phase": f.get("phase"), "error": (f.get("error") or "").splitlines()[0][:300]}
        for f in failures
    ]
    result["verdict"] = f"exit {done.returncode}" + (
        f" {failures[0].get('revision')}/{failures[0].get('phase')}" if failures else ""
    )
    if len(failures) > 1:
        result["verdict"] += f" (+{len(failures) - 1})"
    if result["drift"]:
        result["verdict"] += f", drift {len(result['drift'])}"
    return result


def _admin(server):
    import psycopg

    return psycopg.connect(host=str(server.socket_dir), user="postgres", dbname="postgres", autocommit=True)


def run_by_hand(server, app: App, python: Path, site: Path, mode: str, timeout: float) -> dict:
    database = f"byhand_{secrets.token_hex(4)}"
    with _admin(server) as connection:
        connection.execute(f'CREATE DATABASE "{database}" TEMPLATE template0')
    spec = {
        "url": f"{app.scheme}://postgres@/{database}?host={server.socket_dir}",
        "mode": mode,
        "ini": str(site / app.ini) if app.ini else None,
        "script": str(site / app.script) if app.script else None,
        "ini_from": app.ini_from,
        "imports": app.imports,
        "env": {name: "{url}" for name in app.url_env},
        "connection": app.connection,
        "setup": app.setup,
        "versions": [str(folder) for folder in _versions(app, site)],
        "attributes": app.attributes,
        "prepare": app.prepare,
        "wrap": app.wrap,
    }
    try:
        with tempfile.TemporaryDirectory(prefix="bench-real-apps-") as cwd:
            done = run([str(python), str(BYHAND), json.dumps(spec)], cwd=cwd, timeout=timeout)
        lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
        if not lines:
            return {"ok": False, "verdict": "could not run", "error": _last_error_line(done.stderr)}
        result = json.loads(lines[-1])
    except subprocess.TimeoutExpired:
        return {"ok": False, "verdict": f"timeout {timeout:.0f}s"}
    finally:
        with _admin(server) as connection:
            connection.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
    result["verdict"] = "pass" if result["ok"] else f"fail {result['revision']}/{result['phase']}"
    return result


def agreement(migdoc: dict, row: dict) -> str:
    """migdoc's stairway against the stairway by hand (both pass, or both fail first at one
    revision, with the same database error or not), and its MD020 against ``alembic check``."""
    if migdoc.get("exit") not in (0, 1):
        return "no (did not run)"
    stairway = row.get("stairway", {})
    failures = migdoc.get("failures") or []
    if not failures or stairway.get("ok"):
        verdict = "yes" if (not failures) == bool(stairway.get("ok")) else "no"
    elif failures[0]["revision"] != stairway.get("revision"):
        verdict = f"no ({failures[0]['revision']} vs {stairway.get('revision')})"
    elif not _same_phase(failures[0]["phase"], stairway.get("phase")):
        verdict = f"no (phase {failures[0]['phase']} vs {stairway.get('phase')})"
    else:
        verdict = "yes" if _same_error(failures[0]["error"], stairway.get("error", "")) else "yes, other error"
    # migdoc compares the models only after a stairway that passed
    if not failures and "check" in row and row["check"].get("revisions") is not None:
        by_hand_drift = not row["check"]["ok"] and row["check"].get("phase") == "check"
        if bool(migdoc.get("drift")) != by_hand_drift:
            verdict += "; drift: no"
    return verdict


def _same_phase(ours: str | None, theirs: str | None) -> bool:
    """migdoc's "consistency" finds, before the re-upgrade, what makes the re-upgrade fail by hand;
    an older by-hand run (or migdoc) may call the re-upgrade just "upgrade"."""
    ours, theirs = ours or "", theirs or ""
    if ours == "consistency":
        return theirs in ("re-upgrade", "upgrade")
    return ours.replace("re-upgrade", "upgrade") == theirs.replace("re-upgrade", "upgrade")


def _same_error(ours: str, theirs: str) -> bool:
    """The database's message, without the driver's "(psycopg2.errors.X) " prefix, in both."""
    theirs = theirs.split(") ", 1)[1] if theirs.startswith("(") and ") " in theirs else theirs
    return bool(ours) and (ours in theirs or theirs in ours)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--list", type=Path, default=HERE / "real_apps.txt")
    parser.add_argument("--venvs", type=Path, required=True, help="folder holding NAME/venv per app")
    parser.add_argument("--create", action="store_true", help="make missing venvs (pip install the pinned apps)")
    how = parser.add_mutually_exclusive_group(required=True)
    how.add_argument("--migdoc", type=Path, help="a migdoc checkout to pip install -e into each app venv")
    how.add_argument("--python-mode", action="store_true", help="run this venv's migdoc with --python APP_PYTHON")
    parser.add_argument("--only", help="comma-separated app names")
    parser.add_argument("--modes", default=",".join(BYHAND_MODES), help="by-hand modes to run")
    parser.add_argument("--timeout", type=float, default=900.0, help="seconds for one migdoc run or by-hand run")
    parser.add_argument("--json", type=Path, help="also write every result here")
    parser.add_argument(
        "--byhand-from",
        type=Path,
        help="take the by-hand verdicts from an earlier --json file (they do not depend on the migdoc under test)",
    )
    args = parser.parse_args()

    from migdoc.dryrun.binaries import find_binaries
    from migdoc.dryrun.cluster import PrivateServer

    apps = read_list(args.list)
    if args.only:
        wanted = set(args.only.split(","))
        apps = [app for app in apps if app.name in wanted]
    modes = [mode for mode in args.modes.split(",") if mode]
    under_test = "--python mode, " + sys.executable if args.python_mode else str(args.migdoc)
    if args.migdoc:
        head = run(["git", "-C", str(args.migdoc), "log", "-1", "--format=%h %s"]).stdout.strip()
        if not head and (args.migdoc / ".commit").is_file():  # a `git archive` snapshot names its commit there
            head = (args.migdoc / ".commit").read_text().strip()
        under_test += f" ({head[:70]})" if head else ""
    print(f"migdoc under test: {under_test}", flush=True)

    earlier = {}
    if args.byhand_from:
        earlier = {row["app"]: row for row in json.loads(args.byhand_from.read_text())["results"]}
    results = []
    server = PrivateServer(find_binaries(None))
    server.start()
    try:
        for app in apps:
            row = {"app": app.name, "requirement": app.requirement, "note": app.note}
            results.append(row)
            python = venv_python(args.venvs, app)
            if not python.exists() and args.create:
                problem = create_venv(args.venvs, app)
                if problem:
                    row["problem"] = problem
                    continue
            if not python.exists():
                row["problem"] = f"no venv at {python.parent.parent} (--create makes it)"
                continue
            site = site_packages(python)
            row["version"] = installed_version(python, app.requirement.split("==")[0].split("[")[0])
            row["alembic"] = installed_version(python, "alembic")
            row["sqlalchemy"] = installed_version(python, "sqlalchemy")
            for mode in modes:
                if mode in earlier.get(app.name, {}):
                    row[mode] = earlier[app.name][mode]
                    continue
                row[mode] = run_by_hand(server, app, python, site, mode, args.timeout)
                print(f"  {app.name}: by hand {mode}: {row[mode]['verdict']}", file=sys.stderr, flush=True)
            problem = None if args.python_mode else install_migdoc(python, args.migdoc)
            if problem:
                row["migdoc"] = {"exit": None, "verdict": problem, "seconds": 0}
            else:
                row["migdoc"] = run_migdoc(args, app, python, site)
            print(f"  {app.name}: migdoc: {row['migdoc']['verdict']}", file=sys.stderr, flush=True)
    finally:
        server.stop()

    print_table(results, modes)
    if args.json:
        args.json.write_text(json.dumps({"migdoc": under_test, "results": results}, indent=2) + "\n")
    return 0


def print_table(results: list[dict], modes: list[str]) -> None:
    header = ["app", "version", "revisions", "migdoc dryrun", "time", *[f"by hand: {m}" for m in modes], "agree?"]
    print("| " + " | ".join(header) + " |")
    print("|" + "---|" * len(header))
    for row in results:
        if "problem" in row:
            print(f"| {row['app']} | {row['requirement']} | | {row['problem']} |" + " |" * (len(header) - 4))
            continue
        revisions = next((row[m].get("revisions") for m in modes if row[m].get("revisions")), "?")
        migdoc = row["migdoc"]
        cells = [
            row["app"],
            row["version"],
            str(revisions),
            migdoc["verdict"],
            f"{migdoc['seconds']:.1f} s",
            *[row[m]["verdict"] for m in modes],
            agreement(migdoc, row),
        ]
        print("| " + " | ".join(cells) + " |")
    print()
    for row in results:
        if "migdoc" not in row:
            continue
        migdoc = row["migdoc"]
        detail = migdoc.get("error") or "; ".join(
            [f"{f['revision']}/{f['phase']}: {f['error']}" for f in migdoc.get("failures", [])[:3]]
            + [f"MD020 {message}" for message in migdoc.get("drift", [])[:2]]
        )
        left_out = f" (not supported, left out: {' '.join(migdoc['left_out'])})" if migdoc.get("left_out") else ""
        print(f"- {row['app']}: migdoc{left_out}: {detail or 'passed'}")
        for mode in modes:
            if not row[mode].get("ok"):
                print(f"  by hand {mode}: {row[mode].get('command', '')}: {row[mode].get('error', '')}")


if __name__ == "__main__":
    sys.exit(main())
