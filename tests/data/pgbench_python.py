"""The pgbench example's transform with every f in Python (its SQL f set aside for
the Python references): for benchmarks that compare the two paths."""

from pathlib import Path

from orchestrator.db.transform import load

transform = load(Path(__file__).resolve().parents[2] / "examples" / "pgbench" / "transform.py")
for table in transform.tables.values():
    table.sql = None  # its reference, the Python f, becomes f
