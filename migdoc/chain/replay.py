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

Over ~400 lines for a reason: the state (facts indexed by table and name, layered per
branch) and the rules of each ``op.*`` call that changes it must agree on one key scheme;
they are one piece.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import NamedTuple

from migdoc.chain.graph import RevisionGraph, file_node
from migdoc.model import Operation

PRESENT = "present"
ABSENT = "absent"
UNCERTAIN = "uncertain"

_DML = re.compile(r"^\s*(update|insert|delete|select|with|comment|grant|analyze|vacuum)\b", re.I)
_WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_$]*")


@dataclass(frozen=True, slots=True)  # one per table, column and index a chain creates
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


class Need(NamedTuple):  # a tuple, not a frozen dataclass: a chain on create_all makes one per operation
    """An operation on an object the revision's own line never mentioned before it (no
    ancestor created, dropped or touched it, with certainty): where it comes from is
    decided against the whole chain's creations (MD022)."""

    index: int
    operation: Operation
    key: tuple
    """The object as the replay keys it: ``("table", schema, table)``, ``("column", schema, table, name)``..."""


class Creation(NamedTuple):
    """A certain operation that makes an object exist, and whether the revision's line had
    never mentioned the object before it (``is_first``: the replay knew nothing of it)."""

    index: int
    operation: Operation
    is_first: bool


@dataclass
class Replay:
    """What one replay of the whole chain found: MD012's redundancies, the objects each
    revision used without its line having made them, every certain creation by object,
    and what the replay could not follow (names it must stay silent about)."""

    redundancies: list[Redundancy]
    needs: list[Need]
    creations: dict[tuple, list[Creation]]
    uncertain_words: set[str]
    """Lower-cased words of raw SQL and names of tables touched by calls it could not follow."""
    touching_anything: set[int] = field(default_factory=set)
    """The revisions with a call that could touch anything (a helper, SQL built at run time)."""
    is_tracking: bool = True
    """Whether needs and creations are recorded: only a chain that branches has revisions
    off each other's lines, so a straight chain skips the bookkeeping."""
    drops: dict[tuple, list[int]] = field(default_factory=dict)
    """Object -> revisions whose certain operation drops it or renames it away."""

    def is_named_uncertainly(self, key: tuple) -> bool:
        """Whether raw SQL, or a call the replay could not follow, names the object anywhere."""
        return any(str(part).lower() in self.uncertain_words for part in key[2:] if part)


_GONE = object()
"""A key deleted in a layer whose base still holds it."""


