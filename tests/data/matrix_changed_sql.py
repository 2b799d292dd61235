"""The type matrix's type-changing transform, f in SQL (matrix_changed.py says what
changes): thousandths truncated as Python's int() does, vc renamed; the other type
changes are the cast to green's column type that every SQL f gets. Except real to
double precision: a cast gives the float4's exact value (3.6666667461395264), the
Python f passes on its printed digits (3.6666667), and `transform check` held the
SQL to its reference until it said so (through text)."""

from tests.data.matrix_sql import as_sql

transform = as_sql("matrix_changed.py", {"n": "trunc(n * 1000)::bigint", "label": "vc",
                                         "r": "r::text::double precision"},
                   renamed=("vc",))
