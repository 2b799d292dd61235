"""The transform contract: how blue's rows become green's, and back.

A user writes one Python module that builds a `Transform` and declares, for each
blue table, a forward function `f` and its inverse `g`:

    from orchestrator.db.transform import Transform

    transform = Transform()

    @transform.table("accounts", key=["id"],
                     targets={"accounts": {"id": "id"}, "addresses": {"account_id": "id"}})
    def accounts(row):                      # f: one blue row -> green rows
        return {"accounts": {...}, "addresses": {...}}

    @accounts.inverse
    def accounts_back(rows):                # g: green rows of one key -> the blue row
        return {...}

Rules (checked by `greenswap transform check`):
- `targets` maps each green table to its key columns, each taken from a blue key
  column. So every blue key owns at most one row per green table, and a delete or a
  key change on blue says exactly which green rows go.
- `f` returns, per green table, one row (a dict) or None (no row there).
- `g` receives, per green table, that key's row or None, and returns the blue row.
- Both are pure: no I/O, no clock, no randomness; same input, same output.

A table whose f is a column-by-column mapping can declare it in SQL instead. Its
rows then never pass through Python: the snapshot is one `COPY (SELECT ...)` piped
into green, and replay stages blue's changed rows on green and writes each green
table with one INSERT ... SELECT per batch:

    items = transform.sql("items", key=["id"], targets={"items": {"id": "id"}},
                          f={"items": {"price_cents": "(price * 100)::bigint",
                                       "title": "name"}})

    @items.inverse                          # g in Python, or in SQL (below)
    def items_back(rows): ...

    @items.reference                        # optional: `transform check` proves the
    def items_f(row): ...                   # SQL equal to this Python f

g can be SQL as well: per blue column (the key aside), an expression over the
key's green rows, each green table by its bare name, NULL columns where it has no
row. The blue row exists while any green table has the key's row:

    items = transform.sql(..., f={...},
                          g={"price": "items.price_cents / 100.0", "name": "items.title"})

Reverse replay then has green's server compute blue's changed rows, and verify and
`transform check` run the same SQL.

Each expression reads blue's columns by name (or as `items.price`); green's key
columns come from `targets` and are not written in `f`. The expressions run on
blue (snapshot, verify) and on green (replay), under the same pinned session
settings (connect.py), so use functions both servers have, and no volatile ones
(now(), random()): `transform check` refuses an f that answers twice differently.

Sequences are not in the change log. Same-named sequences follow each other at
cutover and rollback without a word; others are declared:

    transform.sequence("orders_v2_id_seq", blue="orders_id_seq")   # renamed
    transform.sequence("lines_line_no_seq", max_of="order_lines.id")  # fed from a column
"""

from __future__ import annotations

import importlib.util
import operator
import sys
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from orchestrator.db.catalog import quote_ident, split_name
from orchestrator.errors import TransformError

Row = dict[str, Any]
Forward = Callable[[Row], Mapping[str, Row | None]]
Inverse = Callable[[Mapping[str, Row | None]], Row | None]
SqlColumns = dict[str, str]  # green column -> SQL expression over blue's columns


