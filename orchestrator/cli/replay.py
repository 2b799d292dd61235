"""`greenswap replay ...`: the replayer as a process of its own, and verify.

The replayer keeps its position in the target database only, so it can be killed
at any moment and started again, here or on another machine.
"""

from __future__ import annotations

import json
import os
import signal
import threading
import time
from pathlib import Path

import click

from orchestrator.cli.output import emit_json, say
from orchestrator.db import lag as lag_data
from orchestrator.db.catalog import estimated_rows
from orchestrator.db.connect import connect
from orchestrator.db.mismatch import MAX_SHOWN, mismatch_lines
from orchestrator.db.pgoutput import lsn_int, lsn_text
from orchestrator.db.progress import RowProgress
from orchestrator.db.replayer import Replay
from orchestrator.db.sequences import sync_sequences
from orchestrator.db.snapshot import SnapshotResult
from orchestrator.db.stream import StreamStats
from orchestrator.db.transform import load
from orchestrator.db.verify import verify, verify_at_point
from orchestrator.errors import RowRejected, TransformError

# DSNs may come from the environment; keep passwords out of them (use PGPASSWORD or
# a ~/.pgpass), since a command line is visible to every user of the machine.
source_option = click.option("--source", envvar="GREENSWAP_SOURCE_DSN", required=True,
                             help="libpq DSN of the database replayed from.")
target_option = click.option("--target", envvar="GREENSWAP_TARGET_DSN", required=True,
                             help="libpq DSN of the database replayed into.")
transform_option = click.option("--transform", "transform_path", required=True,
                                type=click.Path(path_type=Path), help="The transform module.")
direction_option = click.option("--direction", type=click.Choice(["forward", "reverse"]),
                                default="forward", show_default=True)
stream_option = click.option("--stream", default="greenswap", show_default=True,
                             help="Name of the slot, publication and position.")


@click.group()
def replay() -> None:
    """Replay a database's change log through the transform."""


@replay.command()
@source_option
@target_option
@transform_option
@direction_option
@stream_option
@click.option("--until-lsn", default=None, callback=lambda _c, _p, v: _parse_lsn(v),
              help="Stop once the target holds this LSN (like 0/1A2B3C4).")
@click.option("--max-slot-wal-mb", default=1024, show_default=True,
              type=click.IntRange(1, 10**7),
              help="Drop the slot and stop if it retains more WAL than this on the source.")
@click.option("--json", "as_json", is_flag=True, help="Progress as JSON lines.")
@click.option("--dead-letter", type=click.Path(path_type=Path, dir_okay=False), default=None,
              help="Where a row the transform raised on is written (JSON line, 0600)"
                   " [default: greenswap-STREAM-dead-letter.jsonl here].")
@click.option("--progress", "progress_file", type=click.Path(path_type=Path, dir_okay=False),
              default=None, help="Also write the snapshot's progress here, as JSON (0600),"
                                 " for another process to show.")
def run(source, target, transform_path, direction, stream, until_lsn, max_slot_wal_mb,
        as_json, dead_letter, progress_file) -> None:
    """Snapshot (forward) or anchor (reverse) if needed, then stream until stopped."""
    stop = threading.Event()
    the_replay = Replay(source, target, load(transform_path), stream, direction)
    try:
        _replay(the_replay, stream, stop, until_lsn, max_slot_wal_mb, as_json, progress_file)
    except RowRejected as rejected:
        path = dead_letter or Path(f"greenswap-{stream}-dead-letter.jsonl")
        _write_dead_letter(path, rejected, direction)
        raise TransformError(f"{rejected.message}; replay stopped before it, the row is in"
                             f" {path}", "fix the transform for that row, then run the "
                             "replayer again: it resumes at that transaction") from None
    finally:
        the_replay.close()


