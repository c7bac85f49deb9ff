"""Alembic's multidb template: ``upgrade(engine_name)`` only dispatches to
``upgrade_<db>()`` by name. MD011 compares the work of those functions (every revision
of the template shares the dispatching line), and a revision whose per-database
functions are all ``pass`` is never a duplicate. MD013 and MD015 read them too."""

from __future__ import annotations

import pytest
from rulekit import findings, from_source

DISPATCH = {
    "f-string": 'globals()[f"NAME_{engine_name}"]()',
    "percent": 'globals()["NAME_%s" % engine_name]()',
}


def multidb(rev: str, down: str | None, registrar: str, verifier: str, *, style="f-string", downgrade="pass"):
    up, dn = DISPATCH[style].replace("NAME", "upgrade"), DISPATCH[style].replace("NAME", "downgrade")
    text = f'''"""change {rev}"""
from alembic import op
import sqlalchemy as sa

revision = {rev!r}
down_revision = {down!r}
branch_labels = None
depends_on = None


def upgrade(engine_name):
    {up}


def downgrade(engine_name):
    {dn}


def upgrade_registrar():
    {registrar}


def downgrade_registrar():
    {downgrade}


def upgrade_cloud_verifier():
    {verifier}


def downgrade_cloud_verifier():
    {downgrade}
'''
    return from_source(f"versions/{rev}_change.py", text)


ADD_IAK = 'op.add_column("registrarmain", sa.Column("iak", sa.String(2048)))'
ADD_IP = 'op.add_column("verifiermain", sa.Column("ip", sa.String(255)))'


@pytest.mark.parametrize("style", DISPATCH)
def test_different_work_behind_the_same_dispatcher_is_no_duplicate(style):
    files = [
        multidb("a1", None, ADD_IAK, "pass", style=style),
        multidb("a2", "a1", "pass", ADD_IP, style=style),
        multidb("a3", "a2", "pass", "pass", style=style),
        multidb("a4", "a3", "pass", "pass", style=style),
    ]
    assert findings("MD011", files) == []


def test_the_same_work_behind_the_dispatcher_is_a_duplicate():
    files = [multidb("a1", None, ADD_IAK, "pass"), multidb("a2", "a1", ADD_IAK, "pass")]
    assert [d.revision for d in findings("MD011", files)] == ["a2"]


def test_the_same_work_for_another_database_is_no_duplicate():
    files = [multidb("a1", None, ADD_IAK, "pass"), multidb("a2", "a1", "pass", ADD_IAK)]
    assert findings("MD011", files) == []


def test_per_database_functions_decide_whether_a_downgrade_does_anything():
    files = [
        multidb("a1", None, ADD_IAK, "pass", downgrade="pass"),
        multidb("a2", "a1", "pass", ADD_IP, downgrade='op.drop_column("t", "c")'),
    ]
    assert [d.revision for d in findings("MD013", files)] == ["a1"]


def test_unsafe_sql_in_a_per_database_function_is_seen():
    verifier = 'name = op.get_bind().execute(sa.text("SELECT 1")).scalar()\n    op.execute(f"DROP TABLE {name}")'
    assert [d.revision for d in findings("MD015", [multidb("a1", None, "pass", verifier)])] == ["a1"]
