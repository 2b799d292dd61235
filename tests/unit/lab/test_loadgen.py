"""The bounded client against a tiny accounts service on loopback: what it counts,
and the same counts from its own process."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from orchestrator.lab.loadgen import Load, LoadApart


class Accounts(BaseHTTPRequestHandler):
    rows: dict[int, dict] = {}
    lock = threading.Lock()

    def do_POST(self):  # noqa: N802 - http.server's naming
        account = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        with self.lock:
            new_id = len(self.rows) + 1
            self.rows[new_id] = account
        self._answer(201, {"id": new_id})

    def do_GET(self):  # noqa: N802
        row = self.rows.get(int(self.path.rsplit("/", 1)[1]))
        self._answer(200, row) if row else self._answer(404, {})

    def _answer(self, status: int, body: dict) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *_args) -> None:
        pass


@pytest.fixture
def service():
    Accounts.rows = {}
    server = ThreadingHTTPServer(("127.0.0.1", 0), Accounts)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


@pytest.mark.parametrize("kind", [Load, LoadApart])
def test_counts_writes_and_finds_the_lost_one(service, kind):
    load = kind(service, rate=200, workers=2, max_requests=40, max_seconds=20).start()
    assert load.wait(20)  # it ends on its own after max_requests
    result = load.stop()
    assert result.requests == 40 and result.failures == 0 and result.stale_reads == 0
    assert sorted(result.writes) == list(range(1, 41)) and len(result.latencies_ms) == 40
    del Accounts.rows[7]  # a write the service then lost
    assert load.lost(max_seconds=20) == [7]

