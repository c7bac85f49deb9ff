"""The naming rules, one at a time, on revisions written inline: MD006 (file
name), MD007 (docstring header), MD009 (Create Date order).

Variants from ``fixtures/README.md`` (``md006_*``, ``md007_*``, ``md009_*``,
``healthy_messy_names``, ``healthy_messy_values``, ``healthy_dated_*``)."""

from __future__ import annotations

import pytest
from rulekit import assert_mentions, chain, default_severity, findings, revision

from migdoc.model import Severity

ERROR, WARNING, INFO = Severity.ERROR, Severity.WARNING, Severity.INFO
DATED = "%%(year)d_%%(month).2d_%%(day).2d_%%(hour).2d%%(minute).2d-%%(rev)s_%%(slug)s".replace("%%", "%")
DATED_NO_SLUG = "%%(year)d%%(month).2d%%(day).2d_%%(rev)s".replace("%%", "%")


def named(*pairs: tuple[str, str | None, str]):
    """(revision, down_revision, file stem) -> records."""
    return [revision(rev, down, path=f"versions/{stem}.py") for rev, down, stem in pairs]


# -- MD006 filename-mismatch ----------------------------------------------------------


def test_md006_file_named_with_another_id():
    files = named(
        ("0001", None, "0001_create_customers"),
        ("0002", "0001", "0002_create_orders"),
        ("0003", "0002", "0003_add_order_status"),
        ("0004", "0003", "0001_add_customer_phone"),
    )
    (found,) = findings("MD006", files)
    assert (found.revision, found.file) == ("0004", "versions/0001_add_customer_phone.py")
    assert found.severity is default_severity("MD006")
    assert_mentions(found, "'0001'", "'0004'")


def test_md006_file_name_with_no_id():
    files = named(
        ("0001", None, "0001_create_customers"),
        ("0002", "0001", "0002_create_orders"),
        ("0003", "0002", "index_order_status"),
    )
    (found,) = findings("MD006", files)
    assert (found.revision, found.file) == ("0003", "versions/index_order_status.py")
    assert_mentions(found, "does not carry", "'0003'")


def test_md006_explicit_file_template_claims_the_id_it_places():
    files = named(
        ("1c9e4f7a2b3d", None, "2025_03_01_0900-1c9e4f7a2b3d_create_customers"),
        ("8d2a6b5e0c71", "1c9e4f7a2b3d", "2025_03_02_0900-f03b7c1d9a46_create_orders"),
    )
    (found,) = findings("MD006", files, file_template=DATED)
    assert found.revision == "8d2a6b5e0c71"
    assert_mentions(found, "'f03b7c1d9a46'", "'8d2a6b5e0c71'")


@pytest.mark.parametrize(
    ("files", "template"),
    [
        pytest.param(
            named(
                ("1c9e4f7a2b3d", None, "2025_03_01_0900-1c9e4f7a2b3d_create_customers"),
                ("8d2a6b5e0c71", "1c9e4f7a2b3d", "2025_03_02_0900-8d2a6b5e0c71_create_orders"),
            ),
            DATED,
            id="dated-file-template",
        ),
        pytest.param(
            named(("a1", None, "20250301_a1"), ("b2", "a1", "20250302_b2")), DATED_NO_SLUG, id="dated-no-slug"
        ),
        pytest.param(
            named(
                ("0001_restart_migrations", None, "0001_restart_migrations"),
                ("0002", "0001_restart_migrations", "0002_v1.2-add-customer-phone"),
                ("0003", "0002", "0003_"),
            ),
            None,
            id="whole-stem-id-dots-dashes-empty-slug",
        ),
        pytest.param(
            named(("0001", None, "create_customers"), ("0002", "0001", "create_orders"), ("0003", "0002", "0003_x")),
            None,
            id="project-convention-names-without-ids",
        ),
    ],
)
def test_md006_silent(files, template):
    assert findings("MD006", files, file_template=template) == []


def test_md006_a_template_slug_that_splits_a_word_id_is_not_a_mismatch():
    """skyvern's date-slug template beside a hand-named revision ``add_task_credentials`` in
    ``2025_01_24_0000-add_task_credentials.py``: the template reads its rev as ``add``, yet the
    name carries the whole id."""
    files = named(
        ("1c9e4f7a2b3d", None, "2025_03_01_0900-1c9e4f7a2b3d_create_customers"),
        ("8d2a6b5e0c71", "1c9e4f7a2b3d", "2025_03_02_0900-8d2a6b5e0c71_create_orders"),
        ("add_task_credentials", "8d2a6b5e0c71", "2025_03_03_0000-add_task_credentials"),
    )
    assert findings("MD006", files, file_template=DATED) == []


