"""g in SQL, run by green's server: blue's rows computed from each key's green rows.

Each green table joins under its bare name, NULL columns where it has no row for
the key, so that g reads `accounts.first_name` wherever the table lives. A blue row
exists while any green table has the key's row. The values come out cast to blue's
column types (as text where blue's type is its own: an enum green may not have),
printed by COPY as blue reads them back.
"""

from __future__ import annotations

import io
from dataclasses import dataclass

import psycopg2

from orchestrator.db.catalog import TableInfo, quote_ident, quote_table, sql_alias, typed_values
from orchestrator.db.connect import first_line
from orchestrator.db.transform import Row, TableTransform
from orchestrator.db.values import parse_copy_line
from orchestrator.errors import ReplayRefused

KEY_CHUNK = 1000  # keys per query: a VALUES list, not one round trip per key


@dataclass(frozen=True)
class InverseQuery:
    tt: TableTransform
    greens: dict[str, TableInfo]  # green table -> its columns, in targets order
    columns: tuple[str, ...]  # blue's columns but the key
    exprs: tuple[str, ...]  # g of each, cast for blue

    def for_keys(self, values: str) -> str:
        """g of the keys in `values` (a VALUES of (n, key...)): per key, its n, whether
        any green table has its row, and blue's columns."""
        n = len(self.tt.key)
        joins = []
        for table in self.greens:
            alias = sql_alias(table)
            on = " AND ".join(f"{alias}.{quote_ident(c)} = gs_k.k{i}"
                              for i, c in enumerate(self.tt.green_order(table)))
            joins.append(f" LEFT JOIN {quote_table(table)} AS {alias} ON {on}")
        present = " OR ".join(f"{sql_alias(t)}.{quote_ident(self.tt.green_order(t)[0])}"
                              " IS NOT NULL" for t in self.greens)
        names = ", ".join(f"k{i}" for i in range(n))
        return (f"SELECT gs_k.n, ({present}), {', '.join(self.exprs)} FROM ({values})"
                f" AS gs_k(n, {names}){''.join(joins)}")

    def rows(self, conn, keys: list[tuple]) -> dict[tuple, Row]:
        """Blue's row of each key that has one, by key: the key's values as given,
        g's as blue's text (the COPY into blue reads them)."""
        first, info = next(iter(self.greens.items()))
        order = self.tt.green_order(first)
        found: dict[tuple, Row] = {}
        with conn.cursor() as cur:
            for start in range(0, len(keys), KEY_CHUNK):
                chunk = keys[start:start + KEY_CHUNK]
                buf = io.StringIO()
                values = typed_values(cur, info, order, chunk, numbered=True)
                cur.copy_expert(f"COPY ({self.for_keys(values)}) TO STDOUT", buf)
                for line in buf.getvalue().splitlines():
                    n, present, *fields = parse_copy_line(line)
                    if present == "t":
                        key = chunk[int(n or 0)]
                        found[key] = {**dict(zip(self.tt.key, key, strict=True)),
                                      **dict(zip(self.columns, fields, strict=True))}
        return found

    def try_on(self, conn) -> None:
        """Run g once on no row, and roll back: a wrong column, a missing function or
        a type that does not cast is refused now, in one line, not at the first
        change."""
        first, info = next(iter(self.greens.items()))
        nulls = ", ".join(f"NULL::{info.type_of(c)}" for c in self.tt.green_order(first))
        try:
            with conn.cursor() as cur:
                cur.execute(f"SELECT * FROM ({self.for_keys(f'VALUES (0, {nulls})')}) q")
        except psycopg2.Error as exc:
            raise ReplayRefused(
                f"SQL g of {self.tt.source} cannot run on green: {first_line(exc)}",
                "fix the expression (it reads green's tables by their bare names)",
            ) from None
        finally:
            conn.rollback()


def inverse_queries(tts: list[TableTransform], greens: dict[str, TableInfo],
                    blues: dict[str, TableInfo]) -> dict[str, InverseQuery]:
    """The SQL g of each of `tts` that has one, by blue table."""
    found = {}
    for tt in tts:
        if tt.inverse_sql is None:
            continue
        blue = blues[tt.source]
        columns, exprs = tt.inverse_select(blue.columns, blue.builtin_types())
        found[tt.source] = InverseQuery(tt, {g: greens[g] for g in tt.targets}, columns, exprs)
    return found