class _Facts:
    """Facts by key, remembering which keys were written since it was made.

    A fork does not copy the schema: each branch gets a layer of its own writes
    over the state it forked from (``base``, read-only while layers stand on
    it), and once a single layer is left on a base, that layer folds its writes
    into it (:meth:`compact`): the cost of a fork is what its branches change,
    not the size of the schema (a full copy per fork made a 50,000-revision
    chain quadratic).

    Two indexes per layer keep every step proportional to what it touches:
    ``by_table`` (table name -> keys that may belong to that table) and
    ``by_word`` (lower-cased name -> keys a raw SQL word may name). They hold
    candidates: a key stays listed after its fact moved or went, so every
    reader checks the fact itself.
    """

    def __init__(self, base: _Facts | None = None, changed: set | None = None) -> None:
        self.own: dict[tuple, object] = {}
        self.base = base
        self.layers_on_me = 0
        self.held = True
        """A state still writes here directly (so no layer may fold into it)."""
        if base is not None:
            base.layers_on_me += 1
        self.changed: set[tuple[str, ...]] = changed if changed is not None else set()
        self.by_table: dict[str, set[tuple]] = {}
        self.by_word: dict[str, set[tuple]] = {}

    def layer(self, keep_changed: bool = False) -> _Facts:
        """A writable view over this one (which stays as it is while the view stands).
        ``keep_changed``: the view replaces this one as its state's facts."""
        if keep_changed:
            self.held = False
        return _Facts(self, self.changed if keep_changed else None)

    def release(self) -> None:
        """This view is dropped: its base may be folded into by the layer left on it."""
        self.held = False
        if self.base is not None and not self.layers_on_me:
            self.base.layers_on_me -= 1
            self.base = None

    def compact(self) -> None:
        """Fold this layer into bases that no other layer stands on."""
        while self.base is not None and self.base.layers_on_me == 1 and not self.base.held and self.layers_on_me == 0:
            base = self.base
            for key, value in self.own.items():
                if value is _GONE and base.base is None:
                    base.own.pop(key, None)
                else:
                    base.own[key] = value
            for mine, theirs in ((self.by_table, base.by_table), (self.by_word, base.by_word)):
                for name, keys in mine.items():
                    theirs.setdefault(name, set()).update(keys)
            self.own, self.by_table, self.by_word = base.own, base.by_table, base.by_word
            self.base = base.base  # the base's own count of layers on its base passes to this one
            base.base = None
            base.layers_on_me = 0

    def _lookup(self, key: tuple) -> object:
        layer: _Facts | None = self
        while layer is not None:
            value = layer.own.get(key, None)
            if value is not None:
                return value
            layer = layer.base
        return None

    def get(self, key: tuple, default: Fact | None = None) -> Fact | None:
        value = self._lookup(key)
        return default if value is None or value is _GONE else value  # type: ignore[return-value]

    def __getitem__(self, key: tuple) -> Fact:
        value = self.get(key)
        if value is None:
            raise KeyError(key)
        return value

    def __contains__(self, key: object) -> bool:
        return self.get(key) is not None  # type: ignore[arg-type]

    def items(self) -> list[tuple[tuple, Fact]]:
        seen: dict[tuple, object] = {}
        layers = []
        layer: _Facts | None = self
        while layer is not None:
            layers.append(layer)
            layer = layer.base
        for layer in reversed(layers):  # oldest first: a base's keys keep their order
            seen.update(layer.own)
        return [(k, v) for k, v in seen.items() if v is not _GONE]  # type: ignore[misc]

    def keys(self) -> list[tuple]:
        return [k for k, _ in self.items()]

    def __iter__(self) -> Iterator[tuple]:
        return iter(self.keys())

    def _index(self, index: dict[str, set[tuple]], name: str, key: tuple) -> None:
        index.setdefault(name, set()).add(key)

    def __setitem__(self, key: tuple[str, ...], value: Fact) -> None:
        self.changed.add(key)
        self.own[key] = value
        names = {value.table} if value.table else set()
        if key[0] in ("column", "constraint", "table"):
            names.add(key[2])
        for name in names:
            self._index(self.by_table, name, key)
            self._index(self.by_word, name.lower(), key)
        self._index(self.by_word, key[-1].lower(), key)

    def __delitem__(self, key: tuple[str, ...]) -> None:
        if key not in self:
            raise KeyError(key)
        self.changed.add(key)
        if self.base is None:
            del self.own[key]
        else:
            self.own[key] = _GONE

    def _candidates(self, which: str, names) -> set[tuple]:
        found: set[tuple] = set()
        layer: _Facts | None = self
        while layer is not None:
            index = layer.by_table if which == "table" else layer.by_word
            for name in names:
                found.update(index.get(name, ()))
            layer = layer.base
        return {k for k in found if k in self}

    def of_table(self, table: str) -> list[tuple]:
        """Keys that may belong to ``table`` (any schema), in a stable order; callers check the fact."""
        return sorted(self._candidates("table", (table,)), key=_key_order)

    def named(self, words: set[str]) -> list[tuple]:
        """Keys whose name or table may be one of the lower-cased ``words``."""
        return sorted(self._candidates("word", words), key=_key_order)


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
        clone = _State(origin, self.facts.layer())
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
    yield from replay_chain(graph).redundancies


def replay_chain(graph: RevisionGraph, is_tracking_needed: bool = False) -> Replay:
    """The replay of the whole chain, made once per graph (MD011, MD012, MD022 and MD023
    read it). An empty replay for a cyclic graph. ``is_tracking_needed``: record needs and
    creations even on a chain that never branches (MD022 against the archive folder)."""
    cached = graph.__dict__.get("_replay")
    if cached is None or (is_tracking_needed and not cached.is_tracking):
        cached = Replay([], [], {}, set())
        cached.is_tracking = is_tracking_needed or any(degree > 1 for _, degree in graph.graph.out_degree())
        if graph.is_acyclic:
            cached.redundancies = list(_replay(graph, cached))
        graph.__dict__["_replay"] = cached
    return cached


def _replay(graph: RevisionGraph, found: Replay) -> Iterator[Redundancy]:
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
            if state.facts.layers_on_me:  # a sibling's layer still reads it: write in a layer of its own
                state.facts = state.facts.layer(keep_changed=True)
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
                states.pop(other).facts.release()
        if any(graph.index_of(n) is None for n in g.predecessors(node)):
            state.make_everything_uncertain(index)  # a missing parent hides what came before
        state.facts.compact()
        body = graph.files[index].upgrade
        if body is not None:
            yield from _apply(state, index, body.operations, found)
        if waiting[index]:
            states[index] = state
        else:
            state.facts.release()  # a head: nothing reads it again


