"""MD024 illegal-revision-id: ids Alembic refuses to load or cannot name; ``fix --merge
--rev-id`` refuses them too."""

from __future__ import annotations

import pytest
from click.testing import CliRunner
from rulekit import findings, revision

from migdoc.cli import cli
from migdoc.project.naming import revision_id_problem


@pytest.mark.parametrize(
    ("rev", "fragment"),
    [
        ("add-orders", "'-'"),
        ("a@b", "'@'"),
        ("v1+2", "'+'"),
        ("x:y", "':'"),
        ("head", "symbol"),
        ("heads", "symbol"),
        ("base", "symbol"),
    ],
)
def test_ids_alembic_refuses_are_md024(rev, fragment):
    [finding] = findings("MD024", [revision(rev, None)])
    assert finding.revision == rev and fragment in finding.message


@pytest.mark.parametrize("rev", ["0001", "ae1027a6acf", "add_orders", "head2", "Base", "v1.2"])
def test_ids_alembic_accepts_are_silent(rev):
    assert findings("MD024", [revision(rev, None)]) == []
    assert revision_id_problem(rev) is None


def test_the_illegal_characters_are_alembics_own():
    from alembic.script.revision import _revision_illegal_chars

    from migdoc.project.naming import REVISION_ID_ILLEGAL_CHARACTERS

    assert sorted(REVISION_ID_ILLEGAL_CHARACTERS) == sorted(_revision_illegal_chars)


@pytest.mark.parametrize("rev_id", ["a-b", "head", "x:1"])
def test_fix_merge_refuses_such_a_rev_id_with_one_line(copy_fixture, rev_id):
    root = copy_fixture("md003_multiple_heads")
    before = sorted(p.name for p in (root / "migrations" / "versions").iterdir())
    result = CliRunner().invoke(cli, ["fix", "--merge", "--apply", "--rev-id", rev_id, str(root)])
    assert result.exit_code == 2
    assert result.stderr.strip().count("\n") == 0 and f"--rev-id {rev_id!r} cannot be a revision id" in result.stderr
    assert sorted(p.name for p in (root / "migrations" / "versions").iterdir()) == before