def _write_dead_letter(path: Path, rejected: RowRejected, direction: str) -> None:
    """Appended, one JSON line per rejected row; 0600, since rows are the app's data."""
    line = json.dumps({"at": time.time(), "direction": direction, "table": rejected.table,
                       "key": list(rejected.key), "error": rejected.message,
                       "row": rejected.row}, default=str) + "\n"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    os.fchmod(fd, 0o600)  # also when the file was there before
    with os.fdopen(fd, "a") as out:
        out.write(line)


def _replay(the_replay: Replay, stream: str, stop: threading.Event, until_lsn,
            max_slot_wal_mb: int, as_json: bool, progress_file: Path | None) -> None:
    """Snapshot or anchor if needed, then stream until stopped or `until_lsn`."""
    estimates = {t: the_replay.source.estimated_rows(t) for t in the_replay.source.infos}
    started = the_replay.start(RowProgress("snapshot", estimates, say, progress_file))
    if isinstance(started, SnapshotResult):
        copied = ", ".join(f"{n:,} rows into {t}" for t, n in started.rows.items())
        say(f"snapshot done in {started.seconds:.1f}s: {copied}")
    if started is not None:
        say(f"stream {stream} starts at {getattr(started, 'lsn', started)}")
    # From here a stop is graceful: the batch in hand is applied, then it exits.
    # (Before, Ctrl-C aborts the snapshot, which rolls back and drops its slot.)
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    report = _reporter(as_json)
    _say_sequences(the_replay)
    stats = the_replay.stream_changes(
        stop, until_lsn, on_batch=report,
        max_slot_wal=max_slot_wal_mb << 20)
    say(f"stream {stream} stopped at {lsn_text(stats.applied_lsn)} after "
        f"{stats.transactions} transactions")
    _say_sequences(the_replay)


def _say_sequences(the_replay: Replay) -> None:
    following = the_replay.sequences_following()
    if following:
        shown = ", ".join(following[:10]) + (
            f" and {len(following) - 10} more" if following[10:] else "")
        say(f"not synced by replay (sequences are not in the change log): {shown}; once the "
            "source's writers have stopped, run 'greenswap replay sequences' with the same "
            "options (a rollout does it at cutover and rollback)")


def _parse_lsn(text: str | None) -> int | None:
    if text is None:
        return None
    try:
        return lsn_int(text)
    except ValueError:
        raise click.BadParameter(f"{text!r} is not an LSN like 0/1A2B3C4",
                                 param_hint="--until-lsn") from None


def _reporter(as_json: bool):
    last = [0.0]

    def report(stats: StreamStats) -> None:
        now = time.monotonic()
        if now - last[0] < 1.0:
            return
        last[0] = now
        if as_json:
            emit_json({"applied_lsn": lsn_text(stats.applied_lsn), "changes": stats.changes,
                       "transactions": stats.transactions, "batches": stats.batches})
        else:
            say(f"applied {lsn_text(stats.applied_lsn)}: {stats.changes} changes in "
                f"{stats.transactions} transactions")

    return report


@replay.command("verify")
@click.option("--blue", envvar="GREENSWAP_BLUE_DSN", required=True)
@click.option("--green", envvar="GREENSWAP_GREEN_DSN", required=True)
@transform_option
@direction_option
@stream_option
@click.option("--at-once", is_flag=True,
              help="Read each side as it is now, with no stream: exact only when the"
                   " source's writers are stopped and replay has caught up.")
