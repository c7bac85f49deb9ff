"""The graph-shape rules, one at a time, on revisions written inline:
MD001-MD005, MD008, MD010, MD014, MD018, MD019.

Each case pins which revisions a rule reports, at what severity, and the key
facts its message must carry (ids, paths, counts), never the whole wording.
The variants come from ``fixtures/README.md``: every shape a ``mdNNN_*``
fixture promises is a case here, plus what must stay silent.
"""

from __future__ import annotations

import pytest
from rulekit import assert_mentions, chain, default_severity, findings, from_source, revision, source, where

from migdoc.model import Severity

ERROR, WARNING, INFO = Severity.ERROR, Severity.WARNING, Severity.INFO


# -- MD001 duplicate-revision ---------------------------------------------------------


def test_md001_two_files_declare_one_id_the_copy_loaded_first_is_reported():
    files = [
        *chain("0001", "0002"),
        revision("0003", "0002", path="versions/0003_add_orders.py"),
        revision("0003", "0002", path="versions/0003_add_orders_copy.py"),
    ]
    (found,) = findings("MD001", files)
    assert (found.revision, found.severity) == ("0003", default_severity("MD001")) == ("0003", ERROR)
    # Alembic keeps the file it loads last: the earlier one is the shadowed copy.
    assert found.file == "versions/0003_add_orders.py"
    assert_mentions(found, "2 files", "versions/0003_add_orders_copy.py")
    assert found.related == ("versions/0003_add_orders_copy.py",)


def test_md001_three_copies_report_every_shadowed_copy():
    files = [revision("0001", None, path=f"versions/0001_copy{n}.py") for n in range(3)]
    found = findings("MD001", files)
    assert sorted(d.file for d in found) == ["versions/0001_copy0.py", "versions/0001_copy1.py"]
    assert all("3 files" in d.message for d in found)


def test_md001_distinct_ids_are_silent():
    assert findings("MD001", chain("0001", "0002", "0003")) == []


# -- MD002 missing-revision -----------------------------------------------------------


def test_md002_gap_reports_the_revision_above_it_and_how_many_are_cut_off():
    files = [*chain("0001"), revision("0003", "0002"), revision("0004", "0003")]
    (found,) = findings("MD002", files)
    assert (found.revision, found.severity) == ("0003", ERROR)
    assert_mentions(found, "'0002'", "2 revisions")
    assert "did you mean" not in found.message


@pytest.mark.parametrize(
    ("written", "meant"),
    [
        pytest.param("0002_create_orders", "0002", id="file-stem"),
        pytest.param("a1b2", "a1b2c3d4e5f6", id="4-char-prefix"),
    ],
)
def test_md002_did_you_mean_for_a_stem_or_a_prefix(written, meant):
    files = [
        revision("0001", None),
        revision(meant, "0001", path=f"versions/{meant}_create_orders.py"),
        revision("0003", written),
    ]
    (found,) = findings("MD002", files)
    assert found.revision == "0003"
    assert_mentions(found, repr(written), f"did you mean {meant!r}", f"versions/{meant}_create_orders.py")


def test_md002_names_the_archive_when_the_parent_was_archived():
    files = [revision("0001", None), revision("0004", "0003")]
    (found,) = findings("MD002", files, archived={"0003": "migrations/archive/0003_old.py"})
    assert_mentions(found, "'0003'", "in the archive", "migrations/archive/0003_old.py")


def test_md002_depends_on_naming_nothing():
    files = [*chain("0001", "0002"), revision("0003", "0002", depends_on="nosuch")]
    (found,) = findings("MD002", files)
    assert (found.revision, found.severity) == ("0003", ERROR)
    assert_mentions(found, "depends_on", "'nosuch'")


@pytest.mark.parametrize(
    "files",
    [
        pytest.param(chain("0001", "0002", "0003"), id="complete-chain"),
        pytest.param([*chain("0001", "0002"), revision("0003", "0002", depends_on="0001")], id="depends-on-an-id"),
        pytest.param(
            [
                revision("0001", None, labels=("audit",)),
                revision("0002", None),
                revision("0003", "0002", depends_on="audit"),
            ],
            id="depends-on-a-label",
        ),
        pytest.param(
            [*chain("0001"), revision("0002", "0001", depends_literal='""')], id="depends-on-empty-string-is-MD005"
        ),
    ],
)
def test_md002_silent(files):
    assert findings("MD002", files) == []


