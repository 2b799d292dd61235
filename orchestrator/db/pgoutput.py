"""A small parser for PostgreSQL's pgoutput logical replication protocol (version 1).

Each replication message's payload is one pgoutput message. We parse only what the
replayer needs, into plain tuples, as fast as struct allows. Column values stay in
PostgreSQL's text format; `UNCHANGED` marks an unchanged TOASTed value, which the
server does not send. The messages that come once per transaction or per change are
named tuples: they are built hundreds of thousands of times a second.
"""

from __future__ import annotations

import functools
import struct
from collections.abc import Callable
from dataclasses import dataclass
from typing import NamedTuple

from orchestrator.db.speedups import C

UNCHANGED = object()  # an unchanged TOAST value: the server did not send it

_I16 = struct.Struct("!h")
_I32 = struct.Struct("!i")
_U32 = struct.Struct("!I")
_I64 = struct.Struct("!q")
_BEGIN = struct.Struct("!QqI")
_COMMIT = struct.Struct("!bQQq")


class Begin(NamedTuple):
    final_lsn: int
    commit_ts: int
    xid: int


class Commit(NamedTuple):
    commit_lsn: int
    end_lsn: int
    commit_ts: int


@dataclass(frozen=True)
class Column:
    name: str
    type_oid: int
    is_key: bool


@dataclass(frozen=True)
class Relation:
    oid: int
    namespace: str
    name: str
    replica_identity: str  # d default, n nothing, f full, i index
    columns: tuple[Column, ...]


class Insert(NamedTuple):
    relation: int
    new: tuple


class Update(NamedTuple):
    relation: int
    old: tuple | None  # the old key ('K') or old row ('O'), when the server sends one
    new: tuple


class Delete(NamedTuple):
    relation: int
    old: tuple


@dataclass(frozen=True)
class Truncate:
    relations: tuple[int, ...]
    cascade: bool
    restart_identity: bool


@dataclass(frozen=True)
class Other:
    kind: str


Message = Begin | Commit | Relation | Insert | Update | Delete | Truncate | Other


def parse(buf: bytes) -> Message:
    kind = buf[0:1]
    if kind == b"I":
        values, _ = _tuple(buf, 6)
        return Insert(_U32.unpack_from(buf, 1)[0], values)
    if kind == b"U":
        return _update(buf)
    if kind == b"D":
        values, _ = _tuple(buf, 6)
        return Delete(_U32.unpack_from(buf, 1)[0], values)
    if kind == b"B":
        return Begin(*_BEGIN.unpack_from(buf, 1))
    if kind == b"C":
        _flags, commit_lsn, end_lsn, ts = _COMMIT.unpack_from(buf, 1)
        return Commit(commit_lsn, end_lsn, ts)
    if kind == b"R":
        return _relation(buf)
    if kind == b"T":
        return _truncate(buf)
    return Other(kind.decode("ascii", "replace"))


def _update(buf: bytes) -> Update:
    relation = _U32.unpack_from(buf, 1)[0]
    pos = 5
    old = None
    if buf[pos:pos + 1] in (b"K", b"O"):
        old, pos = _tuple(buf, pos + 1)
    new, _ = _tuple(buf, pos + 1)  # skip the 'N'
    return Update(relation, old, new)


def tuple_py(buf: bytes, pos: int, _size=_I32.unpack_from) -> tuple[tuple, int]:
    """One TupleData at `pos`: its values and the position after it."""
    ncols = _I16.unpack_from(buf, pos)[0]
    pos += 2
    values: list[object] = []  # text, None, or UNCHANGED
    append = values.append
    for _ in range(ncols):
        kind = buf[pos]
        if kind == 0x74:  # 't' text
            end = pos + 5 + _size(buf, pos + 1)[0]
            append(buf[pos + 5:end].decode())
            pos = end
        elif kind == 0x6E:  # 'n' null
            append(None)
            pos += 1
        elif kind == 0x75:  # 'u' unchanged TOAST
            append(UNCHANGED)
            pos += 1
        else:
            raise ValueError(f"pgoutput: unsupported column kind {chr(kind)!r}")
    return tuple(values), pos


# In C where it was built (speedups.py): this runs for every replayed change.
_tuple: Callable[[bytes, int], tuple[tuple, int]] = (
    functools.partial(C.tuple_values, UNCHANGED) if C else tuple_py)


def _cstring(buf: bytes, pos: int) -> tuple[str, int]:
    end = buf.index(b"\0", pos)
    return buf[pos:end].decode(), end + 1


def _relation(buf: bytes) -> Relation:
    oid = _U32.unpack_from(buf, 1)[0]
    namespace, pos = _cstring(buf, 5)
    name, pos = _cstring(buf, pos)
    replident = chr(buf[pos])
    ncols = _I16.unpack_from(buf, pos + 1)[0]
    pos += 3
    cols = []
    for _ in range(ncols):
        flags = buf[pos]
        colname, pos = _cstring(buf, pos + 1)
        type_oid = _U32.unpack_from(buf, pos)[0]
        pos += 8  # type oid, atttypmod
        cols.append(Column(colname, type_oid, bool(flags & 1)))
    return Relation(oid, namespace or "public", name, replident, tuple(cols))


def _truncate(buf: bytes) -> Truncate:
    nrels = _I32.unpack_from(buf, 1)[0]
    options = buf[5]
    rels = struct.unpack_from(f"!{nrels}I", buf, 6)
    return Truncate(tuple(rels), bool(options & 1), bool(options & 2))


def lsn_text(lsn: int) -> str:
    return f"{lsn >> 32:X}/{lsn & 0xFFFFFFFF:X}"


def lsn_int(text: str) -> int:
    hi, lo = text.split("/")
    return (int(hi, 16) << 32) | int(lo, 16)
