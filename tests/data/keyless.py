"""A transform over a table with no primary key (pgbench's own pgbench_history): every
data command refuses it with the same line (tests/integration/test_keyless.py)."""

from orchestrator.db.transform import identity

transform = identity({"pgbench_history": ["aid"]})
