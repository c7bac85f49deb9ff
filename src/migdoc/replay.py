"""Static replay of ``op.*`` calls along the revision graph (for MD012).

Each object (table, column, index, constraint) is *present*, *absent* or
*uncertain* after a revision; objects never mentioned are unknown. Only a
certain state produces a finding: raw DDL, loops, helpers and non-literal
names make what they may touch uncertain, and uncertain is silent.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from migdoc.graph import RevisionGraph, file_node
from migdoc.model import Operation

PRESENT = "present"
ABSENT = "absent"
UNCERTAIN = "uncertain"

_DML = re.compile(r"^\s*(update|insert|delete|select|with|comment|grant|analyze|vacuum)\b", re.I)
_WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_$]*")


@dataclass(frozen=True)
class Fact:
    state: str
    by: int
    """File index of the revision that set the state."""
    table: str | None = None


@dataclass(frozen=True)
class Redundancy:
    """An operation that repeats or undoes what the chain already did."""

    index: int
    operation: Operation
    description: str
    earlier: int | None
    """File index of the revision that already did it, when known."""


class _Facts(dict):
    """Facts by key, remembering which keys were written since it was made."""

    def __init__(self, *args: object) -> None:
        super().__init__(*args)
        self.changed: set[tuple[str, ...]] = set()

    def __setitem__(self, key: tuple[str, ...], value: Fact) -> None:
        self.changed.add(key)
        super().__setitem__(key, value)

    def __delitem__(self, key: tuple[str, ...]) -> None:
        self.changed.add(key)
        super().__delitem__(key)


class _State:
    """The schema as the replay knows it after one revision.

    ``origin`` is the revision whose state this one was copied from (-1: from
    nothing) and ``facts.changed`` what was written since: so the state is
    "origin's state plus the changed keys", which lets a merge look at what a
    branch changed instead of at the whole schema.
    """

    def __init__(self, origin: int = -1, facts: _Facts | None = None) -> None:
        self.origin = origin
        self.facts: _Facts = facts if facts is not None else _Facts()
        self.complete_tables: set[str] = set()
        """Tables created by a certain create_table: their column list is known."""
        self.is_all_uncertain = False

    def copy(self, origin: int) -> _State:
        clone = _State(origin, _Facts(self.facts))
        clone.complete_tables = set(self.complete_tables)
        clone.is_all_uncertain = self.is_all_uncertain
        return clone

    def merge(
        self, other: _State, in_mine: Callable[[int], bool], in_other: Callable[[int], bool], is_since_fork: bool
    ) -> None:
        """Fold in the state of another parent of a merge revision.

        Both branches were applied, so where they disagree the fact set on
        one branch only wins (its rival was set in history both branches
        share: ``in_mine`` / ``in_other`` say whether a setter lies in a
        branch's ancestry); where both branches changed it, it is uncertain.
        ``is_since_fork``: ``other`` was copied from history this state shares,
        so only the keys it changed since can differ.
        """
        mine_facts = self.facts
        other_facts = other.facts
        keys = other_facts.changed if is_since_fork else other_facts.keys()
        for key in list(keys):
            fact = other_facts.get(key)
            mine = mine_facts.get(key)
            if mine is fact:
                continue  # inherited unchanged from the common ancestor
            if fact is None:
                continue  # forgotten on the other branch (a renamed table): keep what this one knows
            if mine is None:
                mine_facts[key] = fact
            elif mine.state != fact.state:
                if in_other(mine.by):
                    mine_facts[key] = fact
                elif not in_mine(fact.by):
                    mine_facts[key] = Fact(UNCERTAIN, fact.by, fact.table)
        if other.is_all_uncertain:
            for key in set(mine_facts) - set(other_facts):
                mine_facts[key] = Fact(UNCERTAIN, mine_facts[key].by, mine_facts[key].table)
        self.complete_tables &= other.complete_tables
        self.is_all_uncertain = self.is_all_uncertain or other.is_all_uncertain

    def get(self, key: tuple[str, ...]) -> Fact | None:
        fact = self.facts.get(key)
        if fact is None and self.is_all_uncertain:
            return Fact(UNCERTAIN, -1)
        return fact

    def make_everything_uncertain(self, by: int) -> None:
        for key, fact in self.facts.items():
            self.facts[key] = Fact(UNCERTAIN, by, fact.table)
        self.complete_tables.clear()
        self.is_all_uncertain = True

    def make_words_uncertain(self, sql: str, by: int) -> None:
        words = {w.lower() for w in _WORD.findall(sql)}
        for key, fact in list(self.facts.items()):
            if key[-1].lower() in words or (fact.table and fact.table.lower() in words):
                self.facts[key] = Fact(UNCERTAIN, by, fact.table)
        self.complete_tables -= {t for t in self.complete_tables if t.lower() in words}

    def make_table_uncertain(self, table: str, by: int) -> None:
        for key, fact in list(self.facts.items()):
            if fact.table == table or key == ("table", table):
                self.facts[key] = Fact(UNCERTAIN, by, fact.table)
        self.complete_tables.discard(table)


def find_redundancies(graph: RevisionGraph) -> Iterator[Redundancy]:
    """Replay every kept revision in dependency order. Acyclic graphs only."""
    if not graph.is_acyclic:
        return
    states: dict[int, _State] = {}
    waiting = {}  # revision -> children not yet replayed; its state is dropped at 0
    g = graph.graph
    for index in graph.topological_indexes:
        node = file_node(index)
        waiting[index] = sum(
            1
            for child in g.successors(node)
            if (child_index := graph.index_of(child)) is not None and not graph.is_shadowed(child_index)
        )
        parents = [p for p in (graph.index_of(n) for n in g.predecessors(node)) if p is not None and p in states]
        for parent in parents:
            waiting[parent] -= 1
        first = parents[0] if parents else -1
        if parents and waiting[first] == 0:
            state = states.pop(first)  # last child to need it: take it over, no copy
        elif parents:
            state = states[first].copy(origin=first)
        else:
            state = _State()
        for other in parents[1:]:
            other_state = states[other]
            origin = other_state.origin
            state.merge(
                other_state,
                functools.partial(_is_in_history, graph, first),
                functools.partial(_is_in_history, graph, other),
                is_since_fork=origin >= 0 and _is_in_history(graph, first, origin),
            )
            if waiting[other] == 0:
                del states[other]
        if any(graph.index_of(n) is None for n in g.predecessors(node)):
            state.make_everything_uncertain(index)  # a missing parent hides what came before
        body = graph.files[index].upgrade
        if body is not None:
            yield from _apply(state, index, body.operations)
        if waiting[index]:
            states[index] = state


def _is_in_history(graph: RevisionGraph, parent: int, setter: int) -> bool:
    """True when revision ``setter`` is ``parent`` or one of its ancestors."""
    if setter < 0:
        return False
    return setter == parent or graph.is_ancestor(setter, parent)


def _apply(state: _State, index: int, operations: tuple[Operation, ...]) -> Iterator[Redundancy]:
    for op in operations:
        if op.kind == "unknown":
            state.make_everything_uncertain(index)
            continue
        if op.kind == "execute":
            if op.name is None:
                state.make_everything_uncertain(index)
            elif not _DML.match(op.name):
                state.make_words_uncertain(op.name, index)
            continue
        if not op.is_certain or op.table is None:
            if op.table is not None:
                state.make_table_uncertain(op.table, index)
                if op.kind == "rename_table" and op.new_name:
                    state.make_table_uncertain(op.new_name, index)
            else:
                state.make_everything_uncertain(index)
            continue
        yield from _apply_certain(state, index, op)


def _column_fact(state: _State, table: str, column: str) -> Fact | None:
    fact = state.get(("column", table, column))
    if fact is None and table in state.complete_tables:
        table_fact = state.get(("table", table))
        if table_fact and table_fact.state == PRESENT:
            return Fact(ABSENT, table_fact.by, table)
    return fact


def _apply_certain(state: _State, index: int, op: Operation) -> Iterator[Redundancy]:
    table = op.table
    assert table is not None
    kind = op.kind

    def report(fact: Fact | None, wanted: str, what: str) -> Iterator[Redundancy]:
        if fact is not None and fact.state == wanted:
            yield Redundancy(index, op, what, fact.by if fact.by >= 0 else None)

    if kind == "create_table":
        yield from report(state.get(("table", table)), PRESENT, f"creates table {table!r}, which already exists")
        state.facts[("table", table)] = Fact(PRESENT, index, table)
        for key in [k for k, f in state.facts.items() if k[0] == "column" and f.table == table]:
            del state.facts[key]
        for column in op.columns:
            state.facts[("column", table, column)] = Fact(PRESENT, index, table)
        state.complete_tables.add(table)
    elif kind == "drop_table":
        yield from report(state.get(("table", table)), ABSENT, f"drops table {table!r}, which is not there")
        for key, fact in list(state.facts.items()):
            if fact.table == table and key[0] != "table":
                state.facts[key] = Fact(ABSENT, index, table)
        state.facts[("table", table)] = Fact(ABSENT, index, table)
        state.complete_tables.discard(table)
    elif kind == "rename_table" and op.new_name:
        for key, fact in list(state.facts.items()):
            if fact.table == table:
                del state.facts[key]
                new_key = (*key[:-1], op.new_name) if key[0] == "table" else key
                if key[0] == "column":
                    new_key = ("column", op.new_name, key[2])
                state.facts[new_key] = Fact(fact.state, index, op.new_name)
        state.facts[("table", table)] = Fact(ABSENT, index, table)
        if table in state.complete_tables:
            state.complete_tables.discard(table)
            state.complete_tables.add(op.new_name)
    elif kind == "add_column" and op.name:
        yield from report(
            _column_fact(state, table, op.name), PRESENT, f"adds column {table}.{op.name}, which already exists"
        )
        state.facts[("column", table, op.name)] = Fact(PRESENT, index, table)
    elif kind == "drop_column" and op.name:
        yield from report(
            _column_fact(state, table, op.name), ABSENT, f"drops column {table}.{op.name}, which is not there"
        )
        state.facts[("column", table, op.name)] = Fact(ABSENT, index, table)
    elif kind == "alter_column" and op.name and op.new_name:
        fact = _column_fact(state, table, op.name)
        state.facts[("column", table, op.name)] = Fact(ABSENT, index, table)
        state.facts[("column", table, op.new_name)] = Fact(
            PRESENT if fact is None or fact.state != UNCERTAIN else UNCERTAIN, index, table
        )
    elif kind == "create_index" and op.name:
        yield from report(state.get(("index", op.name)), PRESENT, f"creates index {op.name!r}, which already exists")
        state.facts[("index", op.name)] = Fact(PRESENT, index, table)
    elif kind == "drop_index" and op.name:
        yield from report(state.get(("index", op.name)), ABSENT, f"drops index {op.name!r}, which is not there")
        state.facts[("index", op.name)] = Fact(ABSENT, index, table)
    elif kind.startswith("create_") and op.name:
        yield from report(
            state.get(("constraint", op.name)), PRESENT, f"creates constraint {op.name!r}, which already exists"
        )
        state.facts[("constraint", op.name)] = Fact(PRESENT, index, table)
    elif kind == "drop_constraint" and op.name:
        yield from report(
            state.get(("constraint", op.name)), ABSENT, f"drops constraint {op.name!r}, which is not there"
        )
        state.facts[("constraint", op.name)] = Fact(ABSENT, index, table)
