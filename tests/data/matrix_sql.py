"""The type matrix's transforms with f in SQL: each table's Python f kept as the
reference `transform check` proves the SQL equal to, g unchanged (or, for the
identity, in SQL as well). Built from the
Python transform, so both variants declare the same tables and keys."""

from pathlib import Path

from orchestrator.db.transform import Transform, load

# Every column of the matrix's tables but the keys and the generated one
# (tests/integration/test_type_matrix.py: COLUMNS).
COLUMNS = ["j", "js", "ta", "ia", "jsa", "b", "iv", "ip", "cn", "mac", "n", "r", "d", "m",
           "c", "vc", "t", "ttz", "bo", "e", "dm", "big", "tx"]


def as_sql(python_module: str, exprs: dict[str, str], renamed: tuple[str, ...] = (),
           g_in_sql: bool = False) -> Transform:
    """`exprs`: the green columns that are not the blue column of their name, and
    their SQL; `renamed`: the blue columns green has under another name. `g_in_sql`:
    g too, each blue column from green's column of its name (identity only)."""
    python = load(Path(__file__).with_name(python_module))
    columns = {c: c for c in COLUMNS if c not in renamed} | exprs
    transform = Transform()
    for name, tt in python.tables.items():
        g = {c: f"{name}.{c}" for c in COLUMNS} if g_in_sql else None
        table = transform.sql(name, key=tt.key, targets=tt.targets, f={name: dict(columns)},
                              g=g)
        assert tt.forward is not None and tt.backward is not None
        table.reference(tt.forward)
        if not g_in_sql:
            table.inverse(tt.backward)
    return transform
