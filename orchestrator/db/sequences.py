"""Sequences are not in the change log: at cutover, green's are set from blue's.

Only forward: a sequence is never moved back, so a second sync, or a sync in the
reverse direction at rollback, can never hand out a value twice.
"""

from __future__ import annotations

from orchestrator.db.catalog import quote_ident
from orchestrator.db.connect import connect


def sync_sequences(source_db, target_db) -> dict[str, int]:
    """Set every target sequence that also exists on the source to at least the
    source's last value. Returns {schema.sequence: value set}. Each side is a DSN,
    or a connection of the caller's (left open)."""
    source = connect(source_db, "sequences-source") if isinstance(source_db, str) else source_db
    target = connect(target_db, "sequences-target") if isinstance(target_db, str) else target_db
    moved: dict[str, int] = {}
    try:
        with source.cursor() as cur:
            cur.execute("SELECT schemaname, sequencename, last_value FROM pg_sequences"
                        " WHERE last_value IS NOT NULL")
            wanted = {f"{s}.{n}": v for s, n, v in cur.fetchall()}
        with target.cursor() as cur:
            cur.execute("SELECT schemaname, sequencename, coalesce(last_value, 0)"
                        " FROM pg_sequences")
            for schema, name, current in cur.fetchall():
                full = f"{schema}.{name}"
                if full in wanted and wanted[full] > current:
                    quoted = f"{quote_ident(schema)}.{quote_ident(name)}"
                    cur.execute("SELECT setval(%s::regclass, %s, true)", (quoted, wanted[full]))
                    moved[full] = wanted[full]
        target.commit()
    finally:
        for conn, given in ((source, source_db), (target, target_db)):
            if isinstance(given, str):
                conn.close()
    return moved
