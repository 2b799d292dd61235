"""Values between PostgreSQL's text format and the Python a transform sees.

Integers, numerics (as Decimal), floats and booleans become Python values; every
other type stays the text PostgreSQL printed, which is also what it reads back, so a
transform can pass such values through untouched.
"""

from __future__ import annotations

import datetime
import decimal
import functools
from collections.abc import Callable, Sequence
from typing import Any, cast

from orchestrator.db.speedups import C

INT_OIDS = {20, 21, 23, 26}
FLOAT_OIDS = {700, 701}
NUMERIC_OID = 1700
BOOL_OID = 16

_ESCAPES = {"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"}
_UNESCAPES = {"\\": "\\", "t": "\t", "n": "\n", "r": "\r", "b": "\b", "f": "\f", "v": "\v"}


def decoder(type_oid: int) -> Callable[[str], Any]:
    if type_oid in INT_OIDS:
        return int
    if type_oid == NUMERIC_OID:
        return decimal.Decimal
    if type_oid in FLOAT_OIDS:
        return float
    if type_oid == BOOL_OID:
        return _bool
    return str


def _bool(text: str) -> bool:
    return text == "t"


def _text_field(value: str) -> str:
    if "\\" in value or "\t" in value or "\n" in value or "\r" in value:
        return "".join(_ESCAPES.get(ch, ch) for ch in value)
    return value


# Dispatch on the exact type: this runs once per value of every replayed row.
_FIELD: dict[type, Callable[[Any], str]] = {
    str: _text_field,
    int: str,
    decimal.Decimal: str,
    float: repr,
    bool: lambda v: "t" if v else "f",
    type(None): lambda _v: "\\N",
    datetime.datetime: datetime.datetime.isoformat,
    datetime.date: datetime.date.isoformat,
}


def copy_field(value: Any) -> str:
    """One field of COPY's text format."""
    encode = _FIELD.get(type(value))
    return encode(value) if encode else _text_field(str(value))


def copy_line_py(values: Sequence[Any]) -> str:
    # Hot path (every replayed row): convert without looking inside strings, join,
    # then prove the joined line clean in C: no line breaks, one tab per separator,
    # and a backslash only for each NULL's \\N. Anything else is escaped field by field.
    line = "\t".join([v if type(v) is str else _FIELD.get(type(v), str)(v) for v in values])
    if ("\n" in line or "\r" in line or line.count("\t") != len(values) - 1
            or line.count("\\") != values.count(None)):
        line = "\t".join([copy_field(v) for v in values])
    return line + "\n"


def parse_copy_line_py(line: str) -> list[str | None]:
    """Fields of one COPY text line, unescaped; None for \\N."""
    fields = line[:-1].split("\t") if line.endswith("\n") else line.split("\t")
    if "\\" not in line:
        return cast(list[str | None], fields)  # no \N: no None
    return [_unescape(f) for f in fields]


def _unescape(field: str) -> str | None:
    if field == "\\N":
        return None
    if "\\" not in field:
        return field
    out = []
    i = 0
    while i < len(field):
        ch = field[i]
        if ch == "\\" and i + 1 < len(field):
            nxt = field[i + 1]
            if nxt in _UNESCAPES:
                out.append(_UNESCAPES[nxt])
                i += 2
                continue
            if nxt.isdigit():  # \ooo octal
                j = i + 1
                while j < len(field) and j < i + 4 and field[j] in "01234567":
                    j += 1
                out.append(chr(int(field[i + 1:j], 8)))
                i = j
                continue
        out.append(ch)
        i += 1
    return "".join(out)


# One COPY text line of values, newline included; the fields of one. Both run per row
# of every copy and replay: in C where it was built (speedups.py).
copy_line: Callable[[Sequence[Any]], str] = (
    functools.partial(C.copy_line, copy_field) if C else copy_line_py)
parse_copy_line: Callable[[str], list[str | None]] = (
    C.parse_copy_line if C else parse_copy_line_py)
