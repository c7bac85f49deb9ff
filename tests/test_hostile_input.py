"""Issue 11: hostile input is one line on stderr and exit 2 (or a finding), never a traceback or a hang."""

from __future__ import annotations

import json
import os
import sqlite3

import pytest
from click.testing import CliRunner
from hostile import run_migdoc, write_project

from migdoc.cli import cli
from migdoc.util.filesystem import MAX_FILE_BYTES


def run(*args: str):
    return CliRunner().invoke(cli, list(args))


def assert_one_line_exit_2(result, *expected: str) -> None:
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1, result.output
    assert lines[0].startswith("migdoc: error:"), lines
    for text in expected:
        assert text in lines[0], lines[0]


# -- item 2: malformed database URLs, hostile config values ---------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        "postgresql://app:pw-secret@host:notaport/shop",
        "postgresql://app:pw-secret@[::1/shop",
        "postgresql://app:pw-secret@host:1:2/shop",
        "postgresql+psycopg:/deploy:pw-secret@host/shop",
        "deploy:pw-secret@host/shop",
    ],
)
@pytest.mark.parametrize("command", ["status", "check"])
def test_malformed_database_urls_are_one_line_and_exit_2(in_tmp, url, command):
    write_project(in_tmp / "p")
    result = run(command, "p", "--database-url", url)
    assert_one_line_exit_2(result, "not a database URL")
    assert "pw-secret" not in result.output


@pytest.mark.parametrize(
    ("pyproject", "expected"),
    [
        (b'[tool.migdoc]\nselect = ["\xff\xfe"]\n', "can't decode byte 0xff"),
        (b"tool = 5\n", "'tool' must be a table"),
        (b"[tool]\nmigdoc = 5\n", "[tool.migdoc] must be a table, not an integer"),
        (b"[tool.migdoc]\nselect = 5\n", "select must be a code or an array of codes (strings), not an integer"),
        (b"[tool.migdoc]\nselect = 5.5\n", "not a float"),
        (b"[tool.migdoc]\nignore = true\n", "not a boolean"),
        (b"[tool.migdoc]\nignore = 2024-01-01\n", "not a date"),
        (b"[tool.migdoc]\nselect = [1, 2]\n", "holding other values"),
        (b"[tool.migdoc]\nselect = " + b"[" * 20_000 + b"]" * 20_000 + b"\n", "nested too deeply"),
        (b"[tool.alembic]\nscript_location = 5\n", "[tool.alembic] script_location must be a string"),
        (b'[tool.alembic]\nscript_location = "m"\nversion_locations = [1]\n', "version_locations must be"),
    ],
)
@pytest.mark.parametrize("command", ["check", "graph", "fix"])
def test_hostile_pyproject_values_are_one_line_and_exit_2(in_tmp, pyproject, expected, command):
    write_project(in_tmp / "p")
    (in_tmp / "p" / "pyproject.toml").write_bytes(pyproject)
    assert_one_line_exit_2(run(command, "p"), "pyproject.toml", expected)


@pytest.mark.parametrize(
    ("script_location", "expected"),
    [
        ("mig\0rations", "script_location holds a NUL byte"),
        ("x" * 5000, "script_location is longer than this system allows"),
        ("migrations/" + "y" * 300, "script_location is longer than this system allows"),
    ],
)
def test_ini_script_location_with_nul_or_overlong_path_is_one_line_and_exit_2(in_tmp, script_location, expected):
    write_project(in_tmp / "p")
    (in_tmp / "p" / "alembic.ini").write_text(f"[alembic]\nscript_location = {script_location}\n")
    assert_one_line_exit_2(run("check", "p"), "alembic.ini", expected)


def test_overlong_and_nul_paths_on_the_command_line_are_one_line_and_exit_2(in_tmp):
    write_project(in_tmp / "p")
    assert_one_line_exit_2(run("check", "p/" + "z" * 300))
    assert_one_line_exit_2(run("check", "p", "--version-location", "v\0x"), "NUL byte")


# -- item 4: only regular files, and only so big -----------------------------------------------------


def test_fifo_version_file_and_fifo_config_do_not_hang(tmp_path):
    versions = write_project(tmp_path / "p")
    os.mkfifo(versions / "r9_pipe.py")
    result = run_migdoc("check", "p", cwd=tmp_path, timeout=60)
    assert result.returncode == 1, result.stderr
    assert "p/migrations/versions/r9_pipe.py" in result.stdout
    assert "MD010" in result.stdout and "FIFO (named pipe), not a regular file" in result.stdout

    (versions / "r9_pipe.py").unlink()
    (tmp_path / "p" / "alembic.ini").unlink()
    os.mkfifo(tmp_path / "p" / "alembic.ini")
    result = run_migdoc("check", "p", cwd=tmp_path, timeout=60)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert (
        result.stderr.strip()
        == "migdoc: error: p/alembic.ini: cannot read config: it is a FIFO (named pipe), not a regular file"
    )

    (tmp_path / "p" / "alembic.ini").unlink()
    (tmp_path / "p" / "alembic.ini").write_text("[alembic]\nscript_location = %(here)s/migrations\n")
    os.mkfifo(tmp_path / "p" / "pyproject.toml")
    result = run_migdoc("graph", "p", cwd=tmp_path, timeout=60)
    assert result.returncode == 2 and "FIFO" in result.stderr and "Traceback" not in result.stderr


