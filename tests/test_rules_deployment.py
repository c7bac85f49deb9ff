"""MD016 and MD017 on their pure inputs: the ``alembic_version`` rows and the
merged view of ``--base-ref`` are plain data in the :class:`CheckContext`, so
the rules are tested here without a database or a git repository (the edges
that fill that data in have their own tests: test_database.py, test_base_ref.py).

MD020 / MD021 are not here: their static rule finds nothing by design, and
their findings come from a dry-run's result (tests/test_dryrun*.py)."""

from __future__ import annotations

import pytest
from rulekit import assert_mentions, chain, findings, revision

from migdoc.gitref import MergedView
from migdoc.model import Severity

ERROR = Severity.ERROR


# -- MD016 deployed-revision-unknown --------------------------------------------------


def test_md016_stamped_revision_no_file_declares():
    (found,) = findings("MD016", chain("0001", "0002"), deployed=("0002a",))
    assert (found.revision, found.severity, found.file) == ("0002a", ERROR, None)
    assert_mentions(found, "'0002a'", "neither the archive folder nor git history", "alembic stamp")


def test_md016_says_where_the_archived_file_is():
    archived = {"0002a": "migrations/archive/0002a_add_notes.py"}
    (found,) = findings("MD016", chain("0001", "0002"), deployed=("0002a",), archived=archived)
    assert_mentions(found, "in the archive", "migrations/archive/0002a_add_notes.py")
    assert found.related == ("migrations/archive/0002a_add_notes.py",)


def test_md016_says_where_git_last_saw_it():
    lost = {"0002a": "deleted in commit abc1234"}
    (found,) = findings("MD016", chain("0001", "0002"), deployed=("0002a",), lost_revisions=lost)
    assert_mentions(found, "deleted in commit abc1234")


def test_md016_reports_each_unknown_row_of_a_multi_head_database():
    found = findings("MD016", chain("0001", "0002"), deployed=("0002", "x1", "x2"))
    assert sorted(d.revision for d in found) == ["x1", "x2"]


@pytest.mark.parametrize(
    "deployed",
    [
        pytest.param(None, id="no-database-read"),
        pytest.param((), id="empty-table"),
        pytest.param(("0001",), id="known"),
    ],
)
def test_md016_silent(deployed):
    assert findings("MD016", chain("0001", "0002"), deployed=deployed) == []


# -- MD017 head-conflict --------------------------------------------------------------


def view(ours, theirs, common, ref_heads):
    """A merged view: working-tree records (``ours`` / ``common``) plus REF's (``REF:path``)."""
    theirs = [revision(rf.revision, rf.down_revisions or None, path=f"origin/main:{rf.path}") for rf in theirs]
    files = (*common, *ours, *theirs)
    origins = {rf.path: "ours" for rf in ours} | {rf.path: "theirs" for rf in theirs}
    origins |= {rf.path: "common" for rf in common}
    return MergedView("origin/main", "c0ffee", files, origins, tuple(ref_heads), True)


def test_md017_both_sides_add_a_child_of_the_same_head():
    common = chain("0001", "0004")
    ours = [revision("0005c", "0004", path="versions/0005_add_coupons.py")]
    theirs = [revision("0005r", "0004", path="versions/0005_add_refunds.py")]
    (found,) = findings("MD017", [*common, *ours], merged=view(ours, theirs, common, ["0005r"]))
    assert (found.revision, found.severity, found.file) == ("0005c", ERROR, "versions/0005_add_coupons.py")
    assert_mentions(found, "2 heads", "'0004'", "'0005r'", "origin/main")
    assert found.related == ("origin/main:versions/0005_add_refunds.py",)


def test_md017_same_revision_id_on_both_sides():
    common = chain("0001", "0004")
    ours = [revision("0005", "0004", path="versions/0005_add_coupons.py")]
    theirs = [revision("0005", "0004", path="versions/0005_add_refunds.py")]
    found = findings("MD017", [*common, *ours], merged=view(ours, theirs, common, ["0005"]))
    assert found and all(d.revision == "0005" for d in found)
    assert any("origin/main:versions/0005_add_refunds.py" in d.message and "new id" in d.message for d in found)


@pytest.mark.parametrize(
    "theirs",
    [
        pytest.param([], id="ref-has-nothing-new"),
        pytest.param([revision("0003", "0002", path="versions/0003_x.py")], id="branch-already-rebased"),
    ],
)
def test_md017_silent(theirs):
    common = chain("0001", "0002")
    base = [*common, *theirs]
    ours = [revision("0004", "0003" if theirs else "0002", path="versions/0004_mine.py")]
    heads = ["0003"] if theirs else ["0002"]
    # Without --base-ref the rule has nothing to look at at all.
    assert findings("MD017", [*base, *ours]) == []
    assert findings("MD017", [*common, *ours], merged=view(ours, theirs, common, heads)) == []