# -- MD003 multiple-heads -------------------------------------------------------------


def one_for_all(found, severity, heads):
    """MD003 is one finding for all the heads (issue 13: one per head, each listing every
    head, grew as heads squared): on the first head, naming every head, the other heads'
    files as related."""
    (d,) = found
    assert (d.revision, d.severity) == (heads[0], severity)
    assert_mentions(d, f"{len(heads)} heads", *heads)
    assert len(d.related) == len(heads) - 1
    assert d.file not in d.related
    return d


def test_md003_two_children_never_merged_are_each_an_error():
    files = [*chain("0001", "0002"), revision("0003a", "0002"), revision("0003b", "0002")]
    d = one_for_all(findings("MD003", files), ERROR, ["0003a", "0003b"])
    assert_mentions(d, "fix --merge")


def test_md003_labelled_branches_with_their_own_bases_are_info():
    files = [
        revision("s1", None, labels=("shop",)),
        revision("s2", "s1"),
        revision("a1", None, labels=("audit",)),
        revision("a2", "a1"),
    ]
    found = findings("MD003", files)
    one_for_all(found, INFO, ["a2", "s2"])
    assert_mentions(found[0], "deliberate layout", "alembic upgrade heads", "shop", "audit")


def test_md003_expand_contract_sharing_one_base_is_info():
    files = [
        revision("base", None),
        revision("e1", "base", labels=("expand",)),
        revision("c1", "base", labels=("contract",)),
        revision("e2", "e1"),
    ]
    found = findings("MD003", files)
    one_for_all(found, INFO, ["c1", "e2"])
    assert_mentions(found[0], "expand@head", "contract@head")


def test_md003_unlabelled_main_line_and_a_labelled_branch_each_with_its_own_base_is_info():
    """Alembic's "multiple bases" recipe (healthy_two_version_locations): the main line
    needs no label when every head starts from a base of its own."""
    files = [*chain("0001", "0002"), revision("a1", None, labels=("audit",)), revision("a2", "a1", depends_on="0001")]
    found = findings("MD003", files)
    one_for_all(found, INFO, ["0002", "a2"])
    assert_mentions(found[0], "unlabelled main line", "audit")
    assert findings("MD004", files) == []


def test_md003_labels_computed_at_import_time_are_a_warning_not_an_error():
    files = [
        revision("base", None),
        revision("e1", "base", labels_literal="(branches.EXPAND,)", prelude="from app import branches"),
        revision("c1", "base", labels_literal="(branches.CONTRACT,)", prelude="from app import branches"),
    ]
    found = findings("MD003", files)
    one_for_all(found, WARNING, ["c1", "e1"])
    assert_mentions(found[0], "MD019", "alembic upgrade heads")


def test_md003_one_unlabelled_head_sharing_the_base_is_still_an_error():
    files = [revision("base", None), revision("e1", "base", labels=("expand",)), revision("x1", "base")]
    one_for_all(findings("MD003", files), ERROR, ["e1", "x1"])


@pytest.mark.parametrize(
    "files",
    [
        pytest.param(chain("0001", "0002"), id="one-head"),
        pytest.param(
            [
                *chain("0001"),
                revision("0002a", "0001"),
                revision("0002b", "0001"),
                revision("0003", ("0002a", "0002b")),
            ],
            id="merged",
        ),
    ],
)
def test_md003_silent(files):
    assert findings("MD003", files) == []


# -- MD004 multiple-bases -------------------------------------------------------------


def test_md004_copied_base_merged_in_one_head_two_bases():
    files = [*chain("0001", "0002"), revision("0014", None), revision("0015", ("0002", "0014"))]
    found = findings("MD004", files)
    assert where(found) == [("0001", WARNING), ("0014", WARNING)] and default_severity("MD004") is WARNING
    by_revision = {d.revision: d for d in found}
    assert_mentions(by_revision["0001"], "'0001'", "0014 (versions/0014_change.py)")


@pytest.mark.parametrize(
    "files",
    [
        pytest.param(chain("0001", "0002"), id="one-base"),
        pytest.param(
            [revision("s1", None, labels=("shop",)), revision("a1", None, labels=("audit",))],
            id="labelled-branches-own-bases",
        ),
    ],
)
def test_md004_silent(files):
    assert findings("MD004", files) == []


