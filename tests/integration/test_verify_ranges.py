"""Verify compares a key range at a time while the rest streams: every range's
mismatches are found, none twice, and green rows outside every range the source
covered (before the first key, after the last) are found too. Ranges made small
here, so that a few thousand rows cross many of them."""

from __future__ import annotations

import pytest

from orchestrator.db import pipeline
from orchestrator.db import verify as verifying
from orchestrator.db.replayer import Replay
from orchestrator.db.transform import load
from tests.conftest import _clusters
from tests.sample_app import STOCK

TRANSFORM = STOCK / "transform.py"
SEED = ("INSERT INTO products (sku, name) VALUES ('A', 'a');"
        " INSERT INTO moves (id, sku, delta) SELECT"
        " ('00000000-0000-0000-0000-' || lpad(to_hex(g), 12, '0'))::uuid, 'A', g % 7"
        " FROM generate_series(100, 3099) g;"
        " INSERT INTO audit (id, sku, note) SELECT g, 'A', 'n' || g"
        " FROM generate_series(100, 3099) g")


def uuid_of(n: int) -> str:
    return f"00000000-0000-0000-0000-{n:012x}"


@pytest.fixture
def small_ranges(monkeypatch) -> list[tuple]:
    """Chunks of 100 source rows, a range compared every 250: the ranges each
    compare call covered, (table, after, up to)."""
    monkeypatch.setattr(pipeline, "CHUNK_LINES", 100)
    monkeypatch.setattr(verifying, "RANGE_ROWS", 250)
    calls: list[tuple] = []
    compare = verifying._Joined.compare

    def spy(self, upto=None):
        calls.append((self.table, self.after, upto))
        compare(self, upto)
    monkeypatch.setattr(verifying._Joined, "compare", spy)
    return calls


@pytest.fixture
def copied():
    for blue, green in _clusters(STOCK, SEED):
        replay = Replay(blue.dsn(), green.dsn(), load(TRANSFORM), "gs_ranges")
        try:
            replay.start()
        finally:
            replay.close()
        yield blue, green


def test_mismatches_in_every_range_and_outside_them_are_each_found_once(copied, small_ranges,
                                                                         monkeypatch):
    blue, green = copied
    green.sql(f"""
        UPDATE moves SET quantity = 99 WHERE id IN ('{uuid_of(100)}', '{uuid_of(1500)}',
                                                    '{uuid_of(3099)}');
        DELETE FROM moves WHERE id = '{uuid_of(2222)}';
        INSERT INTO moves (id, sku, quantity) VALUES ('{uuid_of(1)}', 'A', 1),
                                                     ('{uuid_of(5000)}', 'A', 1);
        UPDATE audit_log SET message = 'x' WHERE id IN (100, 1234, 3099);
        DELETE FROM audit_log WHERE id = 2000;
        INSERT INTO audit_log (id, sku, message) VALUES (1, 'A', 'x'), (99999, 'A', 'x')""")
    ranged = verifying.verify(blue.dsn(), green.dsn(), load(TRANSFORM))
    found = sorted((m.table, str(m.key[0]), m.kind) for m in ranged.mismatches)
    assert found == sorted([
        ("moves", uuid_of(100), "differs"), ("moves", uuid_of(1500), "differs"),
        ("moves", uuid_of(3099), "differs"), ("moves", uuid_of(2222), "missing"),
        ("moves", uuid_of(1), "extra"), ("moves", uuid_of(5000), "extra"),
        ("audit_log", "100", "differs"), ("audit_log", "1234", "differs"),
        ("audit_log", "3099", "differs"), ("audit_log", "2000", "missing"),
        ("audit_log", "1", "extra"), ("audit_log", "99999", "extra")])
    assert ranged.keys == 1 + 3000 + 2 + 3000 + 2  # products, moves (+2 extra), audit (+2)
    moves = [c for c in small_ranges if c[0] == "moves"]
    assert len(moves) == 11  # 3000 rows: a range every 300 (3 chunks), then the rest
    assert moves[0][1] is None and moves[-1][2] is None
    assert all(a[2] == b[1] for a, b in zip(moves, moves[1:], strict=False))  # one after another
    small_ranges.clear()
    # The same answer all at once (no key order asked of the source).
    monkeypatch.setattr(verifying, "ORDERED_TYPES", set())
    whole = verifying.verify(blue.dsn(), green.dsn(), load(TRANSFORM))
    assert sorted((m.table, str(m.key[0]), m.kind) for m in whole.mismatches) == found
    assert whole.keys == ranged.keys
    assert [c[1:] for c in small_ranges] == [(None, None)] * 3  # one compare per table


def test_past_the_listed_mismatches_the_rest_are_counted_across_ranges(copied, small_ranges,
                                                                        monkeypatch):
    blue, green = copied
    monkeypatch.setattr(verifying, "MAX_LISTED", 40)
    green.sql("UPDATE audit_log SET message = 'x' WHERE id % 10 = 0")  # 300 keys
    result = verifying.verify(blue.dsn(), green.dsn(), load(TRANSFORM))
    assert len(result.mismatches) == 40 and result.count == 300