@click.option("--json", "as_json", is_flag=True)
def verify_command(blue, green, transform_path, direction, stream, at_once, as_json) -> None:
    """Check green == f(blue) (forward) or blue == g(green) (reverse), both as of one
    point in the source's log: the stream (not running elsewhere) is replayed up to
    it first, and left there. Exit 1 on any mismatch, with each key's rows."""
    the_transform = load(transform_path)
    source, target = (blue, green) if direction == "forward" else (green, blue)
    progress = RowProgress("verify", _estimates(source, the_transform, direction), say)
    if at_once:
        result = verify(blue, green, the_transform, direction, progress=progress)
    else:
        the_replay = Replay(source, target, the_transform, stream, direction)
        try:
            result = verify_at_point(the_replay, progress=progress)
        finally:
            the_replay.close()
    if as_json:
        emit_json({"ok": result.ok, "keys": result.keys, "mismatching": result.count,
                   "seconds": round(result.seconds, 3),
                   "at_lsn": None if result.lsn is None else lsn_text(result.lsn),
                   "mismatches": [m.as_dict() for m in result.mismatches],
                   "next": None if result.ok else result.next_step()})
    else:
        for m in result.mismatches[:MAX_SHOWN]:
            for line in mismatch_lines(m.as_dict(), direction):
                say(line)
        if result.count > MAX_SHOWN:
            say(f"... and {result.count - MAX_SHOWN} more mismatching key(s)")
        at = "at once" if result.lsn is None else f"at {lsn_text(result.lsn)}"
        say(f"verify {direction} {at}: {result.keys:,} rows compared in {result.seconds:.1f}s,"
            f" {result.count:,} mismatching")
        if not result.ok:
            say(f"{result.summary()}; next: {result.next_step()}")
    raise SystemExit(0 if result.ok else 1)


def _estimates(dsn: str, the_transform, direction: str) -> dict[str, int]:
    """Rows per source table, from the planner: for progress ETAs only."""
    conn = connect(dsn, "estimates")
    try:
        with conn.cursor() as cur:
            return {t: estimated_rows(cur, t if direction == "forward" else next(iter(tt.targets)))
                    for t, tt in the_transform.tables.items()}
    finally:
        conn.close()


@replay.command()
@source_option
@target_option
@transform_option
@direction_option
@stream_option
def drop(source, target, transform_path, direction, stream) -> None:
    """End a stream for good: drop its slot and publication (they pin WAL)."""
    the_replay = Replay(source, target, load(transform_path), stream, direction)
    try:
        the_replay.drop()
    finally:
        the_replay.close()
    say(f"stream {stream} dropped")


@replay.command()
@source_option
@target_option
@transform_option
@direction_option
@click.option("--json", "as_json", is_flag=True)
def sequences(source, target, transform_path, direction, as_json) -> None:
    """Move the target's sequences up to the source's: same-named ones, and those the
    transform declares. Never down. Run it once the source's writers have stopped."""
    # Straight between the two databases: no stream, lock or position is involved.
    moved = sync_sequences(source, target, load(transform_path), direction)
    if as_json:
        emit_json({"moved": moved})
        return
    for name, value in moved.items():
        say(f"sequence {name} set to {value}")
    say(f"{len(moved)} sequence(s) moved; the others were already at or past the source's")


@replay.command()
@source_option
@target_option
@stream_option
@click.option("--interval", default=1.0, show_default=True, type=click.FloatRange(0.1, 60),
              help="Seconds between the two samples that give rate and ETA.")
@click.option("--json", "as_json", is_flag=True)
def status(source, target, stream, interval, as_json) -> None:
    """Lag (bytes, seconds), apply rate, ETA to catch up, and WAL the slot retains."""
    first = lag_data.sample(source, target, stream)
    time.sleep(interval)
    now = lag_data.lag(first, lag_data.sample(source, target, stream))
    if as_json:
        emit_json({"stream": stream, **now.as_dict()})
        return
    rate = "?" if now.apply_bytes_per_s is None else f"{now.apply_bytes_per_s / 1024:,.0f} KiB/s"
    eta = "not catching up" if now.eta_seconds is None else f"{now.eta_seconds:.1f}s"
    say(f"stream {stream}: behind by {now.bytes:,} bytes ({now.seconds:.2f}s), applying "
        f"{rate}, caught up in {eta}; the slot retains {now.retained_bytes / 2**20:,.1f} MiB")
