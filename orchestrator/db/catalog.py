"""What a database says about its tables: columns, types, keys, replica identity."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import Any

from orchestrator.db.values import decoder

FIRST_USER_OID = 16384  # below it, the objects initdb made: built-in types among them


@dataclass(frozen=True)
class TableInfo:
    name: str
    columns: tuple[str, ...]
    type_oids: tuple[int, ...]
    primary_key: tuple[str, ...]
    replica_identity: str  # d default, n nothing, f full, i index
    identity_index: tuple[str, ...] = ()  # the index's columns, for replica identity i
    # Each column's type as SQL spells it (format_type): keys travel as text and
    # are cast back to this, since uuid = text, date = text... do not exist.
    type_names: tuple[str, ...] = ()
    not_null: frozenset[str] = frozenset()

    def type_of(self, column: str) -> str:
        return self.type_names[self.columns.index(column)]

    def builtin_types(self) -> dict[str, str]:
        """Column -> type, for the columns of PostgreSQL's own types: any server
        knows them by that name (an enum or a domain may exist on one side only)."""
        return {c: t for c, t, oid in zip(self.columns, self.type_names, self.type_oids,
                                          strict=True) if oid < FIRST_USER_OID}

    def decoders(self) -> list:
        return [decoder(oid) for oid in self.type_oids]

    @cached_property
    def row(self) -> Callable[[Sequence[Any]], dict]:
        """One COPY line's fields (every column, in order) as the transform sees them.

        Built once per table as straight-line code: this runs for every copied or
        replayed row, and a generic loop over columns costs twice as much."""
        names = [f"v{i}" for i in range(len(self.columns))]
        env: dict = {}
        items = []
        for i, (column, convert) in enumerate(zip(self.columns, self.decoders(), strict=True)):
            value = names[i]
            if convert is not str:  # text stays as COPY printed it
                env[f"c{i}"] = convert
                value = f"None if {value} is None else c{i}({value})"
            items.append(f"{column!r}: {value}")
        source = (f"def row(fields):\n"
                  f"    ({''.join(n + ', ' for n in names)}) = fields\n"
                  f"    return {{{', '.join(items)}}}\n")
        exec(compile(source, f"<row decoder for {self.name}>", "exec"), env)  # noqa: S102
        return env["row"]


def split_name(table: str) -> tuple[str, str]:
    schema, _, name = table.rpartition(".")
    return schema or "public", name


def table_info(cur, table: str) -> TableInfo | None:
    schema, name = split_name(table)
    cur.execute(
        """
        SELECT c.oid, c.relreplident FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE n.nspname = %s AND c.relname = %s AND c.relkind IN ('r', 'p')
        """,
        (schema, name),
    )
    found = cur.fetchone()
    if found is None:
        return None
    oid, replident = found
    cur.execute(
        # Generated columns are neither in the change log nor writable: leave them out.
        "SELECT attname, atttypid, format_type(atttypid, atttypmod), attnotnull"
        " FROM pg_attribute WHERE attrelid = %s AND attnum > 0"
        " AND NOT attisdropped AND attgenerated = '' ORDER BY attnum",
        (oid,),
    )
    cols = cur.fetchall()
    pk = _index_columns(cur, oid, "indisprimary")
    identity = _index_columns(cur, oid, "indisreplident")
    return TableInfo(table, tuple(c[0] for c in cols), tuple(c[1] for c in cols), pk, replident,
                     identity, tuple(c[2] for c in cols),
                     frozenset(c[0] for c in cols if c[3]))


def estimated_rows(cur, table: str) -> int:
    """The planner's row estimate: cheap, and good enough for a progress ETA."""
    cur.execute("SELECT greatest(reltuples, 0)::bigint FROM pg_class WHERE oid ="
                " to_regclass(%s)", (quote_table(table),))
    row = cur.fetchone()
    return row[0] if row else 0


def _index_columns(cur, oid: int, flag: str) -> tuple[str, ...]:
    cur.execute(
        "SELECT a.attname FROM pg_index i JOIN LATERAL unnest(i.indkey) WITH ORDINALITY"
        " AS k(attnum, pos) ON true JOIN pg_attribute a ON a.attrelid = i.indrelid"
        f" AND a.attnum = k.attnum WHERE i.indrelid = %s AND i.{flag} ORDER BY k.pos",
        (oid,),
    )
    return tuple(r[0] for r in cur.fetchall())


def quote_ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def quote_table(table: str) -> str:
    schema, name = split_name(table)
    return f"{quote_ident(schema)}.{quote_ident(name)}"


def sql_alias(table: str) -> str:
    """The name a SQL f reads `table`'s row under: its bare name, wherever the row is
    (the table itself, a stage, a VALUES), so `items.price` means one thing."""
    return quote_ident(split_name(table)[1])


def typed_values(cur, info: TableInfo, columns: tuple[str, ...], keys: list[tuple],
                 numbered: bool = False) -> str:
    """`VALUES (...), ...` of `keys`, each value cast to its column's type: keys travel
    as text, and uuid = text, date = text... do not exist. Numbered: each row starts
    with its index in `keys`, so answers can be matched to the keys asked for."""
    # In parentheses: -9223372036854775808::bigint is -(9223372036854775808::bigint).
    slots = ", ".join(f"(%s)::{info.type_of(c)}" for c in columns)
    rows = []
    for i, key in enumerate(keys):
        row = cur.mogrify(f"({slots})", key).decode()
        rows.append(f"({i}, {row[1:]}" if numbered else row)
    return "VALUES " + ", ".join(rows)


def key_problem(info: TableInfo, key: tuple[str, ...] | list[str]) -> str | None:
    """Why `info`'s table cannot be replayed keyed by `key`, or None if it can.

    One rule for every command (replay, transform check, verify): the transform's key
    is the table's primary key. A keyless table is refused even with REPLICA IDENTITY
    FULL: an update or delete of one of two identical rows could not be told apart,
    and green could not key what it receives."""
    if not info.primary_key:
        return f"{info.name} has no primary key; greenswap replays only tables with one"
    if set(info.primary_key) != set(key):
        return (f"{info.name} has primary key {list(info.primary_key)}, but the transform keys "
                f"it by {list(key)}")
    # What the log carries for an update or delete is the replica identity: it must
    # contain the key, or deletes and key changes cannot be found.
    identity = {"d": set(info.primary_key), "i": set(info.identity_index),
                "f": set(info.columns), "n": set()}[info.replica_identity]
    if not set(key) <= identity:
        return (f"{info.name} identifies rows in its log by {sorted(identity) or 'nothing'} "
                f"(REPLICA IDENTITY), not by its primary key {list(info.primary_key)}")
    return None


def key_hint(table: str) -> str:
    return (f"give {table} a primary key and key the transform by it (a keyless table can "
            f"take one: ALTER TABLE {table} ADD COLUMN id bigserial PRIMARY KEY), and leave "
            "its REPLICA IDENTITY at DEFAULT")
