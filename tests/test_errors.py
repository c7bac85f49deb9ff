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
from migdoc.lock import project_lock, refuse_if_locked
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
