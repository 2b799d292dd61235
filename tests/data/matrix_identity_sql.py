"""The type matrix's identity transform, f and g in SQL: every column as it is."""

from tests.data.matrix_sql import as_sql

transform = as_sql("matrix_identity.py", {}, g_in_sql=True)
