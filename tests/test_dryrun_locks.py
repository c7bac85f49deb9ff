"""The measured lock report (MD025-MD028): each risk fixture draws exactly its findings on a
real PostgreSQL, each safe pattern draws none, and the pure classification on literal catalogs."""

from __future__ import annotations

import json
import re

import pytest
from click.testing import CliRunner
from golden import assert_golden

from migdoc.cli import cli
from migdoc.dryrun.locks import Catalog, LockRisk, Observation, Relation, RelationLock, measure, step_risks
from migdoc.model import FunctionBody, Operation

ENV = {"MIGDOC_DRYRUN_SERVER": ""}


def run(*args: str):
    return CliRunner().invoke(cli, list(args), env=ENV, catch_exceptions=False)


def dryrun_json(name: str, *more: str) -> dict:
    result = run("dryrun", name, "--format", "json", *more)
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def risks(payload: dict) -> list[tuple[str, str, int, str]]:
    return sorted((r["code"], r["revision"], r["line"], r["relation"]) for r in payload["lock_risks"])


def normalised_json(text: str) -> str:
    payload = json.loads(text)
    payload["database"] = "private PostgreSQL <version>"
    for step in payload["steps"]:
        step["seconds"] = 0
    return json.dumps(payload, indent=2) + "\n"


def normalised_text(text: str) -> str:
    text = re.sub(r"in \d+\.\d+ s on private PostgreSQL [^\n]*", "in <seconds> s on private PostgreSQL <version>", text)
    return text


# -- on PostgreSQL -------------------------------------------------------------------------

EXPECTED = {
    # fixture: (code, revision, line of the op.* call, relation)
    "md025_blocking_index": [("MD025", "0002", 18, "orders")],
    "md026_table_rewrite": [("MD026", "0002", 18, "orders")],
    "md027_validated_constraint": [
        ("MD027", "0002", 18, "orders"),  # the foreign key
        ("MD027", "0002", 21, "orders"),  # the CHECK
        ("MD027", "0003", 19, "orders"),  # SET NOT NULL after the UPDATE on line 18
    ],
    # 0003's ALTER TYPE ... ADD VALUE locks the type only: no finding; 0004 reads orders (ACCESS
    # SHARE) to build a materialized view; 0005 refreshes it without CONCURRENTLY
    # 0002's add_column takes ACCESS EXCLUSIVE for an instant: no finding (MD029 is the project's)
    "md028_exclusive_lock": [("MD028", "0005", 19, "order_totals")],
    "dryrun_locks_safe": [],
    "dryrun_locks_timeout_in_migration": [],
    "dryrun_locks_healthy": [],
}


@pytest.mark.postgres
@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_each_fixture_draws_exactly_its_measured_risks(name, copy_fixture, pg_binaries):
    copy_fixture(name)
    payload = dryrun_json(name)
    assert payload["ok"] is True
    assert risks(payload) == EXPECTED[name]
    upgrades = [s for s in payload["steps"] if s["phase"] == "upgrade"]
    assert all("locks" in s for s in upgrades)  # every upgrade step was measured
    assert upgrades[0]["locks"] == []  # the first revision: nothing existed before it
    assert all("locks" not in s for s in payload["steps"] if s["phase"] != "upgrade")
    for risk in payload["lock_risks"]:
        assert risk["file"].startswith(f"{name}/migrations/versions/{risk['revision']}_")


@pytest.mark.postgres
def test_safe_patterns_are_measured_not_skipped(copy_fixture, pg_binaries):
    """The safe chain draws nothing because of what was measured: its ALTERs hold ACCESS
    EXCLUSIVE under env.py's lock_timeout, the concurrent index holds no lock at commit, the
    VALIDATE holds SHARE UPDATE EXCLUSIVE, and NOT NULL over a validated CHECK is no scan."""
    copy_fixture("dryrun_locks_safe")
    payload = dryrun_json("dryrun_locks_safe")
    by_revision = {
        s["revision"]: {lock["relation"]: lock for lock in s["locks"]} for s in payload["steps"] if "locks" in s
    }
    orders = {revision: locks.get("orders") for revision, locks in by_revision.items()}
    assert orders["0002"]["mode"] == "AccessExclusiveLock" and orders["0002"]["without_lock_timeout"] is False
    assert orders["0004"] is None  # CREATE INDEX CONCURRENTLY in autocommit_block
    assert orders["0005"]["validated"] == []  # NOT VALID
    assert orders["0006"]["mode"] == "ShareUpdateExclusiveLock"
    assert orders["0007"]["mode"] == "AccessExclusiveLock" and orders["0007"]["validated"] == []


