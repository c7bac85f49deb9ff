"""`migdoc fix` proves a plan on the planned tree before it is shown as an option or
written: Alembic's RevisionMap, migdoc's own rules, and (before --apply) an upgrade from
base to heads on a throwaway PostgreSQL. Merge files come from the project's own template,
rendered only when the user asked for a write."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest
from click.testing import CliRunner
from fixhelp import NOW, snapshot

from migdoc import doctor
from migdoc.chain.graph import build_graph
from migdoc.cli import cli
from migdoc.errors import ApplyError, EnvironmentProblem
from migdoc.fix.planner import PlanContext
from migdoc.fix.planner.verify import is_proved, planned_files, prove_plan, prove_statically
from migdoc.model import CreateFile, EditText, Plan, Severity
from migdoc.project.reader import read_revision
from migdoc.rules import CheckContext, run_checks

VERSIONS = "/p/versions"


def run(*args: str):
    return CliRunner().invoke(cli, list(args))


# -- the static proofs, on literal revisions ---------------------------------------


def revision_text(revision: str, down: str | tuple[str, ...] | None, upgrade: str = "pass") -> str:
    return (
        f"revision = {revision!r}\ndown_revision = {down!r}\nbranch_labels = None\ndepends_on = None\n\n\n"
        f"def upgrade():\n    {upgrade}\n\n\ndef downgrade():\n    pass\n"
    )


def context_of(*texts: tuple[str, str]) -> PlanContext:
    """A two-head chain (or whatever ``texts`` say), as the edges would hand it to the planner."""
    files = tuple(read_revision(f"{VERSIONS}/{name}", text.encode()) for name, text in texts)
    graph = build_graph(files)
    diagnostics = run_checks(CheckContext(graph=graph)).diagnostics
    return PlanContext(
        graph=graph,
        diagnostics=diagnostics,
        sources={f"{VERSIONS}/{name}": text for name, text in texts},
        version_dirs=(VERSIONS,),
        archive_root="/p/archive",
    )


TWO_HEADS = (
    ("a1_users.py", revision_text("a1", None, 'op.create_table("users", sa.Column("id", sa.Integer()))')),
    ("b2_left.py", revision_text("b2", "a1")),
    ("c3_right.py", revision_text("c3", "a1")),
)


def create(name: str, text: str, revision: str) -> CreateFile:
    return CreateFile(path=f"{VERSIONS}/{name}", content=text, reason="test", answers=("MD003",), revision=revision)


def test_a_merge_of_the_two_heads_is_proved():
    context = context_of(*TWO_HEADS)
    plan = Plan(("merge",), actions=(create("d4_merge.py", revision_text("d4", ("b2", "c3")), "d4"),))
    proofs = prove_plan(context, plan)
    assert [(p.name, p.ok) for p in proofs] == [("revision-map", True), ("no-new-errors", True)]
    assert "heads d4" in proofs[0].why
    assert is_proved(plan, context)


def test_a_new_file_declaring_an_existing_id_is_refused_by_alembics_revision_map():
    context = context_of(*TWO_HEADS)
    plan = Plan(("merge",), actions=(create("b2_again.py", revision_text("b2", "a1"), "b2"),))
    (revision_map, _) = prove_plan(context, plan)
    assert revision_map.ok is False and "Revision b2 is present more than once" in revision_map.why
    assert not is_proved(plan, context)
    looped = Plan(("merge",), actions=(create("b2_loop.py", revision_text("b2", ("b2", "c3")), "b2"),))
    (revision_map, _) = prove_plan(context, looped)
    assert revision_map.ok is False and "Self-loop" in revision_map.why


def test_an_edit_that_closes_a_loop_is_refused_by_alembics_revision_map():
    context = context_of(*TWO_HEADS)
    old = context.sources[f"{VERSIONS}/a1_users.py"]
    new = old.replace("down_revision = None", "down_revision = 'b2'")
    edit = EditText(
        path=f"{VERSIONS}/a1_users.py",
        old_sha256="x",
        edits=(),
        old_text=old,
        new_text=new,
        reason="test",
        revision="a1",
    )
    (revision_map, no_new_errors) = prove_plan(context, Plan(("relink",), actions=(edit,)))
    assert revision_map.ok is False and "RevisionMap refuses" in revision_map.why
    assert no_new_errors.ok is False and "MD005" in no_new_errors.why


def test_a_merge_that_leaves_a_head_is_refused_for_the_heads_it_promised():
    context = context_of(*TWO_HEADS, ("e5_third.py", revision_text("e5", "a1")))
    plan = Plan(("merge",), actions=(create("d4_merge.py", revision_text("d4", ("b2", "c3")), "d4"),))
    (revision_map, _) = prove_plan(context, plan)
    assert revision_map.ok is False and "one head" in revision_map.why and "e5" in revision_map.why


def test_a_new_error_alembic_accepts_is_refused_by_migdocs_rules():
    context = context_of(*TWO_HEADS)
    repeat = revision_text("d4", ("b2", "c3"), 'op.create_table("users", sa.Column("id", sa.Integer()))')
    plan = Plan(("merge",), actions=(create("d4_merge.py", repeat, "d4"),))
    (revision_map, no_new_errors) = prove_plan(context, plan)
    assert revision_map.ok is True
    assert no_new_errors.ok is False and "MD012 on d4" in no_new_errors.why
    refused = prove_statically(context, plan)
    assert refused.refusal is not None and "no-new-errors" in refused.refusal.message
    assert refused.actions == plan.actions  # kept whole: what was refused can be read
    assert not is_proved(refused)


def test_the_planned_tree_reads_a_file_still_to_be_rendered_from_the_revision_it_will_declare():
    context = replace(context_of(*TWO_HEADS), script_template_path="/p/script.py.mako")
    plan = plan_for_context(context)
    (created,) = plan.actions
    assert created.template is not None and "def upgrade" not in created.content  # a preview
    merged = [rf for rf in planned_files(context, plan) if rf.revision == created.revision]
    assert [rf.down_revisions for rf in merged] == [("b2", "c3")]


def plan_for_context(context: PlanContext) -> Plan:
    from migdoc.fix.planner import plan_repairs
    from migdoc.model import FixOptions

    return plan_repairs(context, FixOptions(is_merge=True, now=NOW))


def test_a_merge_without_the_projects_template_is_refused_never_written_from_another():
    plan = plan_for_context(context_of(*TWO_HEADS))
    assert not plan.actions and "no script.py.mako" in plan.unresolved[0]


# -- the overview: every plan shown is proved, a refuted one is shown refused -------------


def test_the_overview_refuses_a_merge_alembic_would_warn_about_and_proves_the_archive(copy_fixture):
    copy_fixture("fix_story")
    result = run("fix", "fix_story", "--format", "json")
    proposals = json.loads(result.output)["proposals"]
    merge, archive = proposals["merge"], proposals["archive"]
    assert merge["refused"] is not None and "present more than once" in merge["refused"]["message"]
    assert [(p["name"], p["ok"]) for p in merge["proofs"]] == [("revision-map", False), ("no-new-errors", True)]
    assert "refused" not in archive and all(p["ok"] for p in archive["proofs"])
    text = run("fix", "fix_story").output
    assert (
        "NOT PROVED: revision-map: Alembic warns on the planned chain: Revision 0025 is present more than once" in text
    )


# -- the database proof before --apply writes ------------------------------------


@pytest.mark.postgres
def test_apply_refuses_an_archive_whose_upgrade_fails_naming_revision_and_statement(copy_fixture, pg_binaries):
    root = copy_fixture("fix_proof_archive_copy")
    before = snapshot(root)
    # the static proofs pass: only the database knows 0024 indexes a column the kept copy lacks
    assert run("fix", "--archive", "fix_proof_archive_copy").exit_code == 1
    result = run("fix", "--archive", "--apply", "--format", "json", "fix_proof_archive_copy")
    assert result.exit_code == 1, result.output
    proofs = {p["name"]: p for p in json.loads(result.stdout)["proofs"]}
    assert proofs["revision-map"]["ok"] and proofs["no-new-errors"]["ok"]
    upgrade = proofs["upgrade"]
    assert upgrade["ok"] is False and upgrade["revision"] == "0024"
    assert upgrade["error"] == 'column "flags" does not exist'
    assert upgrade["statement"] == "CREATE INDEX ix_channels_flags ON channels (flags)"
    assert "not applied: the upgrade proof failed: upgrade of 0024" in result.stderr
    assert "[SQL: CREATE INDEX ix_channels_flags ON channels (flags)]" in result.stderr
    assert "--no-verify skips the database proof" in result.stderr
    assert snapshot(root) == before  # nothing written, not even a journal


@pytest.mark.postgres
def test_no_verify_skips_the_database_proof_and_says_so(copy_fixture, pg_server):
    root = copy_fixture("fix_proof_archive_copy")
    result = run("fix", "--archive", "--apply", "--no-verify", "fix_proof_archive_copy")
    assert result.exit_code == 0, result.output
    assert "not run: upgrade: --no-verify: the database proof was skipped" in result.stdout
    assert "applied 2 actions" in result.stderr
    assert not (root / "migrations" / "versions" / "0023_add_channel_flags.py").exists()


def test_an_archive_that_strands_a_kept_revision_is_refused_statically_even_without_the_database(copy_fixture):
    """The same shape written with op.create_index: the replay sees that 0024 needs
    channels.flags, which only the copy being archived adds (MD022), so the plan is refused
    before any database is asked, --no-verify or not."""
    root = copy_fixture("fix_proof_archive_copy")
    index = root / "migrations" / "versions" / "0024_index_channel_flags.py"
    index.write_text(
        index.read_text().replace(
            'op.execute("CREATE INDEX ix_channels_flags ON channels (flags)")',
            'op.create_index("ix_channels_flags", "channels", ["flags"])',
        )
    )
    before = snapshot(root)
    result = run("fix", "--archive", "--apply", "--no-verify", "fix_proof_archive_copy")
    assert result.exit_code == 1, result.output
    assert "NOT PROVED: no-new-errors: the planned chain has new error-level findings: MD022 on 0024" in result.output
    assert snapshot(root) == before


def test_without_a_postgresql_the_database_proof_did_not_run_and_the_fix_applies(copy_fixture, monkeypatch):
    import migdoc.dryrun.server as server

    def no_binaries(pg_bindir=None):
        raise EnvironmentProblem("no PostgreSQL server binaries found", needs="initdb")

    monkeypatch.setattr(server, "find_binaries", no_binaries)
    root = copy_fixture("fix_merge")
    result = run("fix", "--merge", "--apply", "fix_merge")
    assert result.exit_code == 0, result.output
    assert "not run: upgrade: the database proof did not run: no PostgreSQL server binaries found" in result.stdout
    assert (root / "migrations" / "versions" / "0005_merge_heads.py").is_file()


def test_a_named_server_that_cannot_be_reached_is_an_error_not_a_skipped_proof(copy_fixture):
    root = copy_fixture("fix_merge")
    before = snapshot(root)
    result = run("fix", "--merge", "--apply", "--pg-bindir", str(root / "nowhere"), "fix_merge")
    assert result.exit_code == 2 and result.stderr.startswith("migdoc: error: ")
    assert "Traceback" not in result.output
    assert snapshot(root) == before


# -- merge files from the project's own template ----------------------------------


def alembic_merge(root: Path, monkeypatch, rev_id: str, message: str) -> bytes:
    """What `alembic merge heads` writes on ``root`` at the fixed clock."""
    from alembic import command
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    monkeypatch.setattr(ScriptDirectory, "_generate_create_date", lambda self: NOW)
    monkeypatch.chdir(root)
    command.merge(Config(str(root / "alembic.ini")), "heads", message=message, rev_id=rev_id)
    (written,) = (root / "migrations" / "versions").glob(f"{rev_id}_*.py")
    return written.read_bytes()


@pytest.mark.postgres
def test_a_multidb_merge_is_byte_for_byte_what_alembic_merge_writes_and_runs(
    copy_fixture, tmp_path, monkeypatch, pg_server
):
    import shutil

    root = copy_fixture("fix_merge_multidb")
    reference = tmp_path / "by_alembic"
    shutil.copytree(root, reference)
    expected = alembic_merge(reference, monkeypatch, "0003", "merge heads")
    monkeypatch.chdir(tmp_path)

    project = doctor.load_project("fix_merge_multidb")
    proposal = doctor.plan_fix(project, doctor.FixOptions(is_merge=True, rev_id="0003", now=NOW))
    proposal = doctor.prove_fix(project, proposal, server_url=pg_server.url)
    assert [(p.name, p.ok) for p in proposal.plan.proofs] == [
        ("revision-map", True),
        ("no-new-errors", True),
        ("upgrade", True),
    ]
    doctor.apply_fix(project, proposal)
    written = (root / "migrations" / "versions" / "0003_merge_heads.py").read_bytes()
    assert b"def upgrade(engine_name):" in written
    assert written == expected


@pytest.mark.postgres
def test_a_merge_file_from_alembics_generic_template_is_caught_by_the_upgrade(copy_fixture, monkeypatch, pg_server):
    """The issue: a merge written as `def upgrade() -> None` on a dispatcher project raised
    TypeError on a real run; the database proof refuses such a file."""
    copy_fixture("fix_merge_multidb")
    project = doctor.load_project("fix_merge_multidb")
    proposal = doctor.plan_fix(project, doctor.FixOptions(is_merge=True, rev_id="0003", now=NOW))
    generic = revision_text("0003", ("0002a", "0002b"))  # `def upgrade():` as a built-in template writes it
    (merge,) = proposal.plan.actions
    monkeypatch.setattr(
        "migdoc.fix.plan_proof.render_templates",
        lambda layout, plan: replace(plan, actions=(replace(merge, content=generic, template=None),), proofs=()),
    )
    proved = doctor.prove_fix(project, proposal, server_url=pg_server.url)
    upgrade = proved.plan.proofs[-1]
    assert upgrade.name == "upgrade" and upgrade.ok is False and upgrade.revision == "0003"
    assert upgrade.error == "TypeError: upgrade() got an unexpected keyword argument 'engine_name'"
    with pytest.raises(ApplyError, match="the upgrade proof failed"):
        doctor.apply_fix(project, proved)


def test_a_preview_never_runs_the_template_only_apply_does(copy_fixture, monkeypatch):
    import migdoc.dryrun.server as server

    monkeypatch.setattr(
        server, "find_binaries", lambda pg_bindir=None: (_ for _ in ()).throw(EnvironmentProblem("none"))
    )
    root = copy_fixture("fix_merge")
    template = root / "migrations" / "script.py.mako"
    marker = root / "template-ran"
    template.write_text(f"<% __import__('pathlib').Path({str(marker)!r}).write_text('ran') %>" + template.read_text())
    for args in ([], ["--merge"], ["--merge", "--diff"], ["--merge", "--format", "json"]):
        shown = run("fix", *args, "fix_merge")
        assert shown.exit_code == 1 and not marker.exists(), args
    assert (
        "rendered at --apply from fix_merge/migrations/script.py.mako"
        in run("fix", "--merge", "--diff", "fix_merge").output
    )
    assert run("fix", "--merge", "--apply", "fix_merge").exit_code == 0
    assert marker.read_text() == "ran"


@pytest.mark.parametrize(
    ("template", "said"),
    [
        ('<%\n    names = config.get_main_option("databases").split(",")\n%>${message}\n', "rendering failed"),
        ("${message\n", "does not compile"),
        ('"""${message}"""\nrevision = "elsewhere"\n', "does not declare revision 0005"),
    ],
)
def test_a_template_that_cannot_render_the_merge_refuses_it_and_writes_nothing(copy_fixture, template, said):
    root = copy_fixture("fix_merge")
    (root / "migrations" / "script.py.mako").write_text(template)
    before = snapshot(root)
    result = run("fix", "--merge", "--apply", "fix_merge")
    assert result.exit_code == 2 and said in result.stderr and "nothing written" in result.stderr
    assert "Traceback" not in result.output
    assert snapshot(root) == before


def test_severity_of_new_errors_follows_the_project():
    """A finding the project turns down to a warning is not a new error for the proof."""
    context = context_of(*TWO_HEADS)
    repeat = revision_text("d4", ("b2", "c3"), 'op.create_table("users", sa.Column("id", sa.Integer()))')
    plan = Plan(("merge",), actions=(create("d4_merge.py", repeat, "d4"),))
    (_, no_new_errors) = prove_plan(context, plan, severity={"MD012": Severity.WARNING.value})
    assert no_new_errors.ok is True


@pytest.mark.postgres
def test_an_env_py_that_cannot_import_the_application_here_means_the_proof_did_not_run(copy_fixture, pg_binaries):
    root = copy_fixture("fix_merge")
    env = root / "migrations" / "env.py"
    env.write_text("import shopapp_not_installed  # the application, not installed here\n" + env.read_text())
    result = run("fix", "--merge", "--apply", "fix_merge")
    assert result.exit_code == 0, result.output
    (line,) = [line for line in result.stdout.splitlines() if "upgrade:" in line]
    assert line.startswith("  not run: upgrade: the database proof did not run:") and "shopapp_not_installed" in line
    assert "migdoc-proof-" not in result.output  # the temporary copy's paths are shown as the project's
    assert (root / "migrations" / "versions" / "0005_merge_heads.py").is_file()


def test_apply_of_a_plan_a_static_proof_refutes_writes_nothing(copy_fixture):
    root = copy_fixture("fix_story")
    before = snapshot(root)
    result = run("fix", "--merge", "--apply", "fix_story")
    assert result.exit_code == 1
    assert "not applied: the revision-map proof failed: Alembic warns on the planned chain" in result.stderr
    assert snapshot(root) == before


def test_the_planned_copy_never_writes_through_a_symlink_to_the_project(tmp_path):
    from migdoc.fix.plan_proof import planned_copy

    root = tmp_path / "p"
    versions = root / "migrations" / "versions"
    versions.mkdir(parents=True)
    (root / "migrations" / "env.py").write_text("")
    shared = tmp_path / "shared_0001.py"
    shared.write_text(revision_text("0001", None))
    (versions / "0001_base.py").symlink_to(shared)
    (root / "alembic.ini").write_text("[alembic]\nscript_location = %(here)s/migrations\n")
    layout = doctor.load_project(root).layout
    path = str(versions / "0001_base.py")
    edited = revision_text("0001", None, "op.execute('SELECT 1')")
    edit = EditText(path=path, old_sha256="x", edits=(), old_text="", new_text=edited, reason="test", revision="0001")
    with planned_copy(layout, Plan(("relink",), actions=(edit,))) as copy:
        (copied,) = copy.version_locations
        assert (copied / "0001_base.py").read_text() == edited and not (copied / "0001_base.py").is_symlink()
        assert copy.root != layout.root and layout.root in copy.prepend_sys_path
    assert shared.read_text() == revision_text("0001", None)


def test_a_planned_parent_no_file_declares_is_refused_saying_which_file_needs_it():
    context = context_of(*TWO_HEADS)
    plan = Plan(("merge",), actions=(create("d4_merge.py", revision_text("d4", ("b2", "zz")), "d4"),))
    (revision_map, no_new_errors) = prove_plan(context, plan)
    assert revision_map.ok is False
    assert "KeyError: 'zz'" in revision_map.why and "Revision zz referenced from Revision('d4'" in revision_map.why
    assert no_new_errors.ok is False and "MD002 on d4" in no_new_errors.why


def test_a_refusal_caused_by_an_unreadable_file_says_it_was_left_out():
    # modelled on a public chain whose Python 2 files (print statements) neither migdoc nor Alembic can load
    unreadable = ("b2_left.py", revision_text("b2", "a1", "print 'backfilling'"))
    context = context_of(TWO_HEADS[0], unreadable, TWO_HEADS[2], ("e5_after.py", revision_text("e5", "b2")))
    plan = Plan(("merge",), actions=(create("d4_merge.py", revision_text("d4", ("c3", "e5")), "d4"),))
    (revision_map, _) = prove_plan(context, plan)
    assert revision_map.ok is False and "KeyError: 'b2'" in revision_map.why
    assert revision_map.why.endswith("1 version file(s) cannot be read (MD010) and are left out")


def test_a_diff_with_apply_says_on_stderr_which_proof_did_not_run(copy_fixture):
    copy_fixture("fix_merge")
    result = run("fix", "--merge", "--apply", "--diff", "--no-verify", "fix_merge")
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("diff --git") and '+"""merge heads' in result.stdout  # the rendered file
    assert "not run: upgrade: --no-verify: the database proof was skipped" in result.stderr
    assert "proved: revision-map" not in result.stderr  # only what did not pass is worth the noise


def test_is_proved_answers_for_the_overviews_plans_as_a_ranking_will_ask(copy_fixture):
    """The hook of the recommendation: a plan the overview shows is proved statically, or not."""
    copy_fixture("fix_story")
    overview = doctor.plan_fix(doctor.load_project("fix_story"), doctor.FixOptions(now=NOW)).overview
    assert is_proved(overview["archive"]) and not is_proved(overview["merge"])
    bare = replace(overview["archive"], proofs=())
    assert not is_proved(bare)  # no proof ran: not proved, until proved with the planner's inputs
    project = doctor.load_project("fix_story")
    context = doctor.read_plan_inputs(project, doctor.check_project(project).diagnostics, now=NOW)
    assert is_proved(bare, context)