def _is_in_history(graph: RevisionGraph, parent: int, setter: int) -> bool:
    """True when revision ``setter`` is ``parent`` or one of its ancestors."""
    if setter < 0:
        return False
    return setter == parent or graph.is_ancestor(setter, parent)


def _apply(state: _State, index: int, operations: tuple[Operation, ...], found: Replay) -> Iterator[Redundancy]:
    for op in operations:
        if op.kind == "unknown":
            state.make_everything_uncertain(index)
            found.touching_anything.add(index)
            continue
        if op.kind == "execute":
            if op.name is None:
                state.make_everything_uncertain(index)
                found.touching_anything.add(index)
            elif not _DML.match(op.name):
                state.make_words_uncertain(op.name, index)
                found.uncertain_words.update(w.lower() for w in _WORD.findall(op.name))
            continue
        if not op.is_certain or op.table is None:
            if op.table is not None:
                state.make_table_uncertain(op.table, index)
                found.uncertain_words.add(op.table.lower())
                if op.kind == "rename_table" and op.new_name:
                    state.make_table_uncertain(op.new_name, index)
                    found.uncertain_words.add(op.new_name.lower())
            else:
                state.make_everything_uncertain(index)
                found.touching_anything.add(index)
            continue
        if found.is_tracking:
            _note_needs_and_creations(state, index, op, found)
        yield from _apply_certain(state, index, op)


def created_keys(op: Operation) -> list[tuple]:
    """The objects a certain operation makes exist, keyed as the replay keys them."""
    table, schema, kind = op.table, op.schema, op.kind
    if kind == "create_table":
        return [("table", schema, table), *(("column", schema, table, column) for column in op.columns)]
    if kind == "rename_table" and op.new_name:
        return [("table", schema, op.new_name)]
    if kind == "add_column" and op.name:
        return [("column", schema, table, op.name)]
    if kind == "alter_column" and op.name and op.new_name:
        return [("column", schema, table, op.new_name)]
    if kind == "create_index" and op.name:
        return [("index", schema, op.name)]
    if kind.startswith("create_") and op.name:
        return [("constraint", schema, table, op.name)]
    return []


def creations_in(files) -> dict[tuple, list[int]]:
    """Object -> positions in ``files`` whose ``upgrade()`` creates it with certainty (no
    replay: for files outside the chain, such as the archive folder's)."""
    found: dict[tuple, list[int]] = {}
    for position, rf in enumerate(files):
        if rf.upgrade is None or rf.read_error is not None:
            continue
        for op in rf.upgrade.operations:
            if op.is_certain and op.table is not None and op.kind not in ("unknown", "execute"):
                for key in created_keys(op):
                    found.setdefault(key, []).append(position)
    return found


_NEEDS_TABLE = frozenset(
    {"add_column", "drop_column", "alter_column", "create_index", "drop_table", "rename_table", "drop_constraint"}
)
_NEEDS_COLUMN = frozenset({"drop_column", "alter_column"})


def _note_needs_and_creations(state: _State, index: int, op: Operation, found: Replay) -> None:
    """Before ``op`` changes the state: what it needs that its line never mentioned (MD022),
    and what it creates (MD022's sources, MD023's rivals)."""
    table, schema, kind = op.table, op.schema, op.kind
    table_key = ("table", schema, table)
    if kind in _NEEDS_TABLE or (kind.startswith("create_") and kind != "create_table"):
        if state.get(table_key) is None:
            found.needs.append(Need(index, op, table_key))
        elif kind in _NEEDS_COLUMN and op.name and (schema, table) in state.complete_tables:
            # a column list known whole (a certain create_table): a column it lacks was never made here
            if state.get(("column", schema, table, op.name)) is None:
                found.needs.append(Need(index, op, ("column", schema, table, op.name)))
    if kind == "create_index" and (schema, table) in state.complete_tables:
        for column in op.columns:
            if state.get(("column", schema, table, column)) is None:
                found.needs.append(Need(index, op, ("column", schema, table, column)))

    for key in created_keys(op):
        found.creations.setdefault(key, []).append(Creation(index, op, state.get(key) is None))

    def dropped(key: tuple) -> None:
        found.drops.setdefault(key, []).append(index)

    if kind in ("drop_table", "rename_table"):
        dropped(table_key)
    elif kind == "drop_column" and op.name:
        dropped(("column", schema, table, op.name))
    elif kind == "alter_column" and op.name and op.new_name:
        dropped(("column", schema, table, op.name))
    elif kind == "drop_index" and op.name:
        dropped(("index", schema, op.name))
    elif kind == "drop_constraint" and op.name:
        dropped(("constraint", schema, table, op.name))


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