# -- MD005 cycle ----------------------------------------------------------------------


def test_md005_loop_after_a_hand_rebase_is_named_in_upgrade_order():
    files = [
        *chain("0001", "0002"),
        revision("0003", "0005"),
        revision("0004", "0003"),
        revision("0005", "0004"),
    ]
    (found,) = findings("MD005", files)
    assert (found.revision, found.severity) == ("0003", ERROR)
    assert_mentions(found, "3 revisions", "0003 -> 0004 -> 0005 -> 0003")


def test_md005_depends_on_loop_counts_too():
    files = [*chain("0001", "0002"), revision("0003", "0002", depends_on="0004"), revision("0004", "0003")]
    (found,) = findings("MD005", files)
    assert_mentions(found, "0003 -> 0004 -> 0003")


def test_md005_depends_on_empty_string_on_a_base_with_a_child():
    files = [revision("0001", None, depends_literal='""'), revision("0002", "0001")]
    (found,) = findings("MD005", files)
    assert (found.revision, found.severity) == ("0001", ERROR)
    assert_mentions(found, 'depends_on = ""', "base", "depends_on = None")


def test_md005_depends_on_empty_string_on_a_lone_base():
    (found,) = findings("MD005", [revision("0001", None, depends_literal='""')])
    assert found.revision == "0001"


@pytest.mark.parametrize(
    "files",
    [
        # Alembic builds these maps: "" on a revision with a down_revision is no dependency
        pytest.param(
            [*chain("0001"), revision("0002", "0001", depends_literal='""'), revision("0003", "0002")], id="mid-chain"
        ),
        pytest.param([*chain("0001"), revision("0002", "0001", depends_literal='""')], id="head"),
    ],
)
def test_md005_depends_on_empty_string_below_a_parent_is_silent(files):
    assert findings("MD005", files) == []


def test_md005_acyclic_merge_is_silent():
    files = [*chain("0001"), revision("0002a", "0001"), revision("0002b", "0001"), revision("0003", ("0002a", "0002b"))]
    assert findings("MD005", files) == []


# -- MD008 branch-label-conflict ------------------------------------------------------


def test_md008_label_used_twice_reports_the_second_user():
    files = [
        revision("0001", None),
        revision("0003", "0001", labels=("billing",)),
        revision("0010", "0003", labels=("billing",)),
    ]
    (found,) = findings("MD008", files)
    assert (found.revision, found.severity) == ("0010", ERROR)
    assert_mentions(found, "'billing'", "versions/0003_change.py", "0003")


def test_md008_label_equal_to_a_revision_id():
    files = [revision("0001", None), revision("0002", "0001", labels=("0001",))]
    (found,) = findings("MD008", files)
    assert found.revision == "0002"
    assert_mentions(found, "'0001'", "versions/0001_change.py")


def test_md008_distinct_labels_are_silent():
    files = [revision("s1", None, labels=("shop",)), revision("a1", None, labels=("audit", "logs"))]
    assert findings("MD008", files) == []


# -- MD010 unreadable-revision --------------------------------------------------------


GOOD = source("0002", "0001")


@pytest.mark.parametrize(
    ("data", "fact"),
    [
        pytest.param(GOOD.replace("def upgrade():", "def upgrade(:"), "syntax error", id="syntax-error"),
        pytest.param(GOOD.replace("revision = '0002'", "revision = make_revision_id()"), "revision", id="computed-id"),
        pytest.param(GOOD.replace("down_revision = '0001'\n", ""), "down_revision", id="no-down-revision"),
        pytest.param(GOOD.encode() + b"\x00\x00", "NUL", id="nul-bytes"),
        pytest.param(GOOD.replace("add things", "caf\xe9").encode("latin-1"), "undecodable", id="latin-1-bytes"),
        pytest.param(GOOD.split("\n\ndef upgrade")[0] + "\n", "no upgrade()", id="cut-off-no-upgrade"),
    ],
)
def test_md010_unreadable(data, fact):
    files = [revision("0001", None), from_source("versions/0002_broken.py", data)]
    (found,) = findings("MD010", files)
    assert (found.file, found.severity) == ("versions/0002_broken.py", ERROR)
    assert_mentions(found, fact)


