"""When the stream hands a batch to the writer: as soon as the writer is free, at a
commit or when the socket falls idle; while a batch is being written the next one
grows, up to its limit. (Batches' contents and positions: tests/integration.)"""

from __future__ import annotations

import threading
from concurrent.futures import Future

import pytest

from orchestrator.db import pgoutput
from orchestrator.db.stream import Batch, Stream

STOP = threading.Event()


def a_stream(flushed: list[Batch], writing: Future | None = None) -> Stream:
    stream = Stream(source=None, target=None, direction=None,
                    batch_changes=3)
    if writing is not None:
        stream._in_flight = (writing, Batch())

    def flush(_cur, batch: Batch, _stop) -> Batch:
        flushed.append(batch)
        return Batch()

    def add(batch: Batch, _change) -> None:
        batch.changes += 1
        batch.current()

    stream._flush = flush
    stream._add = add
    stream._check_wal_cap = lambda force=False: None
    return stream


def commit(stream: Stream, batch: Batch, n: int, changes: int = 1) -> Batch:
    done = [b"I\x00\x00\x00\x01N\x00\x00"] * changes  # inserts of no column, as sent
    end = pgoutput.Commit(commit_lsn=n * 100, end_lsn=n * 100 + 8, commit_ts=n)
    result = stream._commit(None, batch, STOP, end, done, n, None)
    assert result is not None
    return result


def test_a_commit_goes_to_a_free_writer_at_once():
    flushed: list[Batch] = []
    stream = a_stream(flushed)
    batch = commit(stream, Batch(), 1)
    assert len(flushed) == 1 and flushed[0].end_lsn == 108 and not batch.segments


def test_while_a_batch_is_written_the_next_one_grows_until_it_is_full():
    flushed: list[Batch] = []
    writing: Future = Future()
    stream = a_stream(flushed, writing)
    batch = commit(stream, Batch(), 1)
    batch = commit(stream, batch, 2)
    assert flushed == [] and batch.changes == 2 and batch.end_lsn == 208
    batch = commit(stream, batch, 3)  # the third change fills it: it waits its turn
    assert len(flushed) == 1 and flushed[0].changes == 3


def test_once_the_write_is_done_the_next_commit_takes_the_grown_batch():
    flushed: list[Batch] = []
    writing: Future = Future()
    stream = a_stream(flushed, writing)
    batch = commit(stream, Batch(), 1)
    writing.set_result(None)
    commit(stream, batch, 2)
    assert len(flushed) == 1 and flushed[0].changes == 2 and flushed[0].end_lsn == 208


def test_an_empty_transaction_alone_is_not_written():
    flushed: list[Batch] = []
    batch = commit(a_stream(flushed), Batch(), 1, changes=0)
    assert flushed == [] and batch.end_lsn == 108  # carried by the next batch


@pytest.mark.parametrize("writing", [False, True])
def test_an_idle_socket_hands_the_batch_over_only_to_a_free_writer(writing, monkeypatch):
    monkeypatch.setattr("orchestrator.db.stream.wait", lambda *_a, **_k: None)
    flushed: list[Batch] = []
    stream = a_stream(flushed, Future() if writing else None)
    batch = Batch(changes=1)
    batch.current()
    stream._idle(None, batch, STOP, True, None)
    assert len(flushed) == (0 if writing else 1)
