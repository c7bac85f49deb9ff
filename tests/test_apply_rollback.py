"""A write that fails halfway through --apply leaves the project exactly as it was."""

from __future__ import annotations

import pytest

from migdoc.fix import apply as applying
from tests.fixhelp import apply_for, plan_for, snapshot


@pytest.mark.parametrize("fail_at", [1, 3, 6])
def test_failure_midway_restores_every_file(copy_fixture, monkeypatch, fail_at):
    root = copy_fixture("fix_story")
    before = snapshot(root / "migrations")
    plan = plan_for("fix_story", is_archive=True)
    assert len(plan.actions) > fail_at

    real_carry_out = applying._carry_out
    calls = []

    def flaky(action, step, created_dirs):
        calls.append(action)
        if len(calls) == fail_at + 1:
            raise OSError(28, "No space left on device", str(getattr(action, "path", "")))
        real_carry_out(action, step, created_dirs)

    monkeypatch.setattr(applying, "_carry_out", flaky)
    with pytest.raises(applying.ApplyError, match="every file was restored"):
        apply_for("fix_story", plan)
    assert len(calls) == fail_at + 1, "the failure really happened after some writes"
    assert snapshot(root / "migrations") == before
