"""Directions of replay: which side's rows become which, through f or through g.

Both directions reduce a batch of changes to a final state per *entity* (a blue
key), then resolve each entity into writes on the target side:

- forward (blue -> green): the entity's new blue row goes through f;
- reverse (green -> blue): the entity's current green rows go through g.

A target row is keyed by the entity's key, so deletes and key changes are exact.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from collections.abc import Set as AbstractSet
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeVar

from orchestrator.db.inverse import InverseQuery
from orchestrator.db.transform import Row, TableTransform, Transform
from orchestrator.errors import ReplayError, RowRejected, TransformError

Entity = tuple[str, tuple]  # (blue table, blue key)
SourceRow = tuple  # a source row's values, its table's columns in order
T = TypeVar("T")


class Reader(Protocol):
    """The source's current rows, as of a snapshot that sees every change decoded."""

    def __call__(self, table: str, keys: list[tuple]) -> dict[tuple, Row]:
        """(table, keys) -> {key: row}"""

    def run(self, query: Callable[[Any], T]) -> T:
        """`query(connection)`, run in that snapshot."""


@dataclass
class Writes:
    upserts: dict[tuple, Row] = field(default_factory=dict)
    deletes: set[tuple] = field(default_factory=set)
    inserts: dict[tuple, Row] = field(default_factory=dict)  # keys the target cannot hold
    # Source rows (every column's value, in order) whose target row the target's
    # server computes (a SQL f), by source key. The same dict for every green table
    # of one source table: its rows are staged once for all of them (apply.py).
    computed: dict[tuple, SourceRow] = field(default_factory=dict)
    computed_fresh: dict[tuple, SourceRow] = field(default_factory=dict)  # as `inserts`

    def upsert(self, key: tuple, row: Row) -> None:
        self.deletes.discard(key)
        self.upserts[key] = row

    def delete(self, key: tuple) -> None:
        self.upserts.pop(key, None)
        self.deletes.add(key)


class Forward:
    """Blue's tables are the source; green's tables the target."""

    needs_rows = True  # f is computed from the changed row itself

    def __init__(self, transform: Transform) -> None:
        self.transform = transform

    def truncate_targets(self, tables: list[str]) -> list[str]:
        return list(dict.fromkeys(g for t in tables for g in self.transform.tables[t].targets))

    def source_tables(self) -> list[str]:
        return list(self.transform.tables)

    def target_tables(self) -> list[str]:
        return self.transform.target_tables()

    def source_key(self, table: str) -> tuple[str, ...]:
        return self.transform.tables[table].key

    def target_key(self, table: str) -> tuple[str, ...]:
        return tuple(self.transform.owner_of(table).targets[table])

    def entity(self, table: str, row: Row) -> Entity:
        tt = self.transform.tables[table]
        return table, tt.source_key(row)

    def keeps_text(self, table: str) -> bool:
        """The target's server computes this table's rows (a SQL f) from the source
        row as the log gives it: the stream need not decode it, only its key."""
        return self.transform.tables[table].sql is not None

    def resolve(self, finals: dict[Entity, Row | SourceRow | None], read: Reader,
                fresh: AbstractSet[Entity] = frozenset()) -> dict[str, Writes]:
        """finals: each entity's row, a SourceRow for a table that keeps_text.
        fresh: entities the target cannot hold yet (first seen as inserts)."""
        writes = {t: Writes() for t in self.target_tables()}
        computed: dict[str, tuple[dict, dict]] = {}  # table -> (its rows, its fresh ones)
        for entity, row in finals.items():
            table, key = entity
            tt = self.transform.tables[table]
            new_here = entity in fresh
            if row is None:
                if not new_here:  # else: born and gone within the batch
                    for target in tt.targets:
                        writes[target].delete(tt.target_key(target, key))
                continue
            if tt.sql is not None:  # f runs on the target, over the staged source row
                staged = computed.get(table)
                if staged is None:
                    staged = computed[table] = ({}, {})
                assert type(row) is tuple  # keeps_text: the stream did not decode it
                staged[new_here][key] = row
                continue
            assert isinstance(row, dict)
            for target, new in forward_rows(tt, row).items():
                tkey = tt.target_key(target, key)
                if new_here:
                    if new is not None:
                        writes[target].inserts[tkey] = new
                elif new is None:
                    writes[target].delete(tkey)
                else:
                    writes[target].upsert(tkey, new)
        # An entity is in `finals` once, and green keys map one to one onto blue's
        # (transform.py), so a deleted and a computed row never share a green key.
        for table, (rows, fresh_rows) in computed.items():
            for target in self.transform.tables[table].targets:
                writes[target].computed, writes[target].computed_fresh = rows, fresh_rows
        return writes


