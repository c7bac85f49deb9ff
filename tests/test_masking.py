"""Issue 11, item 12: one masking function, and no password in any output path.

Each run starts with masking's memory of passwords emptied, as a new process
would: a path that prints a URL without passing it through the masking
function must fail here, not pass on a password remembered by an earlier run.
"""

from __future__ import annotations

import json
import re
import shutil
import socket
from pathlib import Path
from urllib.parse import quote

import pytest
from click.testing import CliRunner
from conftest import FIXTURES

from migdoc.cli import cli
from migdoc.util import masking
from migdoc.util.masking import mask_secrets, mask_url

SECRET = "Tr0ub4dor/x?y"
"""Holds a slash and a question mark: the characters the old textual masks cut passwords at."""


def run(*args: str):
    masking._SECRETS.clear()
    return CliRunner().invoke(cli, list(args))


def assert_hidden(text: str, *secrets: str) -> None:
    for secret in secrets:
        for form in {secret, quote(secret, safe=""), quote(secret)}:
            assert form not in text, (form, text)
    for piece in re.split(r"[/?@]", secrets[0]):
        if len(piece) >= 4:
            assert piece not in text, (piece, text)


# -- the function --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        (
            "postgresql+psycopg://deploy:PW-123@db.internal:5432/shop",
            "postgresql+psycopg://deploy:***@db.internal:5432/shop",
        ),
        ("postgresql+psycopg:/deploy:PW-123@host/db", "postgresql+psycopg:/deploy:***@host/db"),
        ("postgresql+psycopg:deploy:PW-123@host/db", "postgresql+psycopg:***@host/db"),
        ("deploy:PW-123@host/db", "deploy:***@host/db"),
        ("postgresql://deploy:PW/1?23@host/db", "postgresql://deploy:***@host/db"),
        ("postgresql://deploy:PW@1@23@host/db", "postgresql://deploy:***@host/db"),
        ("postgresql://deploy:PW-123@host:notaport/db", "postgresql://deploy:***@host:notaport/db"),
        ("postgresql://deploy:PW-123@[::1/db", "postgresql://deploy:***@[::1/db"),
        ("postgresql://deploy@/db?host=/run&password=PW-123", "postgresql://deploy@/db?host=%2Frun&password=***"),
        ("sqlite:///x.db", "sqlite:///x.db"),
    ],
)
def test_mask_url_parses_with_sqlalchemy_and_masks_what_it_cannot_parse(url, shown):
    masking._SECRETS.clear()
    assert mask_url(url) == shown
    # remembered: the same password quoted elsewhere later (a driver's error) is scrubbed too
    password = next((p for p in ("PW/1?23", "PW@1@23", "PW-123") if p in url), None)
    if password is not None:
        assert password not in mask_secrets(f"error talking to {url}: {password}")


def test_there_is_one_masking_function():
    """Every module that shows a URL imports the masking module's function; none keeps its own."""
    source = Path(masking.__file__).parent
    for path in source.rglob("*.py"):
        text = path.read_text()
        if path.name != "masking.py":
            assert not re.search(r"^def mask_(url|secrets)\b", text, re.M), f"{path}: a second masking function"
            # masking by hand misses what SQLAlchemy misreads (an unencoded "@" in a password)
            assert "hide_password=True" not in text, (
                f"{path} masks a URL by hand: use migdoc.util.masking.mask_url(url.render_as_string(hide_password=False))"
            )


# -- every output path ----------------------------------------------------------------------------------


def _closed_port() -> int:
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        return listener.getsockname()[1]


