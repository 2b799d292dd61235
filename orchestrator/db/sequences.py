"""Sequences are not in the change log: at cutover and rollback, the side taking
over has its sequences set from the side it replaces.

Which sequence follows which (`follows`):
- same-named sequences, both ways;
- a transform's declared renames (`transform.sequence(green, blue=...)`), both ways;
- a green sequence declared to follow a blue column's largest value
  (`max_of="table.column"`), forward only: blue has no such sequence to set back.

A sequence is only ever moved forward, so a second sync, or a sync in the reverse
direction at rollback, can never hand out a value twice.
"""

from __future__ import annotations

from dataclasses import dataclass

from orchestrator.db.catalog import quote_ident, quote_table, split_name
from orchestrator.db.connect import connect
from orchestrator.db.transform import Transform
from orchestrator.errors import TransformError


@dataclass(frozen=True)
class Follow:
    target: str  # schema.sequence on the side taking over
    source: str  # schema.sequence, or schema.table.column for a column's max
    of_column: bool = False


def _qualified(name: str) -> str:
    schema, rel = split_name(name)
    return f"{schema}.{rel}"


def follows(source: dict[str, int | None], target: dict[str, int | None],
            transform: Transform | None, direction: str) -> list[Follow]:
    """Every target sequence that follows the source, by the rules above. `source`
    and `target` are each side's sequences (`sequences`)."""
    rules: list[Follow] = []
    for rule in transform.sequences if transform else []:
        green = _qualified(rule.green)
        if rule.blue is not None:
            blue = _qualified(rule.blue)
            rules.append(Follow(green, blue) if direction == "forward" else Follow(blue, green))
        elif rule.max_of is not None and direction == "forward":
            table, column = rule.max_of
            rules.append(Follow(green, f"{_qualified(table)}.{column}", of_column=True))
    for f in rules:
        # A declared sequence that is not there would leave the other side's keys
        # behind, to be handed out twice after the swap: say so, never skip it.
        absent = [n for n, side in ((f.target, target), (f.source, source))
                  if not (f.of_column and n == f.source) and n not in side]
        if absent:
            raise TransformError(
                f"transform: sequence {absent[0]} is declared in transform.sequence() but "
                f"does not exist on the {direction} replay's "
                f"{'target' if absent[0] == f.target else 'source'}",
                "check the sequence's name (schema.name) on both databases")
    declared = {f.target for f in rules}
    rules += [Follow(s, s) for s in sorted(target.keys() & source.keys()) if s not in declared]
    return rules


def sequences(conn) -> dict[str, int | None]:
    """{schema.sequence: last value, None if never used}."""
    with conn.cursor() as cur:
        cur.execute("SELECT schemaname || '.' || sequencename, last_value FROM pg_sequences")
        found = dict(cur.fetchall())
    conn.commit()
    return found


def sync_sequences(source_db, target_db, transform: Transform | None = None,
                   direction: str = "forward") -> dict[str, int]:
    """Set every target sequence that follows the source to at least the source's
    value. Returns {schema.sequence: value set}. Each side is a DSN, or a connection
    of the caller's (left open)."""
    source = connect(source_db, "sequences-source") if isinstance(source_db, str) else source_db
    target = connect(target_db, "sequences-target") if isinstance(target_db, str) else target_db
    moved: dict[str, int] = {}
    try:
        theirs, ours = sequences(source), sequences(target)
        with target.cursor() as cur:
            for follow in follows(theirs, ours, transform, direction):
                value = _column_max(source, follow.source) if follow.of_column else theirs.get(
                    follow.source)
                if value is not None and value > (ours[follow.target] or 0):
                    cur.execute("SELECT setval(%s::regclass, %s, true)",
                                (quote_table(follow.target), value))
                    moved[follow.target] = value
        source.commit()
        target.commit()
    finally:
        for conn, given in ((source, source_db), (target, target_db)):
            if isinstance(given, str):
                conn.close()
    return moved


def _column_max(conn, table_column: str) -> int | None:
    table, _, column = table_column.rpartition(".")
    with conn.cursor() as cur:
        cur.execute(f"SELECT max({quote_ident(column)})::bigint FROM {quote_table(table)}")
        return cur.fetchone()[0]
