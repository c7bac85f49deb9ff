"""MD029 / MD030 read env.py as text (pure), and are off unless selected."""

from __future__ import annotations

import pytest
from rulekit import revision

from migdoc.chain.graph import build_graph
from migdoc.rules import RULES, CheckContext, run_checks
from migdoc.rules.run_safety import env_code, env_sets_lock_timeout

RUN = """
with engine.connect() as connection:
    context.configure(connection=connection)
    with context.begin_transaction():
{extra}        context.run_migrations()
"""


def codes_for(env: str | None, *, timeout: bool = False) -> list[tuple[str, int]]:
    context = CheckContext(
        graph=build_graph([revision("0001")]), env_path="migrations/env.py", env_source=env, is_lock_timeout_set=timeout
    )
    result = run_checks(context, codes=["MD029", "MD030"])
    return [(d.code, d.line) for d in result.diagnostics]


def run_line(source: str) -> int:
    return next(n for n, line in enumerate(source.splitlines(), 1) if "run_migrations()" in line)


def env(extra: str = "") -> str:
    return RUN.format(extra="".join(f"        {line}\n" for line in extra.splitlines()))


def test_a_plain_env_draws_both_at_run_migrations():
    source = env()
    assert codes_for(source) == [("MD029", run_line(source)), ("MD030", run_line(source))]


@pytest.mark.parametrize(
    "extra",
    [
        "connection.exec_driver_sql(\"SET lock_timeout = '2s'\")",
        "connection.execute(text('SET LOCAL lock_timeout TO 3000'))",
    ],
)
def test_a_lock_timeout_in_sql_quiets_md029_only(extra):
    assert codes_for(env(extra)) == [("MD030", run_line(env(extra)))]


def test_connect_args_options_count_as_a_lock_timeout():
    source = 'engine = create_engine(url, connect_args={"options": "-c lock_timeout=2s"})\n' + env()
    assert env_sets_lock_timeout(source)
    assert [code for code, _ in codes_for(source)] == ["MD030"]


@pytest.mark.parametrize(
    "extra",
    [
        'connection.exec_driver_sql("SELECT pg_advisory_xact_lock(7430)")',
        'connection.execute(text("SELECT pg_advisory_lock(:id)"), {"id": 1})',
        'connection.execute(text("SELECT pg_try_advisory_lock(1)"))',
    ],
)
def test_an_advisory_lock_quiets_md030_only(extra):
    assert [code for code, _ in codes_for(env(extra))] == ["MD029"]


def test_a_comment_is_not_a_setting():
    source = env("# TODO: SET lock_timeout and take pg_advisory_lock here")
    assert "lock_timeout" not in env_code(source)
    assert [code for code, _ in codes_for(source)] == ["MD029", "MD030"]


def test_the_project_option_quiets_md029():
    assert [code for code, _ in codes_for(env(), timeout=True)] == ["MD030"]


def test_no_env_py_draws_nothing():
    assert codes_for(None) == []


def test_both_rules_are_info_and_off_by_default():
    for code in ("MD029", "MD030"):
        assert RULES[code].severity.value == "info" and not RULES[code].enabled_by_default
    context = CheckContext(graph=build_graph([revision("0001")]), env_path="env.py", env_source=env())
    assert run_checks(context).diagnostics == ()