def test_md006_a_template_rev_that_is_only_a_prefix_elsewhere_in_the_name_still_mismatches():
    files = named(
        ("1c9e4f7a2b3d", None, "2025_03_01_0900-1c9e4f7a2b3d_create_customers"),
        ("add_index", "1c9e4f7a2b3d", "2025_03_02_0900-add_orders_add_index"),
    )
    (found,) = findings("MD006", files, file_template=DATED)
    assert found.revision == "add_index"


# -- MD007 header-mismatch ------------------------------------------------------------


def test_md007_stale_revises_line():
    files = [*chain("0001", "0005"), revision("0006", "0005"), revision("0007", "0006", revises_line="0005")]
    (found,) = findings("MD007", files)
    assert (found.revision, found.severity) == ("0007", WARNING)
    assert_mentions(found, "Revises: 0005", "0006")


def test_md007_stale_revision_id_line():
    files = [*chain("0001"), revision("0002", "0001", revision_id_line="0009")]
    (found,) = findings("MD007", files)
    assert found.revision == "0002"
    assert_mentions(found, "Revision ID: 0009", "'0002'")


def test_md007_both_lines_stale_are_two_findings():
    files = [*chain("0001", "0002"), revision("0003", "0002", revises_line="0001", revision_id_line="0004")]
    found = findings("MD007", files)
    assert [d.revision for d in found] == ["0003", "0003"]
    assert len({d.line for d in found}) == 2  # each points at its own header line


@pytest.mark.parametrize(
    "files",
    [
        pytest.param(chain("0001", "0002"), id="matching"),
        pytest.param([revision("0001", None, revises_line="None")], id="base-revises-none"),
        # buildbot's template writes a base as `Revises: (none)`
        pytest.param([revision("0001", None, revises_line="(none)")], id="base-revises-parenthesised-none"),
        pytest.param(
            [
                *chain("0001"),
                revision("0002a", "0001"),
                revision("0002b", "0001"),
                revision("0003", ("0002a", "0002b"), revises_line="('0002a', '0002b')"),
            ],
            id="merge-written-as-a-tuple",
        ),
        pytest.param(
            [*chain("0001"), revision("0002", "0001", revises_line=None, revision_id_line=None)], id="no-header-lines"
        ),
    ],
)
def test_md007_silent(files):
    assert findings("MD007", files) == []


# -- MD009 date-order -----------------------------------------------------------------


def dated(rev, down, date):
    return revision(rev, down, create_date=date)


def test_md009_child_older_than_its_parent():
    files = [dated("0007", None, "2025-03-01 09:00:00"), dated("0008", "0007", "2025-02-10 09:00:00")]
    (found,) = findings("MD009", files)
    assert (found.revision, found.severity) == ("0008", INFO) and default_severity("MD009") is INFO
    assert_mentions(found, "2025-02-10", "0007", "2025-03-01")
    assert found.related == ("versions/0007_change.py",)


@pytest.mark.parametrize("older_parent_position", [0, 1], ids=["first-parent", "second-parent"])
def test_md009_merge_checks_every_parent(older_parent_position):
    """Kills the mutation "MD009 checks only the first merge parent": the newer
    parent is listed second as often as first."""
    parents = ["0002a", "0002b"]
    newer = parents[1 - older_parent_position]
    files = [
        dated("0001", None, "2025-01-01 09:00:00"),
        dated("0002a", "0001", "2025-01-02 09:00:00" if newer != "0002a" else "2025-03-01 09:00:00"),
        dated("0002b", "0001", "2025-01-02 09:00:00" if newer != "0002b" else "2025-03-01 09:00:00"),
        dated("0003", tuple(parents), "2025-02-01 09:00:00"),
    ]
    (found,) = findings("MD009", files)
    assert found.revision == "0003"
    assert_mentions(found, newer, "2025-03-01")


@pytest.mark.parametrize(
    "files",
    [
        pytest.param(
            [dated("0001", None, "2025-01-01 09:00:00"), dated("0002", "0001", "2025-01-02 09:00:00")], id="in-order"
        ),
        pytest.param(
            [dated("0001", None, "2025-01-01 09:00:00"), dated("0002", "0001", "2025-01-01 09:00:00")], id="same-time"
        ),
        pytest.param([dated("0001", None, "2025-03-01"), dated("0002", "0001", "yesterday")], id="unparsable-date"),
        pytest.param([dated("0001", None, "2025-03-01"), dated("0002", "0001", None)], id="no-date"),
        pytest.param([dated("0002", "0001", "2025-01-01")], id="parent-missing"),
    ],
)
def test_md009_silent(files):
    assert findings("MD009", files) == []
