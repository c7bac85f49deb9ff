"""Issue 23 item 7: one meaning of "in CI" for every test, and a missing tool fails there."""

from __future__ import annotations

import pytest
from environment import is_ci, require, require_tool


@pytest.mark.parametrize(
    ("value", "expected"),
    [("true", True), ("1", True), ("TRUE", True), ("yes", True), (" true ", True), ("woodpecker", True)]
    + [("false", False), ("", False), ("0", False), ("False", False), ("no", False), ("off", False), (None, False)],
)
def test_ci_means_the_same_to_every_helper(monkeypatch, value, expected):
    import pg

    if value is None:
        monkeypatch.delenv("CI", raising=False)
    else:
        monkeypatch.setenv("CI", value)
    assert is_ci() is expected
    assert pg.is_ci() is expected  # the PostgreSQL helpers ask the same question


@pytest.mark.parametrize("value", ["true", "1"])
def test_a_missing_tool_fails_under_ci(monkeypatch, value):
    monkeypatch.setenv("CI", value)
    with pytest.raises(pytest.fail.Exception, match="CI: frobnicate is not installed"):
        require_tool(None, "frobnicate")


@pytest.mark.parametrize("value", ["false", ""])
def test_a_missing_tool_skips_elsewhere(monkeypatch, value):
    monkeypatch.setenv("CI", value)
    with pytest.raises(pytest.skip.Exception, match="frobnicate is not installed"):
        require_tool(None, "frobnicate")


def test_a_present_tool_or_a_met_condition_is_neither(monkeypatch):
    monkeypatch.setenv("CI", "true")
    assert require_tool("/usr/bin/frobnicate", "frobnicate") == "/usr/bin/frobnicate"
    require(True, "never said")
