"""The C helper gives exactly what the pure-Python code gives: the same COPY text,
byte for byte, the same fields, the same pgoutput values and the same errors."""

from __future__ import annotations

import datetime
import decimal
import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

# Imported by name: a build that lost the C helper fails here, it is not skipped.
from orchestrator.db import _speedups, pgoutput, stream, values
from orchestrator.db.catalog import TableInfo
from orchestrator.db.pgoutput import UNCHANGED

# Text heavy in what COPY escapes, octal-looking digits and non-ASCII.
TEXT = st.text(alphabet=st.sampled_from("ab\\\t\n\r\b\f\v N0178\x00é€😀"), max_size=12) | st.text()
VALUE = st.one_of(
    TEXT, st.none(), st.integers(), st.booleans(), st.floats(allow_nan=True),
    st.decimals(allow_nan=False), st.datetimes(), st.dates(),
)


def c_copy_line(vals):
    return _speedups.copy_line(values.copy_field, vals)


@settings(max_examples=500)
@given(st.lists(VALUE, max_size=8))
def test_copy_line_is_the_same_text(vals):
    assert c_copy_line(vals) == values.copy_line_py(vals)
    assert c_copy_line(tuple(vals)) == values.copy_line_py(tuple(vals))


def test_copy_line_of_every_kind():
    vals = ["a\tb\\c\nd\re", None, 7, -(2**70), 1.5, True, decimal.Decimal("1.10"),
            datetime.date(2026, 12, 7), "plain", "€\t😀"]
    line = c_copy_line(vals)
    assert line == values.copy_line_py(vals)
    assert line == ("a\\tb\\\\c\\nd\\re\t\\N\t7\t-1180591620717411303424\t1.5\tt\t1.10\t"
                    "2026-12-07\tplain\t€\\t😀\n")
    assert c_copy_line([]) == values.copy_line_py([]) == "\n"


@settings(max_examples=500)
@given(st.lists(st.none() | TEXT, min_size=1, max_size=8))
def test_parse_copy_line_reads_back_what_copy_line_wrote(vals):
    line = values.copy_line_py(vals)
    assert _speedups.parse_copy_line(line) == values.parse_copy_line_py(line) == vals


@settings(max_examples=1000)
@given(st.text(alphabet=st.sampled_from("a\\\t\nNtnrbfv012789x٣é"), max_size=16))
def test_parse_copy_line_of_any_text(line):
    def outcome(parse):
        try:
            return parse(line)
        except ValueError:
            return ValueError
    assert outcome(_speedups.parse_copy_line) == outcome(values.parse_copy_line_py)


def tuple_data(vals) -> bytes:
    out = struct.pack("!h", len(vals))
    for v in vals:
        if v is None:
            out += b"n"
        elif v is UNCHANGED:
            out += b"u"
        else:
            raw = v.encode()
            out += b"t" + struct.pack("!i", len(raw)) + raw
    return out


@settings(max_examples=500)
@given(st.lists(st.none() | st.just(UNCHANGED) | TEXT, max_size=10), st.binary(max_size=4))
def test_tuple_values_are_the_same(vals, tail):
    buf = b"I\x00\x00\x00\x07N" + tuple_data(vals) + tail
    assert (_speedups.tuple_values(UNCHANGED, buf, 6) == pgoutput.tuple_py(buf, 6)
            == (tuple(vals), len(buf) - len(tail)))


def test_tuple_values_refuse_what_python_refuses():
    binary = b"\x00\x01b\x00\x00\x00\x01x"
    with pytest.raises(ValueError) as python:
        pgoutput.tuple_py(binary, 0)
    with pytest.raises(ValueError) as c:
        _speedups.tuple_values(UNCHANGED, binary, 0)
    assert str(c.value) == str(python.value) == "pgoutput: unsupported column kind 'b'"
    # A message cut short is an error, never a read past its end.
    for cut in (b"\x00\x02n", b"\x00\x01t\x00\x00", b"\x00\x01t\x00\x00\x00\x09abc", b"\x00"):
        with pytest.raises(ValueError, match="ends inside a row"):
            _speedups.tuple_values(UNCHANGED, cut, 0)
    with pytest.raises(UnicodeDecodeError):
        _speedups.tuple_values(UNCHANGED, b"\x00\x01t\x00\x00\x00\x01\xff", 0)