def test_fifo_version_file_does_not_hang_check_with_base_ref(tmp_path):
    from gitutil import git

    write_project(tmp_path / "p")
    git(tmp_path / "p", "init", "-q", "-b", "main")
    git(tmp_path / "p", "add", "-A")
    git(tmp_path / "p", "commit", "-q", "-m", "chain")
    os.mkfifo(tmp_path / "p" / "migrations" / "versions" / "r9_pipe.py")
    result = run_migdoc("check", "p", "--base-ref", "main", cwd=tmp_path, timeout=60)
    assert result.returncode == 1, result.stderr
    assert "FIFO (named pipe), not a regular file" in result.stdout


@pytest.mark.parametrize("device", ["/dev/zero", "/dev/urandom"])
def test_version_file_symlinked_to_a_device_is_md010_not_an_endless_read(in_tmp, device):
    versions = write_project(in_tmp / "p")
    (versions / "r9_device.py").symlink_to(device)
    result = run("check", "p", "--format", "json")
    assert result.exit_code == 1, result.output
    assert "character device, not a regular file" in result.output
    assert '"code": "MD010"' in result.output


def test_oversized_version_file_is_md010_with_the_reason(in_tmp):
    versions = write_project(in_tmp / "p")
    big = versions / "r9_big.py"
    big.write_bytes(b"revision = 'r9'\ndown_revision = 'r3'\n" + b"#" * MAX_FILE_BYTES)
    for args in (("check", "p"), ("check", "p", "--format", "json")):
        result = run(*args)
        assert result.exit_code == 1, result.output
        assert "MD010" in result.output and "larger than 8 MB" in result.output
    # a file just under the limit is read as usual
    big.write_bytes(b"revision = 'r9'\ndown_revision = 'r3'\n" + b"#" * (MAX_FILE_BYTES - 100))
    assert "larger than" not in run("check", "p").output


# -- item 13: an SQLite URI names a file; a missing one is refused, not created ---------------------


@pytest.mark.parametrize(
    "url",
    [
        "sqlite:///file:{path}?uri=true",
        "sqlite:///file:{path}?uri=true&mode=rwc",
        "sqlite:///file://{path}?uri=true",
        "sqlite:///{path}?uri=true",
    ],
)
def test_sqlite_uri_url_does_not_create_a_file(in_tmp, url):
    write_project(in_tmp / "p")
    missing = in_tmp / "nothere.db"
    result = run("status", "p", "--database-url", url.format(path=missing.as_posix()))
    assert_one_line_exit_2(result, "no such database file")
    assert not missing.exists()


def test_sqlite_uri_url_to_an_existing_file_is_read_read_only(in_tmp):
    write_project(in_tmp / "p")
    database = in_tmp / "deployed.db"
    connection = sqlite3.connect(database)
    connection.execute("CREATE TABLE alembic_version (version_num VARCHAR(32) NOT NULL PRIMARY KEY)")
    connection.execute("INSERT INTO alembic_version VALUES ('r2')")
    connection.commit()
    connection.close()
    before = database.read_bytes()
    result = run("status", "p", "--database-url", "sqlite:///file:deployed.db?uri=true&mode=rwc")
    assert result.exit_code == 0, result.output
    assert "r2" in result.output and "r3" in result.output
    assert database.read_bytes() == before


# -- item 18: a revision without upgrade() ------------------------------------------------------------


def test_version_file_without_upgrade_is_md010_with_the_reason(in_tmp):
    versions = write_project(in_tmp / "p")
    cut = versions / "r4_cut_off.py"
    cut.write_text('"""cut off\n\nRevision ID: r4\nRevises: r3\n"""\nrevision = "r4"\ndown_revision = "r3"\n')
    result = run("check", "p", "--format", "json")
    assert result.exit_code == 1, result.output
    payload = json.loads(result.output)
    [finding] = [d for d in payload["diagnostics"] if d["code"] == "MD010"]
    assert finding["file"] == "p/migrations/versions/r4_cut_off.py" and finding["severity"] == "error"
    assert "has no upgrade()" in finding["message"] and finding["revision"] == "r4"
    assert payload["summary"]["heads"] == 1  # still on the chain: the graph stays whole


@pytest.mark.parametrize(
    "binding",
    [
        "from migrations.common import upgrade, downgrade\n",
        "from migrations.common import *\n",
        "upgrade = downgrade = lambda: None\n",
        "if True:\n    def upgrade():\n        pass\n    def downgrade():\n        pass\n",
    ],
)
def test_upgrade_bound_other_than_by_def_is_not_md010(in_tmp, binding):
    versions = write_project(in_tmp / "p")
    (versions / "r4_shared.py").write_text('revision = "r4"\ndown_revision = "r3"\n' + binding)
    result = run("check", "p", "--format", "json")
    assert "MD010" not in result.output, result.output


