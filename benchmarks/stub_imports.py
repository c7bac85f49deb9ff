"""Permissive stand-ins for modules that are not installed, so Alembic can
import a project's version files without the project (benchmarks/compare_alembic.py).

A stub answers everything: attribute access, calls, iteration, ``with``,
arithmetic, and subclassing (``class Mixin(stubbed.Base)`` gets a real class
that is just as permissive). Values computed from stubs keep the dotted name
they were reached by, so a label such as ``cli.EXPAND_BRANCH`` prints as what
the file says.
"""

from __future__ import annotations

import contextlib
import importlib.abc
import importlib.machinery
import os
import sys
import types


class Stub:
    """A value that answers everything: attributes, calls, iteration, subclassing."""

    __slots__ = ("_stub_name",)

    def __init__(self, name: str = "stub") -> None:
        object.__setattr__(self, "_stub_name", name)

    def __getattr__(self, name: str) -> Stub:
        if name.startswith("__") and name.endswith("__"):
            raise AttributeError(name)  # protocols (copy, pickle, fspath) must see "absent"
        return Stub(f"{self._stub_name}.{name}")

    def __setattr__(self, name: str, value: object) -> None:
        pass

    def __call__(self, *args: object, **kwargs: object) -> Stub:
        return Stub(f"{self._stub_name}()")

    def __mro_entries__(self, bases: tuple) -> tuple[type]:
        # ``class Mixin(stubbed.Base):`` gets a real, equally permissive class
        return (type(self._stub_name.rpartition(".")[2] or "Stub", (StubBase,), {}),)

    def __getitem__(self, key: object) -> Stub:
        return Stub(f"{self._stub_name}[]")

    def __iter__(self):
        return iter(())

    def __len__(self) -> int:
        return 0

    def __bool__(self) -> bool:
        return True

    def __contains__(self, item: object) -> bool:
        return False

    def __enter__(self) -> Stub:
        return self

    def __exit__(self, *exc: object) -> bool:
        return False

    def __str__(self) -> str:
        return self._stub_name

    def __fspath__(self) -> str:  # os.path.join(stubbed.HERE, "x.sql") at module level
        return self._stub_name

    def __repr__(self) -> str:
        return f"<stub {self._stub_name}>"

    def _same(self, *args: object) -> Stub:
        return self

    __or__ = __ror__ = __and__ = __rand__ = __add__ = __radd__ = __sub__ = __rsub__ = _same
    __mul__ = __rmul__ = __truediv__ = __rtruediv__ = __mod__ = __rmod__ = __neg__ = __invert__ = _same


class StubMeta(type):
    def __getattr__(cls, name: str) -> Stub:
        if name.startswith("__") and name.endswith("__"):
            raise AttributeError(name)
        return Stub(f"{cls.__name__}.{name}")


class StubBase(metaclass=StubMeta):
    def __init__(self, *args: object, **kwargs: object) -> None:
        pass

    def __init_subclass__(cls, **kwargs: object) -> None:
        pass

    def __getattr__(self, name: str) -> Stub:
        if name.startswith("__") and name.endswith("__"):
            raise AttributeError(name)
        return Stub(f"{type(self).__name__}.{name}")


class StubModule(types.ModuleType):
    def __getattr__(self, name: str) -> Stub:
        if name.startswith("__") and name.endswith("__"):
            raise AttributeError(name)
        value = Stub(f"{self.__name__}.{name}")
        setattr(self, name, value)
        return value


class StubFinder(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Stubs every module that is not installed in this interpreter.

    "Installed" means importable from the standard library or site-packages;
    the project's own packages (found through the current folder or
    ``prepend_sys_path``) are stubbed too, so none of the project's code runs
    except the version files themselves.
    """

    def __init__(self) -> None:
        prefixes = {os.path.realpath(p) for p in (sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix)}
        self.installed_paths = [
            p for p in sys.path if p and any(os.path.realpath(p).startswith(prefix + os.sep) for prefix in prefixes)
        ]
        self.stubbed: set[str] = set()

    def find_spec(self, fullname: str, path=None, target=None):
        top = fullname.partition(".")[0]
        if top not in self.stubbed:
            if "." in fullname or top in sys.builtin_module_names or top in sys.stdlib_module_names:
                return None
            if importlib.machinery.PathFinder.find_spec(top, self.installed_paths) is not None:
                return None
            self.stubbed.add(top)
        return importlib.machinery.ModuleSpec(fullname, self, is_package=True)

    def create_module(self, spec) -> types.ModuleType:
        module = StubModule(spec.name)
        module.__path__ = []
        module.__all__ = []
        return module

    def exec_module(self, module: types.ModuleType) -> None:
        pass


@contextlib.contextmanager
def stubbed_imports():
    finder = StubFinder()
    sys.meta_path.insert(0, finder)
    try:
        yield finder
    finally:
        sys.meta_path.remove(finder)
