"""Green's PostgreSQL crashes in the middle of sync (an immediate stop: no shutdown
checkpoint, crash recovery on start). The replayer must stop with an error, not
hang; started again once green is back, it resumes from the position green
committed, and green ends equal to f(blue): nothing lost, nothing twice."""

from __future__ import annotations

import threading
import time

from orchestrator.db.transform import load
from orchestrator.db.verify import verify
from tests.integration.test_replay import TRANSFORM, blue_workload, replayer, stderr_of


def test_green_crashing_mid_sync_stops_the_replayer_and_a_restart_converges(clusters):
    blue, green = clusters
    stop = threading.Event()
    writer = threading.Thread(target=blue_workload, args=(blue, 3000, 11, stop))
    proc = replayer(blue, green, "forward", "crash")
    writer.start()
    try:
        time.sleep(2.0)
        assert proc.poll() is None, stderr_of(proc)
        green.stop("immediate")  # the crash
        code = proc.wait(timeout=60)  # a replayer that hangs here fails the test
        assert code != 0 and stderr_of(proc).strip(), "the replayer must say why it stopped"
        time.sleep(1.0)  # blue keeps writing while green is down
        green.start_again()
        proc = replayer(blue, green, "forward", "crash")
        writer.join(timeout=90)
        assert not writer.is_alive()
    finally:
        stop.set()
        if proc.poll() is None:
            proc.terminate()
            proc.wait(timeout=30)
    end = blue.sql("SELECT pg_current_wal_insert_lsn()::text")[0][0]
    final = replayer(blue, green, "forward", "crash", until=end)
    assert final.wait(timeout=120) == 0, stderr_of(final)

    result = verify(blue.dsn(), green.dsn(), load(TRANSFORM), "forward")
    assert result.ok, result.mismatches[:5]
    assert blue.sql("SELECT count(*) FROM accounts")[0][0] == green.sql(
        "SELECT count(*) FROM accounts")[0][0] > 0