@pytest.mark.postgres
def test_lock_timeout_set_by_the_migration_silences_md028_and_only_it(copy_fixture, pg_binaries):
    root = copy_fixture("dryrun_locks_timeout_in_migration")
    payload = dryrun_json("dryrun_locks_timeout_in_migration")
    assert risks(payload) == []
    version = root / "migrations" / "versions" / "0002_orders_add_channel.py"
    version.write_text(version.read_text().replace("op.execute(\"SET LOCAL lock_timeout = '3s'\")\n", ""))
    assert risks(dryrun_json("dryrun_locks_timeout_in_migration")) == [
        ("MD028", "0002", 19, "orders")
    ]  # the LOCK TABLE


@pytest.mark.postgres
def test_upgrades_only_run_is_measured_too(copy_fixture, pg_binaries):
    copy_fixture("md027_validated_constraint")
    payload = dryrun_json("md027_validated_constraint", "--no-downgrade")
    assert risks(payload) == EXPECTED["md027_validated_constraint"]


@pytest.mark.postgres
def test_env_py_that_commits_its_own_transaction_after_the_step(copy_fixture, pg_binaries):
    """``with engine.begin() as connection:``: Alembic commits nothing, env.py commits after the
    step. The stairway (one step per env.py run) still measures it; one transaction around all
    upgrades (--no-downgrade) hides every change until the end, and a note says so."""
    root = copy_fixture("md025_blocking_index")
    env = root / "migrations" / "env.py"
    env.write_text(env.read_text().replace("connectable.connect() as", "connectable.begin() as"))
    payload = dryrun_json("md025_blocking_index")
    assert risks(payload) == EXPECTED["md025_blocking_index"] and payload["notes"] == []
    payload = dryrun_json("md025_blocking_index", "--no-downgrade")
    assert risks(payload) == []
    assert any(
        note.startswith("the lock report is incomplete: env.py keeps one transaction") for note in payload["notes"]
    )


@pytest.mark.postgres
def test_json_and_text_with_the_lock_table_match_golden(copy_fixture, pg_binaries):
    copy_fixture("md025_blocking_index")
    result = run("dryrun", "md025_blocking_index", "--format", "json")
    assert result.exit_code == 0, result.output
    assert_golden("dryrun/locks_md025.json", normalised_json(result.stdout))
    result = run("dryrun", "md025_blocking_index", "--locks")
    assert result.exit_code == 0, result.output
    assert_golden("dryrun/locks_md025.txt", normalised_text(result.stdout))


@pytest.mark.postgres
def test_check_dryrun_reports_measured_risks_as_diagnostics(copy_fixture, pg_binaries):
    copy_fixture("md026_table_rewrite")
    result = run("check", "md026_table_rewrite", "--dryrun", "--format", "json")
    assert result.exit_code == 0, result.output  # a warning: no error-level finding
    payload = json.loads(result.stdout)
    [md026] = [d for d in payload["diagnostics"] if d["code"] == "MD026"]
    assert md026["name"] == "table-rewrite" and md026["severity"] == "warning"
    assert (md026["revision"], md026["line"]) == ("0002", 18)
    assert md026["file"] == "md026_table_rewrite/migrations/versions/0002_amount_to_numeric.py"
    assert "rewrites orders under ACCESS EXCLUSIVE (column type change)" in md026["message"]
    assert payload["summary"]["warnings"] == 1
    github = run("check", "md026_table_rewrite", "--dryrun", "--format", "github")
    assert "::warning file=md026_table_rewrite/migrations/versions/0002_amount_to_numeric.py,line=18" in github.stdout


# -- the pure part -------------------------------------------------------------------------

ORDERS, CUSTOMERS, IX = 100, 200, 300


def catalog(*, relations=None, constraints=None, columns=None, proved=frozenset()) -> Catalog:
    base = {ORDERS: Relation("orders", "table", 1), CUSTOMERS: Relation("customers", "table", 2)}
    return Catalog({**base, **(relations or {})}, constraints or {}, proved, columns or {})


def test_a_new_index_counts_only_when_its_table_was_locked_against_writes():
    before = catalog()
    after = catalog(relations={IX: Relation("ix_orders_placed_at", "index", 9, ORDERS)})
    [lock] = measure(before, after, [Observation({ORDERS: "ShareLock"}, 0)])
    assert lock.index_built == "ix_orders_placed_at"
    # concurrently: the table held nothing at commit
    assert measure(before, after, [Observation({}, 0)]) == ()


def test_an_index_on_a_table_made_in_the_same_step_is_nothing():
    new_table = 400
    after = catalog(
        relations={new_table: Relation("audit", "table", 7), IX: Relation("ix_audit", "index", 9, new_table)}
    )
    assert measure(catalog(), after, [Observation({new_table: "AccessExclusiveLock"}, 0)]) == ()