@dataclass
class TableTransform:
    source: str
    key: tuple[str, ...]
    targets: dict[str, dict[str, str]]  # green table -> {green key column: blue key column}
    # Python f. For a table declared in SQL, only a reference that `transform check`
    # compares the SQL with: replay never calls it.
    forward: Forward | None
    backward: Inverse | None = None
    sql: dict[str, SqlColumns] | None = None  # green table -> its non-key columns
    # g in SQL: blue column (the key aside) -> expression over the key's green rows
    inverse_sql: SqlColumns | None = None

    def __post_init__(self) -> None:
        self._target_set = set(self.targets)
        # Where each green key column sits in blue's key: target_key runs per change.
        self._key_index = {
            table: tuple(self.key.index(src) for src in mapping.values())
            for table, mapping in self.targets.items()
        }
        # source_key runs once or twice per change: one C call, not a loop.
        pick = operator.itemgetter(*self.key)
        self._pick_key = (lambda row: (pick(row),)) if len(self.key) == 1 else pick

    def inverse(self, fn: Inverse) -> Inverse:
        if self.inverse_sql is not None:
            raise TransformError(f"transform for {self.source}: g is declared in SQL (g=); "
                                 "give it in Python or in SQL, not both")
        self.backward = fn
        return fn

    @property
    def has_inverse(self) -> bool:
        return self.backward is not None or self.inverse_sql is not None

    def inverse_select(self, blue: Sequence[str], types: Mapping[str, str]
                       ) -> tuple[tuple[str, ...], tuple[str, ...]]:
        """g as SQL: blue's columns but the key, in `blue`'s order, and the expression
        of each over the key's green rows, cast to its blue type where `types` gives
        one (blue's built-in types), else to text, which blue reads as its own type
        (an enum or a domain green may not have). Raises if g misses a column."""
        assert self.inverse_sql is not None
        columns = tuple(c for c in blue if c not in self.key)
        missing = [c for c in columns if c not in self.inverse_sql]
        extra = sorted(set(self.inverse_sql) - set(columns))
        if missing or extra:
            raise TransformError(
                f"transform for {self.source}: g= must give every column of blue's "
                f"{self.source} but its key: "
                + "; ".join(([f"{', '.join(missing)} missing"] if missing else [])
                            + ([f"{', '.join(extra)} not on blue"] if extra else [])))
        return columns, tuple(as_blue(f"({self.inverse_sql[c]})", types.get(c))
                              for c in columns)

    def green_order(self, green_table: str) -> tuple[str, ...]:
        """`green_table`'s key columns in the order of blue's key columns."""
        by_blue = {blue: green for green, blue in self.targets[green_table].items()}
        return tuple(by_blue[c] for c in self.key)

    def reference(self, fn: Forward) -> Forward:
        """A Python f that a SQL table's f must equal (checked, never replayed)."""
        if self.sql is None:
            raise TransformError(f"transform for {self.source}: reference is for tables "
                                 "declared with transform.sql(); this one's f is Python")
        self.forward = fn
        return fn

    def sql_select(self, target: str, types: Mapping[str, str],
                   via_text: Mapping[str, str] | None = None
                   ) -> tuple[tuple[str, ...], tuple[str, ...]]:
        """f for one green table as SQL: its columns (the key first, in blue's key
        order) and the expression of each, over blue's row.

        Each is cast to its green column's type, given in `types` (green's built-in
        types; others are left to the write). The same expression then means the
        same value wherever it runs: on blue, whose COPY output green reads
        (snapshot, verify), and on green, which would otherwise coerce it by
        assignment (replay). A real read into a double precision column is
        0.33333334 one way and 0.3333333432674408 the other.

        `via_text`: columns of other types (an enum, a domain), for SQL run on green:
        cast through text, as green reads the snapshot's COPY text of them."""
        assert self.sql is not None
        by_blue = {blue: green for green, blue in self.targets[target].items()}
        columns = [by_blue[c] for c in self.key]
        exprs = [quote_ident(c) for c in self.key]
        for column, expr in self.sql[target].items():
            columns.append(column)
            exprs.append(f"({expr})")
        via_text = via_text or {}
        return tuple(columns), tuple(
            f"CAST({e} AS {types[c]})" if c in types
            else f"CAST(({e})::text AS {via_text[c]})" if c in via_text else e
            for c, e in zip(columns, exprs, strict=True))

    def source_key(self, row: Row) -> tuple:
        return self._pick_key(row)

    def target_key(self, table: str, source_key: tuple) -> tuple:
        index = self._key_index[table]
        if len(index) == 1:
            return (source_key[index[0]],)
        return tuple(source_key[i] for i in index)

    def apply(self, row: Row) -> dict[str, Row | None]:
        """f(row), normalised: every target table present, each a row or None."""
        if self.forward is None:
            raise TransformError(f"transform for {self.source}: f is SQL, with no Python "
                                 "reference to run")
        out = self.forward(row)
        # The common case, checked cheaply: this runs for every replayed row.
        if type(out) is dict and out.keys() == self._target_set:
            return out
        if not isinstance(out, Mapping):
            raise TransformError(
                f"transform for {self.source}: f returned {type(out).__name__}, not a mapping "
                "of green table -> row"
            )
        unknown = set(out) - set(self.targets)
        if unknown:
            raise TransformError(
                f"transform for {self.source}: f wrote to undeclared table(s) "
                f"{', '.join(sorted(unknown))}; add them to targets="
            )
        return {t: out.get(t) for t in self.targets}


@dataclass(frozen=True)
class SequenceRule:
    """A green sequence that follows blue: blue's sequence `blue` (a rename, followed
    both ways), or the largest value of blue's `max_of` = (table, column)."""

    green: str
    blue: str | None = None
    max_of: tuple[str, str] | None = None


