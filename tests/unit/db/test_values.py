import struct
from decimal import Decimal

from hypothesis import given
from hypothesis import strategies as st

from orchestrator.db import pgoutput
from orchestrator.db.values import copy_line, decoder, parse_copy_line

texts = st.text(alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"))


@given(st.lists(st.one_of(st.none(), texts), min_size=1, max_size=6))
def test_copy_text_format_round_trips(values):
    assert parse_copy_line(copy_line(values)) == values


def test_decoders_follow_postgres_types():
    assert decoder(20)("42") == 42
    assert decoder(1700)("12.30") == Decimal("12.30")
    assert decoder(16)("t") is True
    assert decoder(1184)("2026-01-01 00:00:00+00") == "2026-01-01 00:00:00+00"


def tuple_data(*values):
    out = struct.pack("!h", len(values))
    for v in values:
        if v is None:
            out += b"n"
        elif v is pgoutput.UNCHANGED:
            out += b"u"
        else:
            raw = v.encode()
            out += b"t" + struct.pack("!i", len(raw)) + raw
    return out


def test_parses_relation_and_changes():
    rel = (b"R" + struct.pack("!I", 16384) + b"public\0accounts\0" + b"d" + struct.pack("!h", 2)
           + b"\x01id\0" + struct.pack("!Ii", 20, -1) + b"\x00name\0" + struct.pack("!Ii", 25, -1))
    parsed = pgoutput.parse(rel)
    assert parsed.name == "accounts" and [c.name for c in parsed.columns] == ["id", "name"]
    assert parsed.columns[0].is_key and not parsed.columns[1].is_key

    ins = pgoutput.parse(b"I" + struct.pack("!I", 16384) + b"N" + tuple_data("1", None))
    assert ins == pgoutput.Insert(16384, ("1", None))

    upd = pgoutput.parse(b"U" + struct.pack("!I", 16384) + b"K" + tuple_data("1", None)
                         + b"N" + tuple_data("2", pgoutput.UNCHANGED))
    assert upd.old == ("1", None) and upd.new[0] == "2" and upd.new[1] is pgoutput.UNCHANGED

    trunc = pgoutput.parse(b"T" + struct.pack("!ib", 2, 1) + struct.pack("!II", 1, 2))
    assert trunc == pgoutput.Truncate((1, 2), cascade=True, restart_identity=False)

    commit = pgoutput.parse(b"C" + struct.pack("!bQQq", 0, 100, 148, 7))
    assert commit == pgoutput.Commit(100, 148, 7)


def test_lsn_text_round_trips():
    assert pgoutput.lsn_text(pgoutput.lsn_int("16/B374D848")) == "16/B374D848"
