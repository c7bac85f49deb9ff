"""Error classes live in one home, migdoc/errors.py, and carry the data their message is about."""

from __future__ import annotations

import importlib
import inspect
import os
import pkgutil

import pytest
from fixhelp import apply_for, plan_for

import migdoc
from migdoc import errors
from migdoc.fix.lock import project_lock, refuse_if_locked
from migdoc.model import CreateFile


def test_every_error_class_is_defined_in_errors_py():
    strays = []
    for info in pkgutil.walk_packages(migdoc.__path__, "migdoc."):
        module = importlib.import_module(info.name)
        for name, value in vars(module).items():
            if inspect.isclass(value) and issubclass(value, errors.MigdocError) and value.__module__ != errors.__name__:
                strays.append(f"{value.__module__}.{name}")
    assert not strays, f"error classes outside migdoc/errors.py: {sorted(set(strays))}"


def test_a_taken_target_is_refused_with_its_path(copy_fixture):
    copy_fixture("fix_merge")
    plan = plan_for("fix_merge", is_merge=True)
    (created,) = [a for a in plan.actions if isinstance(a, CreateFile)]
    with open(created.path, "w") as handle:
        handle.write("# someone else's file\n")
    with pytest.raises(errors.ApplyError) as refused:
        apply_for("fix_merge", plan)
    assert refused.value.path == created.path
    assert created.path in str(refused.value)


def test_a_held_lock_names_its_holder(tmp_path):
    with project_lock(tmp_path), pytest.raises(errors.LockedError) as refused:
        refuse_if_locked(tmp_path)
    assert refused.value.holder is not None and refused.value.holder["pid"] == os.getpid()
    assert refused.value.lock == str(tmp_path / ".migdoc" / "lock")
    assert f"pid {os.getpid()}" in str(refused.value)


# -- issue 10: a refusal carries the flag that decides and the candidates it could take --------


def test_an_ambiguous_head_refusal_carries_head_and_both_revisions(copy_fixture):
    copy_fixture("fix_refuse_ambiguous_head")
    with pytest.raises(errors.FixRefused) as refused:
        plan_for("fix_refuse_ambiguous_head", is_archive=True)
    assert refused.value.flag == refused.value.option == "--head"
    assert refused.value.candidates == ("0002", "0003")


def test_a_copy_without_evidence_refusal_carries_keep_and_each_file(copy_fixture):
    root = copy_fixture("fix_seed")
    versions = root / "migrations" / "versions"
    (versions / "0025b_add_mtproto_audit_log.py").rename(versions / "0025_add_mtproto_audit_log.py")
    with pytest.raises(errors.FixRefused) as refused:
        plan_for("fix_seed", is_archive=True)
    assert refused.value.flag == "--keep"
    # records hold absolute paths; outputs show them from the current directory
    assert refused.value.candidates == (
        str(versions / "0025_add_channel_mtproto_settings.py"),
        str(versions / "0025_add_mtproto_audit_log.py"),
    )


def test_a_taken_rev_id_refusal_carries_rev_id_and_no_candidates(copy_fixture):
    copy_fixture("fix_merge")
    with pytest.raises(errors.FixRefused) as refused:
        plan_for("fix_merge", is_merge=True, rev_id="0002")
    assert (refused.value.flag, refused.value.candidates) == ("--rev-id", ())


def test_other_raise_sites_stay_valid_without_the_fields():
    plain = errors.FixRefused("no decision")
    assert (str(plain), plain.flag, plain.candidates) == ("no decision", None, ())


def test_the_json_refusal_holds_the_flag_and_candidates_and_the_line_still_goes_to_stderr(copy_fixture):
    import json

    from click.testing import CliRunner

    from migdoc.cli import cli

    copy_fixture("fix_refuse_ambiguous_head")
    result = CliRunner().invoke(cli, ["fix", "--archive", "--format", "json", "fix_refuse_ambiguous_head"])
    assert result.exit_code == 2
    refused = json.loads(result.stdout)["refused"]
    assert refused["flag"] == "--head" and refused["candidates"] == ["0002", "0003"]
    assert refused["message"] in result.stderr and result.stderr.count("\n") == 1
    text = CliRunner().invoke(cli, ["fix", "--archive", "fix_refuse_ambiguous_head"])
    assert text.exit_code == 2 and text.stdout == ""


def test_a_head_prefix_of_several_revisions_is_refused_with_them(copy_fixture):
    copy_fixture("fix_refuse_ambiguous_head")
    with pytest.raises(errors.FixRefused, match="starts 3 revisions") as refused:
        plan_for("fix_refuse_ambiguous_head", is_archive=True, head="000")
    assert (refused.value.flag, refused.value.candidates) == ("--head", ("0001", "0002", "0003"))
    with pytest.raises(errors.FixRefused, match="no such revision") as refused:
        plan_for("fix_refuse_ambiguous_head", is_archive=True, head="0009")
    assert (refused.value.flag, refused.value.candidates) == ("--head", ())


def test_the_json_refusal_shows_file_candidates_from_the_current_directory(copy_fixture):
    import json

    from click.testing import CliRunner

    from migdoc.cli import cli

    root = copy_fixture("fix_seed")
    versions = root / "migrations" / "versions"
    (versions / "0025b_add_mtproto_audit_log.py").rename(versions / "0025_add_mtproto_audit_log.py")
    result = CliRunner().invoke(cli, ["fix", "--archive", "--format", "json", "fix_seed"])
    refused = json.loads(result.stdout)["refused"]
    assert refused["candidates"] == [
        "fix_seed/migrations/versions/0025_add_channel_mtproto_settings.py",
        "fix_seed/migrations/versions/0025_add_mtproto_audit_log.py",
    ]
    assert str(root) not in refused["message"] and "fix_seed/migrations/versions/" in refused["message"]


def test_the_overview_json_keeps_a_strategys_refusal_as_data(copy_fixture):
    """``fix`` without a strategy shows what each would do; one that refuses keeps its
    deciding flag and candidates there too, not only a sentence under ``unresolved``."""
    import json

    from click.testing import CliRunner

    from migdoc.cli import cli

    copy_fixture("fix_refuse_ambiguous_head")
    result = CliRunner().invoke(cli, ["fix", "--format", "json", "fix_refuse_ambiguous_head"])
    proposals = json.loads(result.stdout)["proposals"]
    refused = proposals["archive"]["refused"]
    assert refused["flag"] == "--head" and refused["candidates"] == ["0002", "0003"]
    assert refused["message"] in proposals["archive"]["unresolved"]
    # --rebase cannot tell the newer branch either (same Create Date, no git): it refuses too
    assert proposals["rebase"]["refused"]["flag"] == "--head"
    assert all("refused" not in plan for name, plan in proposals.items() if name not in ("archive", "rebase"))
