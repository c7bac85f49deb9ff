"""Static replay of ``op.*`` calls along the revision graph (for MD012).

Each object (table, column, index, constraint) is *present*, *absent* or
*uncertain* after a revision; objects never mentioned are unknown. Only a
certain state produces a finding: raw DDL, loops, helpers and non-literal
names make what they may touch uncertain, and uncertain is silent.

Objects are keyed as PostgreSQL scopes their names: tables and indexes per
schema, columns per table, check / foreign-key / unique / primary-key
constraints per table (two tables may each have a check named ``positive``;
a naming convention such as ``ck_%(table_name)s_%(constraint_name)s`` makes
their real names differ anyway). A constraint dropped by its convention-made
name (``ck_users_positive`` for ``positive``) makes the short name uncertain.
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
    schema: str | None = None


@dataclass(frozen=True)
class Redundancy:
    """An operation that repeats or undoes what the chain already did."""

    index: int
    operation: Operation
    description: str
    earlier: int | None
    """File index of the revision that already did it, when known."""


class _Facts(dict):
    """Facts by key, remembering which keys were written since it was made.

    Two indexes keep every rule step proportional to what it touches, not to
    the whole schema: ``by_table`` (table name -> keys that may belong to that
    table) and ``by_word`` (lower-cased name -> keys a raw SQL word may
    name). They hold candidates: a key stays listed after its fact moved or
    went, so every reader checks the fact itself. A copy shares the index sets
    with its source and copies one only when it first adds to it (both sides
    give up ownership at the copy), so a fork costs one shallow dict copy.
    """

    def __init__(self, source: _Facts | None = None) -> None:
        super().__init__(source or {})
        self.changed: set[tuple[str, ...]] = set()
        if source is None:
            self.by_table: dict[str, set[tuple]] = {}
            self.by_word: dict[str, set[tuple]] = {}
        else:
            self.by_table = dict(source.by_table)
            self.by_word = dict(source.by_word)
            source._owned.clear()
        self._owned: set[tuple[int, str]] = set()
        """(which index, name) whose set this instance may change in place."""

    def _index(self, which: int, index: dict[str, set[tuple]], name: str, key: tuple) -> None:
        listed = index.get(name)
        if listed is not None and key in listed:
            return
        if (which, name) not in self._owned:
            listed = set(listed or ())
            index[name] = listed
            self._owned.add((which, name))
        assert listed is not None
        listed.add(key)

    def __setitem__(self, key: tuple[str, ...], value: Fact) -> None:
        self.changed.add(key)
        super().__setitem__(key, value)
        names = {value.table} if value.table else set()
        if key[0] in ("column", "constraint", "table"):
            names.add(key[2])
        for name in names:
            self._index(0, self.by_table, name, key)
            self._index(1, self.by_word, name.lower(), key)
        self._index(1, self.by_word, key[-1].lower(), key)

    def __delitem__(self, key: tuple[str, ...]) -> None:
        self.changed.add(key)
        super().__delitem__(key)

    def of_table(self, table: str) -> list[tuple]:
        """Keys that may belong to ``table`` (any schema), in a stable order; callers check the fact."""
        return sorted((k for k in self.by_table.get(table, ()) if k in self), key=_key_order)

    def named(self, words: set[str]) -> list[tuple]:
        """Keys whose name or table may be one of the lower-cased ``words``."""
        found: set[tuple] = set()
        for word in words:
            found.update(k for k in self.by_word.get(word, ()) if k in self)
        return sorted(found, key=_key_order)


def _key_order(key: tuple) -> tuple:
    return tuple("" if part is None else part for part in key)


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
        self.complete_tables: set[tuple[str | None, str]] = set()
        """(schema, table) created by a certain create_table: their column list is known."""
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
                    mine_facts[key] = Fact(UNCERTAIN, fact.by, fact.table, fact.schema)
        if other.is_all_uncertain:
            for key in set(mine_facts) - set(other_facts):
                old = mine_facts[key]
                mine_facts[key] = Fact(UNCERTAIN, old.by, old.table, old.schema)
        self.complete_tables &= other.complete_tables
        self.is_all_uncertain = self.is_all_uncertain or other.is_all_uncertain

    def get(self, key: tuple[str, ...]) -> Fact | None:
        fact = self.facts.get(key)
        if fact is None and self.is_all_uncertain:
            return Fact(UNCERTAIN, -1)
        return fact

    def make_everything_uncertain(self, by: int) -> None:
        for key, fact in self.facts.items():
            self.facts[key] = Fact(UNCERTAIN, by, fact.table, fact.schema)
        self.complete_tables.clear()
        self.is_all_uncertain = True

    def make_words_uncertain(self, sql: str, by: int) -> None:
        words = {w.lower() for w in _WORD.findall(sql)}
        for key in self.facts.named(words):
            fact = self.facts[key]
            if key[-1].lower() in words or (fact.table and fact.table.lower() in words):
                self.facts[key] = Fact(UNCERTAIN, by, fact.table, fact.schema)
        self.complete_tables -= {t for t in self.complete_tables if t[1].lower() in words}

    def make_table_uncertain(self, table: str, by: int) -> None:
        """Every schema's table of that name: which one a run-time schema meant is unknown."""
        for key in self.facts.of_table(table):
            fact = self.facts[key]
            if fact.table == table or (key[0] == "table" and key[-1] == table):
                self.facts[key] = Fact(UNCERTAIN, by, fact.table, fact.schema)
        self.complete_tables -= {t for t in self.complete_tables if t[1] == table}


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