@pytest.mark.parametrize(
    "data",
    [
        pytest.param(GOOD, id="template"),
        pytest.param("# -*- coding: latin-1 -*-\n" + GOOD.replace("add things", "caf\xe9"), id="latin-1-with-cookie"),
        pytest.param("\ufeff" + GOOD, id="utf-8-bom"),
    ],
)
def test_md010_silent(data):
    raw = data.encode("latin-1") if "latin-1" in data else data.encode("utf-8")
    assert findings("MD010", [revision("0001", None), from_source("versions/0002_ok.py", raw)]) == []


# -- MD014 stray-file -----------------------------------------------------------------


def test_md014_helper_module_in_the_versions_folder():
    files = [*chain("0001"), from_source("versions/helpers.py", "def now():\n    return 1\n")]
    (found,) = findings("MD014", files)
    assert (found.file, found.severity, found.revision) == ("versions/helpers.py", ERROR, None)
    assert_mentions(found, "helpers.py", "Could not determine revision id")


def test_md014_legacy_hex_file_name_is_info():
    files = [*chain("0001"), from_source("versions/1a2b3c4d.py", "def upgrade():\n    pass\n")]
    (found,) = findings("MD014", files)
    assert (found.file, found.severity) == ("versions/1a2b3c4d.py", INFO)
    assert_mentions(found, "legacy")


def test_md014_revisions_only_is_silent():
    assert findings("MD014", chain("0001", "0002")) == []


# -- MD018 redundant-merge-parent -----------------------------------------------------


def test_md018_merge_listing_a_parent_already_reachable_through_the_other():
    files = [*chain("0001", "0002", "0003", "0004"), revision("0005", ("0004", "0002"))]
    (found,) = findings("MD018", files)
    assert (found.revision, found.severity) == ("0005", WARNING)
    assert_mentions(found, "'0002'", "'0004'")
    assert found.related == ("versions/0002_change.py",)


def test_md018_redundant_parent_through_a_longer_second_branch():
    # The redundant parent is the SECOND one listed, reachable through the first.
    files = [*chain("0001", "0002"), revision("0003", "0002"), revision("0004", ("0003", "0001"))]
    (found,) = findings("MD018", files)
    assert_mentions(found, "'0001'", "'0003'")


def test_md018_a_real_merge_is_silent():
    files = [*chain("0001"), revision("0002a", "0001"), revision("0002b", "0001"), revision("0003", ("0002a", "0002b"))]
    assert findings("MD018", files) == []


def test_md018_stays_silent_on_a_graph_with_a_cycle():
    """Kills the mutation "MD018 without its cycle guard": ancestry is undefined in
    a loop (MD005's finding), so a merge inside one must neither crash the check
    nor be called redundant."""
    files = [
        *chain("0001"),
        revision("0002", ("0001", "0004")),
        revision("0003", "0002"),
        revision("0004", "0003"),
    ]
    assert findings("MD005", files), "the case must really hold a cycle"
    assert findings("MD018", files) == []


# -- MD019 unresolved-value -----------------------------------------------------------


@pytest.mark.parametrize(
    ("options", "fact"),
    [
        pytest.param(
            {"labels_literal": "tuple(LABELS)", "prelude": "from app import LABELS"}, "branch_labels", id="labels"
        ),
        pytest.param({"depends_literal": "deps.ALL", "prelude": "from app import deps"}, "depends_on", id="depends-on"),
    ],
)
def test_md019_value_computed_at_import_time(options, fact):
    files = [*chain("0001"), revision("0002", "0001", **options)]
    (found,) = findings("MD019", files)
    assert (found.revision, found.severity) == ("0002", WARNING)
    assert_mentions(found, fact, "not a literal")


@pytest.mark.parametrize(
    "options",
    [
        pytest.param({"labels": ("shop",)}, id="literal-tuple"),
        pytest.param({"labels_literal": "()"}, id="empty-tuple"),
        pytest.param({"labels_literal": "[]"}, id="empty-list"),
        pytest.param(
            {"labels_literal": "(Branches.SHOP,)", "prelude": "class Branches:\n    SHOP = 'shop'"},
            id="class-constant-in-the-file",
        ),
        pytest.param({"depends_on": ("0001",)}, id="literal-depends-on"),
    ],
)
def test_md019_silent(options):
    files = [*chain("0001"), revision("0002", "0001", **options)]
    assert findings("MD019", files) == []
