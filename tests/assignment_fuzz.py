"""Differential fuzz of the reader against Python (issue 23): small modules built from the
assignment shapes version files use, executed in a namespace with no builtins (literals and
control flow only: nothing is imported or called), compared with what the reader says.

The reader must say the value Python computes, or say it cannot know (MD010 for
``revision``/``down_revision``, MD019 for ``branch_labels``/``depends_on``). Anything else
is a *silent misread*; a file the reader calls stray while Python binds ``revision`` is a
*false MD014*.

Used by ``tests/test_reader_fuzz.py`` (a bounded, seeded run in CI) and by
``benchmarks/fuzz_reader.py`` (a bigger run, and the count for another reader).
"""

from __future__ import annotations

import builtins
import random
from collections.abc import Callable
from dataclasses import dataclass, field

TRACKED = ("revision", "down_revision", "branch_labels", "depends_on")
_IDS = ("a1", "b2", "c3", "zz")
_HELPERS = ("P", "Q")


def _literal(rng: random.Random, depth: int = 0, is_plain: bool = False) -> str:
    """A value: ids, None, tuples, lists, sets, dicts, other types, and (unless
    ``is_plain``) names and ``+`` / f-strings over them."""
    kind = rng.randrange(10 if is_plain else 12) if depth == 0 else rng.randrange(4)
    if kind < 4:
        return repr(rng.choice(_IDS))
    if kind == 4:
        return "None"
    if kind == 5:
        elements = [_literal(rng, depth + 1) for _ in range(rng.randrange(3))]
        return "(" + ", ".join(elements) + ("," if len(elements) == 1 else "") + ")"
    if kind == 6:
        return "[" + ", ".join(_literal(rng, depth + 1) for _ in range(rng.randrange(3))) + "]"
    if kind == 7:
        return "{" + ", ".join(repr(rng.choice(_IDS)) for _ in range(1 + rng.randrange(2))) + "}"
    if kind == 8:
        return "{" + repr(rng.choice(_IDS)) + ": 1}"
    if kind == 9:
        return rng.choice(("5", "''", "()"))
    if kind == 10:
        return rng.choice((*_HELPERS, *_HELPERS, *TRACKED, "Branches.LABEL"))
    return rng.choice((f"{rng.choice(_HELPERS)} + 'x'", f"f'{{{rng.choice(_HELPERS)}}}1'", "'a' + '1'"))


def _name(rng: random.Random) -> str:
    return rng.choice((*TRACKED, *TRACKED, *_HELPERS))


def _simple(rng: random.Random) -> str:
    """One statement that binds or changes a name without control flow."""
    shape = rng.randrange(10)
    if shape < 3:
        return f"{_name(rng)} = {_literal(rng)}"
    if shape == 3:
        return f"{_name(rng)}: str = {_literal(rng)}"
    if shape == 4:
        a, b = _name(rng), _name(rng)
        opener, closer = rng.choice((("", ""), ("(", ")"), ("[", "]")))
        right = rng.choice((f"{_literal(rng)}, {_literal(rng)}", rng.choice(_HELPERS)))
        return f"{opener}{a}, {b}{closer} = {right}"
    if shape == 5:
        return f"{_name(rng)} += {_literal(rng)}"
    if shape == 6:
        return f"{_name(rng)} = {_name(rng)} = {_literal(rng)}"
    if shape == 7:
        return f"P.append({_literal(rng)})"
    if shape == 8:
        return f"({_name(rng)} := {_literal(rng)})"
    return f"del {_name(rng)}" if rng.random() < 0.3 else f"{_name(rng)} = {_literal(rng)}"


def _indented(text: str) -> str:
    return "\n".join("    " + line for line in text.splitlines())


def _statement(rng: random.Random) -> str:
    shape = rng.randrange(14)
    if shape < 7:
        return _simple(rng)
    inner = _simple(rng)
    if shape == 7:
        return f"if FLAG:\n{_indented(inner)}\nelse:\n{_indented(_simple(rng))}"
    if shape == 8:
        return f"for {rng.choice(_HELPERS)} in ({_literal(rng)}, {_literal(rng)}):\n{_indented(inner)}"
    if shape == 9:
        return f"while FLAG:\n{_indented(inner)}\n    break"
    if shape == 10:
        return f"try:\n{_indented(inner)}\nfinally:\n    pass"
    if shape == 11:
        return f"match FLAG:\n    case True:\n{_indented(_indented(inner))}\n    case _:\n        pass"
    if shape == 12:
        name = rng.choice(TRACKED)
        call = "\nbump()" if rng.random() < 0.5 else ""
        return f"def bump():\n    global {name}\n    {name} = {_literal(rng)}{call}"
    return f"if not FLAG:\n{_indented(inner)}"


