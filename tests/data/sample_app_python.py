"""The sample app's transform with its Python f replayed, not its SQL f: the same
tests run through both paths (the SQL f is the example's own)."""

from pathlib import Path

from orchestrator.db.transform import load

transform = load(Path(__file__).resolve().parents[2] / "examples" / "sample-app" / "transform.py")
for table in transform.tables.values():
    table.sql = None  # its reference, the Python f, becomes f
