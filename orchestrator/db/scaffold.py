"""A first draft of a transform, from blue's schema and green's (after its
migrations): what `greenswap init` writes.

Every blue table with a key gets an f that copies the columns green has under the
same name, and a g that copies them back. Where every green column has its blue
column, f is drafted in SQL (`transform.sql`: replay runs it inside PostgreSQL),
and g too where every blue column has its green one; else they are Python, and
whatever does not match is a TODO that raises, naming the table and column, so
that `greenswap transform check` passes on the tables that did not change and
points at each one that did. Nothing here guesses a mapping.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from orchestrator.db.catalog import TableInfo, split_name, table_info
from orchestrator.db.connect import connect

TABLES = """
SELECT n.nspname, c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE c.relkind IN ('r', 'p') AND NOT c.relispartition
  AND n.nspname NOT IN ('pg_catalog', 'information_schema', 'greenswap')
  AND n.nspname NOT LIKE 'pg_toast%%' AND n.nspname NOT LIKE 'pg_temp%%'
ORDER BY 1, 2
"""

HEADER = '''"""The transform from blue's schema to green's, drafted by `greenswap init`.

f turns one blue row into green rows: in SQL (transform.sql, run inside
PostgreSQL) where each green column is a blue one, else in Python
(@transform.table); g turns them back (g= in SQL, or .inverse in Python). Same-named columns are
copied; every TODO raises until you write it. Prove it with `greenswap transform
check` (docs/transform.md).
"""

from orchestrator.db.transform import Transform

transform = Transform()


def todo(what):
    raise NotImplementedError(f"TODO in transform.py: {what}")
'''


@dataclass(frozen=True)
class Schema:
    tables: dict[str, TableInfo]


def read_schema(dsn: str) -> Schema:
    conn = connect(dsn, "init")
    try:
        with conn.cursor() as cur:
            cur.execute(TABLES)
            names = [name if schema == "public" else f"{schema}.{name}"
                     for schema, name in cur.fetchall()]
            tables = {}
            for name in names:
                info = table_info(cur, name)
                if info is not None:
                    tables[name] = info
            return Schema(tables)
    finally:
        conn.close()


def draft(blue: Schema, green: Schema) -> tuple[str, int]:
    """The transform module's text, and how many TODOs it holds."""
    parts, todos = [HEADER], 0
    for name, table in blue.tables.items():
        text, count = _table(table, green.tables.get(name))
        parts.append(text)
        todos += count
    for name in green.tables.keys() - blue.tables.keys():
        parts.append(f"\n# TODO: green table {name} has no blue table of that name: a blue table's"
                     "\n# f must produce its rows (add it to that table's targets).\n")
        todos += 1
    return "\n".join(parts), todos


def _table(blue: TableInfo, green: TableInfo | None) -> tuple[str, int]:
    name, fn = blue.name, _identifier(blue.name)
    if not blue.primary_key:
        return (f"\n# TODO: blue table {name} has no primary key: give it one (or REPLICA"
                f"\n# IDENTITY FULL, docs/transform.md) before it can be replayed.\n", 1)
    if green is None:
        return (f"\n# TODO: blue table {name} has no green table of that name: write its f"
                f"\n# (which green tables its rows become) and its g.\n", 1)
    key = list(blue.primary_key)
    green_key = [c for c in key if c in green.columns]
    forward = _copies(green, blue, "row", ("green", "blue"), " " * 12)
    back = _copies(blue, green, "g", ("blue", "green"), " " * 8)
    f_todos = sum("todo(" in line for line in forward)
    todos = f_todos + sum("todo(" in line for line in back)
    if green_key != key:
        todos += 1
        targets = "{}  # TODO: green's key columns, each taken from a blue key column"
    else:
        targets = "{" + ", ".join(f"{c!r}: {c!r}" for c in key) + "}"
    g_python = [
        "",
        "",
        f"@{fn}.inverse",
        f"def {fn}_back(rows):",
        f"    g = rows[{name!r}]",
        "    if g is None:",
        "        return None",
        "    return {",
        *back,
        "    }",
    ]
    if f_todos or green_key != key:
        f = [f"@transform.table({name!r}, key={key!r}, targets={{{name!r}: {targets}}})",
             f"def {fn}(row):", f"    return {{{name!r}: {{", *forward, "    }}", *g_python]
    else:  # every green column is a blue one: f is a column mapping, in SQL
        f = [f"{fn} = transform.sql({name!r}, key={key!r}, targets={{{name!r}: {targets}}},"
             f" f={{{name!r}: {{",
             *(f"    {c!r}: {_sql_name(c)!r}," for c in green.columns if c not in key)]
        if todos == 0:  # and every blue column a green one: g too
            alias = _sql_name(split_name(name)[1])
            f += ["}}, g={",
                  *(f"    {c!r}: {alias + '.' + _sql_name(c)!r}," for c in blue.columns
                    if c not in key),
                  "})"]
        else:
            f += ["}})", *g_python]
    return "\n".join(["", *f, ""]), todos


def _copies(to: TableInfo, source: TableInfo, row: str, sides: tuple[str, str],
            indent: str) -> list[str]:
    """The dict entries of `to`'s row: each column `source` has under the same name
    copied from `row`, each other one a TODO. `sides`: (to's colour, source's)."""
    todo = "{} {}.{} from {}"
    return [indent + (f"{c!r}: {row}[{c!r}]," if c in source.columns else
                      f"{c!r}: todo({todo.format(sides[0], to.name, c, sides[1])!r}),")
            for c in to.columns]


# Column names a SQL expression must quote: PostgreSQL's reserved keywords, and
# those it reserves for type and function names (pg_get_keywords: R and T).
RESERVED = frozenset("""all analyse analyze and any array as asc asymmetric both case cast check
collate column constraint create current_catalog current_date current_role current_time
current_timestamp current_user default deferrable desc distinct do else end except false
fetch for foreign from grant group having in initially intersect into lateral leading limit
localtime localtimestamp not null offset on only or order placing primary references
returning select session_user some symmetric system_user table then to trailing true union
unique user using variadic when where window with
authorization binary collation concurrently cross current_schema freeze full ilike
inner is isnull join left like natural notnull outer overlaps right similar
tablesample verbose""".split())  # noqa: SIM905


def _sql_name(column: str) -> str:
    """The column as a SQL expression: bare where it can be, quoted where it must."""
    if re.fullmatch(r"[a-z_][a-z0-9_$]*", column) and column not in RESERVED:
        return column
    return '"' + column.replace('"', '""') + '"'


def _identifier(table: str) -> str:
    return "".join(ch if ch.isalnum() else "_" for ch in table).lstrip("0123456789") or "table"