def generate_module(rng: random.Random) -> str:
    prelude = [
        f"FLAG = {rng.choice(('True', 'False'))}",
        f"P = [{', '.join(repr(rng.choice(_IDS)) for _ in range(rng.randrange(3)))}]",  # a list: P.append() runs
        f"Q = {_literal(rng, is_plain=True)}",
    ]
    prelude += [f"{name} = {_literal(rng, is_plain=True)}" for name in TRACKED if rng.random() < 0.4]
    prelude.append(f"class Branches:\n    LABEL = {_literal(rng, is_plain=True)}")
    body = [_statement(rng) for _ in range(2 + rng.randrange(7))]
    return "\n".join(prelude + body) + "\n"


_NO_VALUE = object()


def execute(source: str) -> dict[str, object] | None:
    """The tracked names after running ``source`` with no builtins; None when it raises."""
    namespace: dict[str, object] = {
        # a class statement needs __build_class__, and `revision: str = ...` evaluates `str`
        "__builtins__": {"__build_class__": builtins.__build_class__, "str": str},
        "__name__": "version",
    }
    try:
        exec(compile(source, "version.py", "exec"), namespace)  # noqa: S102 - literals and control flow only
    except Exception:  # noqa: BLE001 - a module that does not import is not compared
        return None
    return {name: namespace.get(name, _NO_VALUE) for name in TRACKED}


def _ids(value: object) -> tuple[str, ...] | None:
    """Alembic's ``util.to_tuple`` over revision ids, sets in sorted order; None when it is
    not made of strings."""
    if value is None:
        return ()
    if isinstance(value, str):
        return (value,)
    if isinstance(value, (set, frozenset)):
        value = sorted(value) if all(isinstance(v, str) for v in value) else None
    if isinstance(value, (tuple, list)) and all(isinstance(v, str) for v in value):
        return tuple(value)
    return None


@dataclass
class Tally:
    compared: int = 0
    not_importable: int = 0
    said_unknown: int = 0
    """Modules where the reader said MD010/MD019 for a value Python computed: honest, not wrong."""
    silent_misreads: list[str] = field(default_factory=list)
    false_stray: list[str] = field(default_factory=list)


def compare(source: str, read: Callable[[str, bytes], object], tally: Tally) -> None:
    """Compare Python's values with the reader's record for one module, into ``tally``."""
    python = execute(source)
    if python is None:
        tally.not_importable += 1
        return
    tally.compared += 1
    rf = read("versions/x.py", source.encode())
    if python["revision"] is not _NO_VALUE and (
        rf.read_error is not None or rf.is_branch_labels_unresolved or rf.is_depends_on_unresolved
    ):
        tally.said_unknown += 1
    problems = list(_disagreements(python, rf))
    if not problems:
        return
    if problems == ["false-stray"]:
        tally.false_stray.append(source)
    else:
        tally.silent_misreads.append(source + "# " + "; ".join(problems) + "\n")


def _disagreements(python: dict[str, object], rf) -> list[str]:
    revision = python["revision"]
    says_unknown = rf.read_error is not None
    if revision is _NO_VALUE:
        if rf.revision is not None and not says_unknown:
            return [f"revision: Python binds none, the reader reads {rf.revision!r}"]
        return []
    if rf.is_stray:
        return ["false-stray"]
    if says_unknown:
        return []  # MD010: the reader says it cannot know
    if revision != rf.revision:
        return [f"revision: Python {revision!r}, the reader {rf.revision!r}"]
    problems = []
    down = python["down_revision"]
    if down is _NO_VALUE or _ids(down) != rf.down_revisions:
        problems.append(f"down_revision: Python {down!r}, the reader {rf.down_revisions!r}")
    for name, read_value, is_unresolved in (
        ("branch_labels", rf.branch_labels, rf.is_branch_labels_unresolved),
        ("depends_on", rf.depends_on, rf.is_depends_on_unresolved),
    ):
        value = python[name]
        expected = () if value is _NO_VALUE else _ids(value)
        if is_unresolved:
            continue  # MD019: the reader says it cannot know
        if expected != read_value:
            problems.append(f"{name}: Python {value!r}, the reader {read_value!r}")
    return problems


def run(count: int, seed: int, read: Callable[[str, bytes], object]) -> Tally:
    rng = random.Random(seed)
    tally = Tally()
    for _ in range(count):
        compare(generate_module(rng), read, tally)
    return tally
