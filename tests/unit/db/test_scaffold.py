"""`greenswap init`'s drafts: SQL where a table maps column by column, each way on
its own; Python with a TODO where it does not."""

from __future__ import annotations

from orchestrator.db.catalog import TableInfo
from orchestrator.db.scaffold import Schema, draft


def info(name: str, *columns: str) -> TableInfo:
    return TableInfo(name, ("id", *columns), (23,) * (len(columns) + 1), ("id",), "d")


def test_f_and_g_are_sql_each_where_its_columns_map():
    blue = Schema({"same": info("same", "a"), "shop.more": info("shop.more", "a", "old"),
                   "less": info("less", "a")})
    green = Schema({"same": info("same", "a"), "shop.more": info("shop.more", "a"),
                    "less": info("less", "a", "new")})
    text, todos = draft(blue, green)
    # Both ways: g reads green's table by its bare name.
    assert "same = transform.sql('same', key=['id'], targets={'same': {'id': 'id'}}, f={'same':" \
        " {\n    'a': 'a',\n}}, g={\n    'a': 'same.a',\n})" in text
    # Every green column has its blue one, not the other way: f in SQL, g in Python.
    assert "shop_more = transform.sql('shop.more'" in text
    assert "@shop_more.inverse" in text and "'old': todo('blue shop.more.old from green')" in text
    # A green column with no blue one: f in Python, with its TODO.
    assert "@transform.table('less'" in text and "'new': todo('green less.new from blue')" in text
    assert todos == 2
    compile(text, "transform.py", "exec")