def test_a_password_never_reaches_error_lines_or_tracebacks(in_tmp, monkeypatch):
    shutil.copytree(FIXTURES / "deploy_chain", in_tmp / "deploy_chain")
    port = _closed_port()
    urls = [
        f"postgresql+psycopg://deploy:{SECRET}@127.0.0.1:{port}/shop",  # unreachable
        f"postgresql+psycopg://deploy:{quote(SECRET, safe='')}@127.0.0.1:{port}/shop",
        f"postgresql+psycopg:/deploy:{SECRET}@127.0.0.1/shop",  # one slash: not a URL SQLAlchemy reads
        f"deploy:{SECRET}@127.0.0.1/shop",  # no scheme
        f"postgresql://deploy:{SECRET}@host:notaport/shop",
        f"postgresql://deploy:Tr0ub@4dor@127.0.0.1:{port}/shop",  # an unencoded @
    ]
    for url in urls:
        for command in ("status", "check", "fix"):
            for fmt in ("text", "json"):
                result = run(command, "deploy_chain", "--database-url", url, "--format", fmt)
                assert result.exit_code == 2, result.output
                assert result.output.count("\n") == 1, result.output
                assert_hidden(result.output, SECRET, "Tr0ub@4dor")
        assert_hidden(run("dryrun", "deploy_chain", "--server", url).output, SECRET, "Tr0ub@4dor")

    def crash(*args, **kwargs):
        raise RuntimeError(f"boom while talking to {urls[2]} and {urls[3]}")

    monkeypatch.setattr("migdoc.doctor.project_status", crash)
    for url in urls[2:4]:
        result = run("status", "deploy_chain", "--database-url", url)
        assert result.exit_code == 3 and "Traceback" in result.output
        assert_hidden(result.output, SECRET)


@pytest.fixture
def stamped(pg_server, pg_database):
    """A database holding one known revision and one no file declares (MD016)."""
    from sqlalchemy.engine import make_url

    with pg_server.connect(make_url(pg_database).database) as connection:
        connection.execute("CREATE TABLE alembic_version (version_num varchar(32) NOT NULL PRIMARY KEY)")
        connection.execute("INSERT INTO alembic_version VALUES ('0002'), ('0009')")
    # The test server trusts local connections, so any password gets in: a password is given
    # all the same, and must appear nowhere.
    return pg_database.replace("postgres@", f"postgres:{SECRET}@", 1)


@pytest.mark.postgres
def test_a_password_never_reaches_any_output(copy_fixture, stamped, pg_server):
    root = copy_fixture("deploy_chain")
    outputs = {}
    for command in ("check", "status"):
        for fmt in {"check": ("text", "json", "sarif", "github"), "status": ("text", "json")}[command]:
            outputs[f"{command} {fmt}"] = run(command, "deploy_chain", "--database-url", stamped, "--format", fmt)
    for fmt in ("text", "json"):
        outputs[f"fix {fmt}"] = run("fix", "deploy_chain", "--archive", "--database-url", stamped, "--format", fmt)
    # a second head, so that --merge has something to apply and a journal is written
    versions = root / "migrations" / "versions"
    side = (versions / "0004_add_invoices.py").read_text().replace('revision = "0004"', 'revision = "0005"')
    (versions / "0005_side.py").write_text(side.replace('"invoices"', '"side_invoices"'))
    outputs["fix --apply"] = run("fix", "deploy_chain", "--merge", "--apply", "--database-url", stamped)
    assert outputs["fix --apply"].exit_code == 0, outputs["fix --apply"].output
    assert list((root / ".migdoc").rglob("*.json")), "no journal was written"
    for name, result in outputs.items():
        assert "Traceback" not in result.output, (name, result.output)
        assert_hidden(result.output, SECRET)
    assert "MD016" in outputs["check text"].output  # the database was read: the URL went everywhere
    assert "postgres:***@" in outputs["status text"].output
    assert json.loads(outputs["status json"].output)["database"].startswith("postgresql+psycopg://postgres:***@")
    # journals and every other file the run wrote
    for path in root.rglob("*"):
        if path.is_file():
            assert_hidden(path.read_text(errors="replace"), SECRET)


@pytest.mark.postgres
def test_a_password_never_reaches_the_dry_run_report(copy_fixture, pg_server):
    copy_fixture("dryrun_clean")
    server = pg_server.url.replace("postgres@", f"postgres:{SECRET}@", 1)
    for fmt in ("text", "json"):
        result = run("dryrun", "dryrun_clean", "--server", server, "--format", fmt)
        assert result.exit_code == 0, result.output
        assert_hidden(result.output, SECRET)
        assert "postgres:***@" in result.output
    for fmt in ("text", "json", "sarif", "github"):
        result = run("check", "dryrun_clean", "--dryrun", "--server", server, "--format", fmt)
        assert result.exit_code == 0, result.output
        assert_hidden(result.output, SECRET)