def test_rewrite_validation_and_not_null():
    before = catalog(columns={(ORDERS, "amount"): False, (ORDERS, "note"): False})
    after = Catalog(
        {ORDERS: Relation("orders", "table", 5), CUSTOMERS: Relation("customers", "table", 2)},
        {(ORDERS, "fk_x"): ("f", True, 0, 11), (ORDERS, "ck_y"): ("c", False, 0, 12)},
        frozenset(),
        {(ORDERS, "amount"): True, (ORDERS, "note"): False, (ORDERS, "added"): True},
    )
    [lock] = measure(before, after, [Observation({ORDERS: "AccessExclusiveLock"}, 0)])
    assert lock.rewritten and lock.is_unguarded
    assert lock.validated == ("fk_x (FOREIGN KEY)", "NOT NULL amount")  # ck_y is NOT VALID; "added" is new


def test_a_primary_key_made_again_under_its_old_name_is_a_validation_not_an_index_build():
    pkey = 500
    before = catalog(
        relations={pkey: Relation("metric_pk", "index", 8, ORDERS)},
        constraints={(ORDERS, "metric_pk"): ("p", True, pkey, 21)},
    )
    after = catalog(
        relations={pkey + 1: Relation("metric_pk", "index", 9, ORDERS)},
        constraints={(ORDERS, "metric_pk"): ("p", True, pkey + 1, 22)},
    )
    [lock] = measure(before, after, [Observation({ORDERS: "AccessExclusiveLock"}, 0)])
    assert lock.index_built is None and lock.validated == ("metric_pk (PRIMARY KEY)",)


def test_not_null_over_a_validated_check_is_no_scan():
    before = catalog(columns={(ORDERS, "channel"): False}, proved=frozenset({(ORDERS, "channel")}))
    after = catalog(columns={(ORDERS, "channel"): True})
    [lock] = measure(before, after, [Observation({ORDERS: "AccessExclusiveLock"}, 5000)])
    assert lock.validated == () and not lock.is_unguarded


def test_the_version_table_and_its_index_are_left_out():
    before = catalog(
        relations={
            7: Relation("alembic_version", "table", 3),
            8: Relation("alembic_version_pkc", "index", 4, 7),
        }
    )
    locks = measure(
        before, before, [Observation({7: "RowExclusiveLock", 8: "RowExclusiveLock"}, 0)], ["alembic_version"]
    )
    assert locks == ()


BODY = FunctionBody(
    line=16,
    fingerprint="",
    does_work=True,
    only_raises=False,
    operations=(
        Operation("execute", 17, name="UPDATE orders SET note = ''", is_certain=False),
        Operation("create_index", 18, table="orders", name="ix_a"),
        Operation("create_index", 19, table="orders", name="ix_b"),
        Operation("alter_column", 20, table="orders", name="note"),
        Operation("execute", 21, name="LOCK TABLE customers IN ACCESS EXCLUSIVE MODE", is_certain=False),
    ),
)


def test_risks_point_at_the_responsible_call_and_md028_gives_way():
    locks = [
        RelationLock("orders", "table", "AccessExclusiveLock", False, "ix_b", ("NOT NULL note",), True),
        RelationLock("customers", "table", "AccessExclusiveLock", False, None, (), True),
        RelationLock("customers_pkey", "index", "AccessExclusiveLock", False, None, (), True),
        RelationLock("invoices", "table", "AccessExclusiveLock", False, None, (), False),
    ]
    found = step_risks("0002", "v/0002.py", BODY, locks)
    assert [(r.code, r.line, r.relation) for r in found] == [
        ("MD025", 19, "orders"),  # the call that builds ix_b, not ix_a
        ("MD027", 20, "orders"),
        ("MD028", 21, "customers"),  # locked by hand: the LOCK TABLE statement
    ]  # not MD028 on orders (reported), the index, or invoices (lock_timeout set)
    assert all(isinstance(r, LockRisk) for r in found)
    assert "postgresql_concurrently=True" in found[0].message and "NOT VALID" in found[1].message


def test_a_truncated_table_is_an_exclusive_lock_not_a_rewrite():
    body = FunctionBody(
        16, "", True, False, (Operation("execute", 17, name="TRUNCATE TABLE order_events", is_certain=False),)
    )
    truncated = RelationLock("order_events", "table", "AccessExclusiveLock", True, None, (), True)
    [risk] = step_risks("0003", "v/0003.py", body, [truncated])
    assert (risk.code, risk.line) == ("MD028", 17)
    copied = RelationLock("orders", "table", "AccessExclusiveLock", True, None, (), True)
    assert [r.code for r in step_risks("0003", "v/0003.py", body, [copied])] == ["MD026"]


