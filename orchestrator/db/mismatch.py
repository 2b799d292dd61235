"""What verify found: mismatches, each with its rows on both sides, what the
transform gives and the likely cause, and the words for them (`status`, the report,
`replay verify` and the verify phase's error all say them the same way)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

MAX_SHOWN = 20  # mismatches explained row by row
# Why a key mismatches, where its rows tell (Mismatch.cause):
CAUSE_TRANSFORM = "transform"  # f gave two outputs for one row, or another one than at the copy
CAUSE_OUTSIDE = "outside"  # the target's row was written after the copy, the source's never
SIDES = {"forward": ("blue", "green", "f(blue)"), "reverse": ("green", "blue", "g(green)")}


@dataclass(frozen=True)
class Mismatch:
    table: str  # the green table (forward) or blue table (reverse)
    key: tuple  # in the order of blue's key
    kind: str  # missing (expected, not there), extra (there, not expected), differs
    columns: tuple[str, ...] = ()  # that differ: all of a missing or extra row's
    source: dict | None = None  # forward: blue's row; reverse: green's rows by table
    expected: dict | None = None  # f's (g's) output for this table and key
    actual: dict | None = None  # the target's row
    cause: str = ""  # CAUSE_TRANSFORM, CAUSE_OUTSIDE, or "" where the rows do not tell

    def brief(self) -> str:
        what = {"missing": "missing", "extra": "not expected"}.get(self.kind)
        detail = what or ", ".join(self.columns) or "differs"
        return f"{self.table}{list(self.key)} ({detail})"

    def as_dict(self) -> dict:
        return {"table": self.table, "key": [shown(v) for v in self.key], "kind": self.kind,
                "columns": list(self.columns), "cause": self.cause or None,
                "source": _shown_rows(self.source), "expected": _shown_row(self.expected),
                "actual": _shown_row(self.actual)}


def shown(value: Any) -> Any:
    """A value as JSON carries it: numbers, text and NULL as they are, the rest
    (Decimal, datetime, uuid...) as their text."""
    return value if value is None or isinstance(value, bool | int | float | str) else str(value)


def _shown_row(row: dict | None) -> dict | None:
    return None if row is None else {c: shown(v) for c, v in row.items()}


def _shown_rows(rows: dict | None) -> dict | None:
    if rows is None or not all(isinstance(v, dict | None) for v in rows.values()):
        return _shown_row(rows)
    return {t: _shown_row(r) for t, r in rows.items()}  # reverse: rows by green table


@dataclass
class VerifyResult:
    direction: str
    keys: int = 0  # rows compared: expected rows, and rows found only on the target
    mismatches: list[Mismatch] = field(default_factory=list)
    unlisted: int = 0  # mismatches beyond MAX_LISTED per table, counted only
    seconds: float = 0.0
    lsn: int | None = None  # the point compared at; None: each side as read (at once)

    @property
    def ok(self) -> bool:
        return not self.mismatches

    @property
    def count(self) -> int:
        return len(self.mismatches) + self.unlisted

    def summary(self) -> str:
        """One line: which side differs from which, at which keys and columns."""
        _source, target, expected = SIDES[self.direction]
        first = ", ".join(m.brief() for m in self.mismatches[:5])
        more = f" and {self.count - 5} more" if self.count > 5 else ""
        return f"{target} differs from {expected} at {self.count} key(s): {first}{more}"

    def next_step(self) -> str:
        """What to do about it, from the causes the explained rows tell."""
        source, target, expected = SIDES[self.direction]
        causes = {m.cause for m in self.mismatches[:MAX_SHOWN]}
        if CAUSE_TRANSFORM in causes:
            return (f"the transform is the likely cause: a {source} row no change has touched"
                    f" since the copy now gives another {expected} (or two outputs for one"
                    " row); make it pure and fix it, then roll out again")
        if causes == {CAUSE_OUTSIDE}:
            return (f"{target} was written outside replay (a writer pointed at {target}?):"
                    " find it, then roll out again")
        return (f"compare each key's {source} row, {expected} and {target}'s row: a writer on"
                f" {target} or a transform that is not pure are the usual causes")


def mismatch_lines(m: dict, direction: str) -> list[str]:
    """A mismatch (`Mismatch.as_dict`, as the journal keeps it) for people: its key,
    the likely cause, and per differing column what each side holds."""
    source, target, expected = SIDES[direction]
    cause = {CAUSE_TRANSFORM: "; likely the transform",
             CAUSE_OUTSIDE: f"; {target} was written outside replay"}.get(m.get("cause") or "", "")
    where = f"{m['table']}{m['key']}"
    if m["kind"] == "missing":
        return [f"{where}: missing on {target}{cause}", f"  {expected}: {m.get('expected')}",
                f"  {source}: {m.get('source')}"]
    if m["kind"] == "extra":
        return [f"{where}: on {target} but not in {expected}{cause}",
                f"  {target}: {m.get('actual')}", f"  {source}: {m.get('source')}"]
    columns = m.get("columns") or []
    lines = [f"{where}: differs in {', '.join(columns) or 'a column'}{cause}"]
    actual, wanted = m.get("actual") or {}, m.get("expected") or {}
    lines += [f"  {c}: {target} has {actual.get(c)!r}, {expected} gives {wanted.get(c)!r}"
              for c in columns]
    return lines