class Reverse:
    """Green's tables are the source; blue's tables the target, rebuilt through g."""

    needs_rows = False  # g is computed from the entity's current green rows

    def __init__(self, transform: Transform) -> None:
        self.transform = transform
        for tt in transform.tables.values():
            if not tt.has_inverse:
                raise TransformError(
                    f"transform for {tt.source}: no inverse g; reverse replay needs one"
                )
        # g in SQL, by blue table: set once green's and blue's columns are known.
        self.inverses: dict[str, InverseQuery] = {}

    def source_tables(self) -> list[str]:
        return self.transform.target_tables()

    def truncate_targets(self, tables: list[str]) -> list[str]:
        blue = []
        for table in tables:
            tt = self.transform.owner_of(table)
            if not set(tt.targets) <= set(tables):
                raise ReplayError(
                    f"TRUNCATE of {table} alone cannot be replayed to blue's {tt.source}: "
                    f"g also reads {', '.join(sorted(set(tt.targets) - {table}))}",
                    "truncate all of them in one statement, or resync blue",
                )
            blue.append(tt.source)
        return list(dict.fromkeys(blue))

    def target_tables(self) -> list[str]:
        return list(self.transform.tables)

    def source_key(self, table: str) -> tuple[str, ...]:
        return tuple(self.transform.owner_of(table).targets[table])

    def target_key(self, table: str) -> tuple[str, ...]:
        return self.transform.tables[table].key

    def keeps_text(self, table: str) -> bool:
        return False  # only the entity's key is read from the row, decoded

    def entity(self, table: str, row: Row) -> Entity:
        tt = self.transform.owner_of(table)
        by_blue = {blue: row[green] for green, blue in tt.targets[table].items()}
        return tt.source, tuple(by_blue[c] for c in tt.key)

    def resolve(self, finals: dict[Entity, Row | SourceRow | None], read: Reader,
                fresh: AbstractSet[Entity] = frozenset()) -> dict[str, Writes]:
        # fresh is not used: g always starts from green's current rows.
        # The change only says which entities moved; g needs all of an entity's
        # green rows, so read them, under a snapshot that sees every transaction
        # replayed so far (stream.py): never the state from before them.
        by_table: dict[str, list[tuple]] = {}
        for table, key in finals:
            by_table.setdefault(table, []).append(key)
        writes = {t: Writes() for t in self.target_tables()}
        for table, keys in by_table.items():
            tt = self.transform.tables[table]
            if tt.inverse_sql is not None:  # green's server computes blue's rows
                found = read.run(functools.partial(self.inverses[table].rows, keys=keys))
                for key in keys:
                    if key in found:
                        writes[table].upsert(key, found[key])
                    else:
                        writes[table].delete(key)
                continue
            current = {g: read(g, [tt.target_key(g, k) for k in keys]) for g in tt.targets}
            for key in keys:
                rows = {g: current[g].get(tt.target_key(g, key)) for g in tt.targets}
                blue = (None if all(r is None for r in rows.values())
                        else inverse_row(tt, rows, key))
                if blue is None:
                    writes[table].delete(key)
                else:
                    writes[table].upsert(key, blue)
        return writes


def forward_rows(tt: TableTransform, row: Row) -> dict[str, Row | None]:
    try:
        return tt.apply(row)
    except TransformError:
        raise
    except Exception as exc:
        key = tt.source_key(row)
        raise RowRejected(f"transform f for {tt.source} raised {exc.__class__.__name__}:"
                          f" {exc} on key {key}", tt.source, key, row) from exc


def inverse_row(tt: TableTransform, rows: dict[str, Row | None], key: tuple) -> Row | None:
    assert tt.backward is not None
    try:
        return tt.backward(rows)
    except Exception as exc:
        raise RowRejected(f"inverse g for {tt.source} raised {exc.__class__.__name__}:"
                          f" {exc} on key {key}", tt.source, key, rows) from exc