def test_a_unique_or_primary_key_constraint_added_in_place_is_an_index_build():
    """Its index is built under the lock as a plain CREATE INDEX is: MD025 and the concurrent
    index's remedy, as the static side reads the same call; a foreign key stays MD027."""
    lock = RelationLock(
        "orders", "table", "AccessExclusiveLock", validated=("uq_orders_ref (UNIQUE)", "fk_x (FOREIGN KEY)")
    )
    found = step_risks("0002", "v/0002.py", None, [lock])
    assert [(r.code, r.relation) for r in found] == [("MD025", "orders"), ("MD027", "orders")]
    assert "USING INDEX" in found[0].message and "uq_orders_ref (UNIQUE)" in found[0].message


@pytest.mark.postgres
def test_the_project_lock_timeout_is_set_on_every_connection_and_silences_md028(copy_fixture, pg_binaries):
    """``[tool.migdoc] lock_timeout``: the dry-run sets it as production would, so the step's
    measured lock is guarded; without it the same lock is MD028."""
    root = copy_fixture("md028_exclusive_lock")
    assert ("MD028", "0005", 19, "order_totals") in risks(dryrun_json("md028_exclusive_lock", "--no-downgrade"))
    (root / "pyproject.toml").write_text('[tool.migdoc]\nlock_timeout = "2s"\n')
    payload = dryrun_json("md028_exclusive_lock", "--no-downgrade")
    assert [r for r in risks(payload) if r[0] == "MD028"] == []
    [step] = [s for s in payload["steps"] if s["revision"] == "0005" and s["phase"] == "upgrade"]
    [view] = [lock for lock in step["locks"] if lock["relation"] == "order_totals"]
    assert view["mode"] == "AccessExclusiveLock" and view["without_lock_timeout"] is False


def test_from_the_deployed_database_each_risk_carries_its_table_size():
    from migdoc.dryrun.locks import sized_risks

    rewrite = LockRisk("MD026", "0002", "v/0002.py", 18, "orders", "rewrites orders under ACCESS EXCLUSIVE (...)")
    index = LockRisk("MD025", "0003", "v/0003.py", 9, "orders_archive", "CREATE INDEX ix on orders_archive ...")
    unknown = LockRisk("MD028", "0004", "v/0004.py", 7, "audit", "takes ACCESS EXCLUSIVE on audit ...")
    sized = sized_risks([rewrite, index, unknown], {"orders": (12_000_000, 90_000), "orders_archive": (-1, 3)})
    assert [r.message for r in sized] == [
        "rewrites orders (~12M rows in the deployed database) under ACCESS EXCLUSIVE (...)",
        "CREATE INDEX ix on orders_archive (3 pages, never analysed in the deployed database) ...",
        "takes ACCESS EXCLUSIVE on audit ...",
    ]
    assert sized_risks([rewrite], None) == [rewrite]


@pytest.mark.postgres
def test_check_dryrun_text_prints_a_confirmed_risk_once(copy_fixture, pg_binaries):
    """The static finding is printed before the dry-run runs; the measurement that says the same
    (code, revision, line) is not printed again after it. One the static side missed still is."""
    copy_fixture("md025_blocking_index")
    out = run("check", "--dryrun", "md025_blocking_index").output
    assert out.count("MD025 blocking-index [0002]") == 1 and "dry-run passed" in out
    root = copy_fixture("md028_exclusive_lock")
    assert root.is_dir()
    out = run("check", "--dryrun", "md028_exclusive_lock", "--no-downgrade").output
    # 0005's REFRESH, read by check and confirmed by the measurement: once; 0002's instant
    # ALTERs under ACCESS EXCLUSIVE are no finding of either
    assert out.count("MD028 exclusive-lock [0005]") == 1 and "[0002]" not in out


@pytest.mark.postgres
def test_measured_risks_honour_ignore_choices_as_static_findings_do(copy_fixture, pg_binaries):
    root = copy_fixture("md028_exclusive_lock")
    version = root / "migrations" / "versions" / "0005_refresh_order_totals.py"
    assert ("MD028", "0005", 19, "order_totals") in risks(dryrun_json("md028_exclusive_lock"))
    version.write_text(version.read_text() + "\n# migdoc: ignore[MD028]\n")
    assert not [r for r in risks(dryrun_json("md028_exclusive_lock")) if r[1] == "0005"]  # the file's own comment
    version.write_text(version.read_text().replace("\n# migdoc: ignore[MD028]\n", "\n"))
    (root / "pyproject.toml").write_text('[tool.migdoc]\nignore = ["exclusive-lock"]\n')
    assert risks(dryrun_json("md028_exclusive_lock")) == []
    (root / "pyproject.toml").unlink()
    result = run("check", "--dryrun", "md028_exclusive_lock", "--ignore", "MD028", "--format", "json")
    assert not [d for d in json.loads(result.stdout)["diagnostics"] if d["code"] == "MD028"], result.output