# -- item 11: --renumber never builds a path from a revision id ---------------------------------------


@pytest.mark.parametrize(
    ("revision", "reason"),
    [
        ("../../../../PWNED", "it holds a path separator"),
        ("sub/r4", "it holds a path separator"),
        ("..", "it starts with a dot"),
        ("r4\\..\\x", "it holds a path separator"),
        ("r4\x1b[2Jx", "it holds control characters"),
        ("r" * 300, "it is longer than 200 bytes"),
    ],
)
def test_renumber_refuses_revision_ids_that_are_not_safe_file_names(in_tmp, revision, reason):
    versions = write_project(in_tmp / "p")
    # --renumber answers MD006 only where the project made it an error
    (in_tmp / "p" / "pyproject.toml").write_text('[tool.migdoc]\nseverity = { MD006 = "error" }\n')
    # a file whose name disagrees with its revision (MD006), holding a hostile id
    text = (versions / "r3_step.py").read_text().replace("revision = 'r3'", f"revision = {revision!r}")
    (versions / "r3_step.py").write_text(text.replace("Revision ID: r3", "Revision ID: x"))
    before = sorted(p.relative_to(in_tmp).as_posix() for p in in_tmp.rglob("*"))
    result = run("fix", "p", "--renumber", "--apply")
    assert "Traceback" not in result.output and result.exit_code in (0, 1), result.output
    assert "will not make a file name of revision" in result.output and reason in result.output
    assert sorted(p.relative_to(in_tmp).as_posix() for p in in_tmp.rglob("*")) == before
    assert not (in_tmp.parent / "PWNED.py").exists()


# -- item 14: control characters from version files never reach output raw -----------------------------

CRAFTED_ID = "r4\n::error file=ci.yml,line=1::pwned\x1b[2J\u2028x"
CRAFTED_MESSAGE = "add \x1b[31mred\x1b[0m\r::warning::also pwned"


def assert_no_injection(text: str) -> None:
    for line in text.splitlines():
        assert not line.lstrip().startswith("::"), line
    assert "\x1b" not in text and "\r" not in text and "\u2028" not in text


def test_control_characters_in_revision_ids_are_escaped_in_every_human_facing_format(in_tmp):
    versions = write_project(in_tmp / "p")
    crafted = versions / "r4_crafted.py"
    # two files declaring the crafted id (MD001), one of them a head beside r3 (MD003)
    for name in ("r4_crafted.py", "r4_copy.py"):
        (versions / name).write_text(
            f'"""{CRAFTED_MESSAGE}\n\nRevision ID: r4\nRevises: r2\n"""\n'
            f"revision = {CRAFTED_ID!r}\ndown_revision = 'r2'\n\n\ndef upgrade():\n    pass\n"
        )
    database = in_tmp / "deployed.db"
    connection = sqlite3.connect(database)
    connection.execute("CREATE TABLE alembic_version (version_num VARCHAR(64) NOT NULL PRIMARY KEY)")
    connection.execute("INSERT INTO alembic_version VALUES (?)", (CRAFTED_ID + "gone",))
    connection.commit()
    connection.close()
    outputs = {
        "check": run("check", "p"),
        "graph": run("graph", "p"),
        "graph dot": run("graph", "p", "--format", "dot"),
        "graph mermaid": run("graph", "p", "--format", "mermaid"),
        "graph html": run("graph", "p", "--format", "html"),
        "check concise": run("check", "p", "--format", "concise"),
        "fix": run("fix", "p"),
        "fix --archive": run("fix", "p", "--archive"),
        "fix --merge": run("fix", "p", "--merge"),
        "fix --renumber": run("fix", "p", "--renumber"),
        "status": run("status", "p", "--database-url", "sqlite:///deployed.db"),
        "explain": run("explain", CRAFTED_ID),
        "--head": run("fix", "p", "--archive", "--head", CRAFTED_ID + "x"),
    }
    for command, result in outputs.items():
        assert "Traceback" not in result.output, (command, result.output)
        assert_no_injection(result.output)
    assert "r4\\n::error" in outputs["check"].output  # shown, escaped, not hidden
    assert "r4\\n::error" in outputs["graph"].output and "\\x1b[31mred" in outputs["graph"].output
    assert "r4\\n::error" in outputs["status"].output
    assert "r4\\n::error" in outputs["check concise"].output
    assert "r4\\n::error" in outputs["graph html"].output
    assert crafted.exists()

    # the github format has its own escaping: one annotation line per finding, none injected
    github = run("check", "p", "--format", "github").output
    lines = github.rstrip("\n").split("\n")
    assert all(line.startswith(("::error file=p/", "::warning file=p/", "::notice file=p/")) for line in lines), lines
    assert "\x1b" not in github and "\r" not in github and "\u2028" not in github
    assert "r4%0A::error file=ci.yml" in github