def _column_fact(state: _State, schema: str | None, table: str, column: str) -> Fact | None:
    fact = state.get(("column", schema, table, column))
    if fact is None and (schema, table) in state.complete_tables:
        table_fact = state.get(("table", schema, table))
        if table_fact and table_fact.state == PRESENT:
            return Fact(ABSENT, table_fact.by, table, schema)
    return fact


def _is_convention_name(short: str, full: str) -> bool:
    """True when ``full`` may be ``short`` after a naming convention (``ck_users_positive``)."""
    return short != full and full.endswith("_" + short)


def _constraint_fact(state: _State, schema: str | None, table: str, name: str) -> Fact | None:
    """The constraint's fact; uncertain where another name of the table may be the same
    constraint under a naming convention."""
    fact = state.get(("constraint", schema, table, name))
    if fact is not None:
        return fact
    for key in state.facts.of_table(table):
        other = state.facts[key]
        if key[0] == "constraint" and key[1:3] == (schema, table):
            if _is_convention_name(key[3], name) or _is_convention_name(name, key[3]):
                return Fact(UNCERTAIN, other.by, table, schema)
    return None


def _apply_certain(state: _State, index: int, op: Operation) -> Iterator[Redundancy]:
    table = op.table
    assert table is not None
    kind = op.kind
    schema = op.schema
    where = f"{schema}.{table}" if schema else table

    def fact(state_: str) -> Fact:
        return Fact(state_, index, table, schema)

    def report(found: Fact | None, wanted: str, what: str) -> Iterator[Redundancy]:
        if found is not None and found.state == wanted:
            yield Redundancy(index, op, what, found.by if found.by >= 0 else None)

    if kind == "create_table":
        yield from report(
            state.get(("table", schema, table)), PRESENT, f"creates table {where!r}, which already exists"
        )
        state.facts[("table", schema, table)] = fact(PRESENT)
        for key in [k for k in state.facts.of_table(table) if k[0] == "column" and k[1:3] == (schema, table)]:
            del state.facts[key]
        for column in op.columns:
            state.facts[("column", schema, table, column)] = fact(PRESENT)
        state.complete_tables.add((schema, table))
    elif kind == "drop_table":
        yield from report(state.get(("table", schema, table)), ABSENT, f"drops table {where!r}, which is not there")
        for key in state.facts.of_table(table):
            known = state.facts[key]
            if known.table == table and known.schema == schema and key[0] != "table":
                state.facts[key] = fact(ABSENT)
        state.facts[("table", schema, table)] = fact(ABSENT)
        state.complete_tables.discard((schema, table))
    elif kind == "rename_table" and op.new_name:
        new_name = op.new_name
        for key in state.facts.of_table(table):
            known = state.facts[key]
            if known.table == table and known.schema == schema:
                del state.facts[key]
                if key[0] in ("column", "constraint"):
                    new_key: tuple = (key[0], schema, new_name, *key[3:])
                elif key[0] == "table":
                    new_key = ("table", schema, new_name)
                else:
                    new_key = key  # an index keeps its name (per schema)
                state.facts[new_key] = Fact(known.state, index, new_name, schema)
        state.facts[("table", schema, table)] = fact(ABSENT)
        if (schema, table) in state.complete_tables:
            state.complete_tables.discard((schema, table))
            state.complete_tables.add((schema, new_name))
    elif kind == "add_column" and op.name:
        yield from report(
            _column_fact(state, schema, table, op.name),
            PRESENT,
            f"adds column {where}.{op.name}, which already exists",
        )
        state.facts[("column", schema, table, op.name)] = fact(PRESENT)
    elif kind == "drop_column" and op.name:
        yield from report(
            _column_fact(state, schema, table, op.name), ABSENT, f"drops column {where}.{op.name}, which is not there"
        )
        state.facts[("column", schema, table, op.name)] = fact(ABSENT)
    elif kind == "alter_column" and op.name and op.new_name:
        known = _column_fact(state, schema, table, op.name)
        state.facts[("column", schema, table, op.name)] = fact(ABSENT)
        is_uncertain = known is not None and known.state == UNCERTAIN
        state.facts[("column", schema, table, op.new_name)] = fact(UNCERTAIN if is_uncertain else PRESENT)
    elif kind == "create_index" and op.name:
        yield from report(
            state.get(("index", schema, op.name)), PRESENT, f"creates index {op.name!r}, which already exists"
        )
        state.facts[("index", schema, op.name)] = fact(PRESENT)
    elif kind == "drop_index" and op.name:
        yield from report(state.get(("index", schema, op.name)), ABSENT, f"drops index {op.name!r}, which is not there")
        state.facts[("index", schema, op.name)] = fact(ABSENT)
    elif kind.startswith("create_") and op.name:
        yield from report(
            _constraint_fact(state, schema, table, op.name),
            PRESENT,
            f"creates constraint {op.name!r} on {where}, which already exists",
        )
        state.facts[("constraint", schema, table, op.name)] = fact(PRESENT)
    elif kind == "drop_constraint" and op.name:
        known = _constraint_fact(state, schema, table, op.name)
        yield from report(known, ABSENT, f"drops constraint {op.name!r} on {where}, which is not there")
        if known is not None and known.state == UNCERTAIN:
            # dropped under its convention-made name: the short name's state is no longer known
            for key in [k for k in state.facts.of_table(table) if k[0] == "constraint" and k[1:3] == (schema, table)]:
                if _is_convention_name(key[3], op.name) or _is_convention_name(op.name, key[3]):
                    state.facts[key] = fact(UNCERTAIN)
        state.facts[("constraint", schema, table, op.name)] = fact(ABSENT)