@dataclass
class Transform:
    tables: dict[str, TableTransform] = field(default_factory=dict)
    sequences: list[SequenceRule] = field(default_factory=list)

    def sequence(self, green: str, *, blue: str | None = None, max_of: str | None = None
                 ) -> None:
        if (blue is None) == (max_of is None):
            raise TransformError(f"transform: sequence {green} needs exactly one of blue= "
                                 "(the blue sequence it follows) or max_of= ('table.column')")
        if any(r.green == green for r in self.sequences):
            raise TransformError(f"transform: sequence {green} is declared twice")
        column = None
        if max_of is not None:
            table, _, col = max_of.rpartition(".")
            if not table or not col:
                raise TransformError(f"transform: sequence {green}: max_of={max_of!r} is not "
                                     "'table.column'")
            column = (table, col)
        self.sequences.append(SequenceRule(green, blue, column))

    def table(
        self, source: str, key: list[str] | tuple[str, ...], targets: dict[str, dict[str, str]]
    ) -> Callable[[Forward], TableTransform]:
        def register(fn: Forward) -> TableTransform:
            return self._add(TableTransform(source, tuple(key), dict(targets), fn))

        return register

    def sql(self, source: str, key: list[str] | tuple[str, ...],
            targets: dict[str, dict[str, str]], f: dict[str, SqlColumns],
            g: SqlColumns | None = None) -> TableTransform:
        """Declare a table whose f is SQL: per green table, {column: expression over
        blue's columns}, for every column but the key (which `targets` maps). And
        optionally g: {blue column: expression over the key's green rows}, every
        blue column but the key."""
        if not isinstance(f, dict) or set(f) != set(targets):
            raise TransformError(f"transform for {source}: f= must give the columns of "
                                 f"exactly the tables in targets= ({', '.join(targets)})")
        for table, columns in f.items():
            _check_exprs(source, "f", table, columns, targets[table])
        if g is not None:
            if not isinstance(g, dict):
                raise TransformError(f"transform for {source}: g= must be a dict of blue "
                                     "column -> SQL expression")
            _check_exprs(source, "g", source, g, key)
            names = [split_name(t)[1] for t in targets]
            if len(set(names)) < len(names):
                raise TransformError(f"transform for {source}: g= reads green's tables by "
                                     "their bare names, and two of them share one; use a "
                                     "Python g")
        tt = TableTransform(source, tuple(key), dict(targets), None,
                            sql={t: dict(c) for t, c in f.items()},
                            inverse_sql=None if g is None else dict(g))
        return self._add(tt)

    def _add(self, tt: TableTransform) -> TableTransform:
        if tt.source in self.tables:
            raise TransformError(f"transform: table {tt.source} is declared twice")
        for table, mapping in tt.targets.items():
            if sorted(mapping.values()) != sorted(tt.key):
                raise TransformError(
                    f"transform for {tt.source}: key of {table} must take each column of "
                    f"blue's key {list(tt.key)} exactly once; it takes {list(mapping.values())}"
                )
            owner = next((t for t in self.tables.values() if table in t.targets), None)
            if owner is not None:
                raise TransformError(
                    f"transform for {tt.source}: {table} is already written by {owner.source}"
                )
        self.tables[tt.source] = tt
        return tt

    def target_tables(self) -> list[str]:
        seen: dict[str, None] = {}
        for tt in self.tables.values():
            seen.update(dict.fromkeys(tt.targets))
        return list(seen)

    def owner_of(self, target: str) -> TableTransform:
        for tt in self.tables.values():
            if target in tt.targets:
                return tt
        raise TransformError(f"transform: no blue table writes to {target}")


def as_blue(expr: str, builtin: str | None) -> str:
    """`expr`, computed on green for a blue column: cast to the column's type where
    it is a built-in one (`builtin`), else to text, which blue reads as its own type
    (an enum or a domain green may not have)."""
    return f"CAST({expr} AS {builtin})" if builtin else f"({expr})::text"


def _check_exprs(source: str, which: str, table: str, columns: SqlColumns,
                 key: Collection[str]) -> None:
    for column, expr in columns.items():
        if column in key:
            raise TransformError(
                f"transform for {source}: {which}= for {table} writes its key column "
                f"{column}; key columns come from targets=, leave it out")
        if not isinstance(expr, str) or not expr.strip():
            raise TransformError(f"transform for {source}: {which}= for {table}.{column} is"
                                 " not a SQL expression (a non-empty string)")


def identity(tables: dict[str, list[str]]) -> Transform:
    """The transform of a patch-only rollout: every table copied as it is."""
    t = Transform()
    for name, key in tables.items():
        t.table(name, key, {name: {c: c for c in key}})(_copy_to(name)).inverse(_copy_from(name))
    return t


def _copy_to(name: str) -> Forward:
    return lambda row: {name: dict(row)}


def _copy_from(name: str) -> Inverse:
    def inverse(rows: Mapping[str, Row | None]) -> Row | None:
        row = rows[name]
        return None if row is None else dict(row)
    return inverse


def load(path: Path) -> Transform:
    """Import the user's module and return its `transform`."""
    if not path.is_file():
        raise TransformError(f"transform: no file {path}", "check the path in the config")
    name = f"greenswap_user_transform_{abs(hash(str(path.resolve())))}"
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except TransformError:
        raise
    except Exception as exc:
        raise TransformError(
            f"transform: {path} failed to import: {exc.__class__.__name__}: {exc}"
        ) from None
    found = getattr(module, "transform", None)
    if not isinstance(found, Transform):
        raise TransformError(
            f"transform: {path} defines no `transform = Transform()`",
            "see docs/transform.md for the contract",
        )
    return found
