"""Which decoded transactions a snapshot sees (orchestrator/db/visibility.py)."""

from orchestrator.db.visibility import Snapshot


def test_finished_running_and_future_transactions():
    snap = Snapshot.parse("100:110:103,107")
    assert snap.sees(99) and snap.sees(100) and snap.sees(105)
    assert not snap.sees(103) and not snap.sees(107)
    assert not snap.sees(110) and not snap.sees(115)  # not finished when it was taken


def test_32_bit_xids_across_an_epoch_boundary():
    epoch = 3 << 32
    snap = Snapshot.parse(f"{epoch - 5}:{epoch + 5}:{epoch + 1}")
    assert snap.full(2**32 - 3) == epoch - 3  # the previous epoch's tail
    assert snap.full(1) == epoch + 1
    assert snap.sees(2**32 - 3) and snap.sees(2) and not snap.sees(1)
    assert not snap.sees(9)  # ahead of xmax in this epoch, not 2^32 behind it


def test_an_empty_running_list():
    snap = Snapshot.parse("7:7:")
    assert snap.sees(6) and not snap.sees(7)