def test_the_replayer_uses_the_c_helper():
    # What every copy and replay calls, unless GREENSWAP_NO_SPEEDUPS asks otherwise.
    assert values.parse_copy_line is _speedups.parse_copy_line
    assert values.copy_line.func is _speedups.copy_line  # type: ignore[attr-defined]
    assert pgoutput._tuple.func is _speedups.tuple_values  # type: ignore[attr-defined]


# collapse_text against stream._add_text: two tables whose rows stay text, one keyed
# by an int, one by (text, int) in another order than its columns.
ITEMS = TableInfo("items", ("id", "name", "big"), (23, 25, 25), ("id",), "d")
PAIRS = TableInfo("s.pairs", ("v", "b", "a"), (25, 23, 25), ("a", "b"), "d")
KEYS = {7: (ITEMS, ("id",)), 8: (PAIRS, ("a", "b"))}


def message(kind: bytes, oid: int, new=None, old=None, old_kind: bytes = b"K") -> bytes:
    out = kind + struct.pack("!I", oid)
    if old is not None:
        out += old_kind + tuple_data(old)
    return out + (b"N" + tuple_data(new) if new is not None else b"")


def row_of(oid: int, key: tuple, value) -> list:
    if oid == 7:
        return [str(key[0]), value, value]
    return [value, str(key[1]), key[0]]


def key_only(oid: int, key: tuple) -> list:
    row = row_of(oid, key, None)
    return [v if i in (0,) or oid == 8 and i in (1, 2) else None for i, v in enumerate(row)]


CHANGE = st.tuples(
    st.sampled_from([7, 8]), st.sampled_from(["I", "U", "UK", "UO", "D"]),
    st.tuples(st.sampled_from(["x", "é"]), st.integers(0, 3)),  # the key, small: collisions
    st.tuples(st.sampled_from(["x", "é"]), st.integers(0, 3)),  # an old key (UK, UO)
    st.none() | st.just(UNCHANGED) | TEXT,
)


def encoded(change) -> bytes:
    oid, kind, key, old_key, value = change
    if oid == 7:
        key, old_key = (key[1],), (old_key[1],)
    new = row_of(oid, key, value)
    if kind == "I":
        return message(b"I", oid, new)
    if kind == "U":
        return message(b"U", oid, new)
    if kind == "UK":
        return message(b"U", oid, new, key_only(oid, old_key), b"K")
    if kind == "UO":
        return message(b"U", oid, new, row_of(oid, old_key, "old"), b"O")
    return message(b"D", oid, old=key_only(oid, key), old_kind=b"K")


@settings(max_examples=300)
@given(st.lists(CHANGE, max_size=30))
def test_collapse_text_is_add_text(changes):
    payloads = [encoded(c) for c in changes]
    tables = {oid: (info.name, tuple(info.columns.index(c) for c in key),
                    tuple(info.decoders()[info.columns.index(c)] for c in key))
              for oid, (info, key) in KEYS.items()}
    c_finals, c_fresh = {}, set()
    assert _speedups.collapse_text(payloads, 0, tables, c_finals, c_fresh, UNCHANGED,
                                   stream.FETCH) == len(payloads)
    py = stream.Changes()
    for payload in payloads:
        m = pgoutput.parse(payload)
        info, key = KEYS[m.relation]
        stream.Stream._add_text(py, m, info.name, stream._key_of_text(info, key))
    assert list(c_finals.items()) == list(py.finals.items()) and c_fresh == py.fresh


def test_collapse_text_leaves_other_tables_and_truncates_to_python():
    tables = {7: ("items", (0,), (int,))}
    payloads = [message(b"I", 7, ["1", "a", "b"]), message(b"I", 9, ["x"]),
                b"T\x00\x00\x00\x01\x00\x00\x00\x00\x07", message(b"D", 7, old=["1", None, None])]
    finals: dict = {}
    assert _speedups.collapse_text(payloads, 0, tables, finals, set(), UNCHANGED, None) == 1
    assert _speedups.collapse_text(payloads, 3, tables, finals, set(), UNCHANGED, None) == 4
    assert finals == {("items", (1,)): None}
    with pytest.raises(ValueError, match="ends inside a row"):
        _speedups.collapse_text([b"I\x00\x00\x00\x07N\x00\x03t"], 0, tables, {}, set(),
                                UNCHANGED, None)
