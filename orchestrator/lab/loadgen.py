"""A bounded client for the example apps, for the demo, the tests and the benchmark.

Each request writes an item (an account, or a move of stock: `SHAPES`) and reads it
straight back through the LB. It
counts failed requests (anything but the expected answer, or no answer), stale
reads (a read that misses the client's own acknowledged write) and keeps every
acknowledged write, so that `lost()` can later ask whichever colour is live
whether each one is still there. Bounded in requests and in time, always.
"""

from __future__ import annotations

import http.client
import json
import multiprocessing
import threading
import time
import uuid
from dataclasses import dataclass, field
from typing import Any, Protocol
from urllib.parse import urlsplit


@dataclass
class LoadResult:
    requests: int = 0
    failures: int = 0
    stale_reads: int = 0
    writes: dict[Any, dict] = field(default_factory=dict)  # id -> what was written
    errors: list[str] = field(default_factory=list)  # the first few, for the report
    latencies_ms: list[float] = field(default_factory=list)  # per write + read back

    def percentile_ms(self, p: float) -> float:
        ordered = sorted(self.latencies_ms)
        return ordered[min(len(ordered) - 1, int(len(ordered) * p))] if ordered else 0.0

    def note(self, error: str) -> None:
        if len(self.errors) < 20:
            self.errors.append(error)


class Shape(Protocol):
    """What a client writes and how it reads it back: one app's API."""

    create: str  # the path a write is POSTed to

    def payload(self, worker: int, n: int) -> dict: ...
    def key(self, payload: dict, answer: dict) -> Any: ...
    def path(self, key: Any) -> str: ...
    def same(self, read: dict, written: dict) -> bool: ...


class Accounts:
    """The sample app's and ledger's API: an account, read back by the id it got."""

    create = "/accounts"

    def payload(self, worker: int, n: int) -> dict:
        return {"name": f"Load W{worker} N{n}", "email": f"w{worker}n{n}@load.test",
                "balance": f"{n % 1000}.{n % 100:02d}", "street": f"{n} Load St",
                "city": "Loadville"}

    def key(self, payload: dict, answer: dict) -> Any:
        return answer["id"]

    def path(self, key: Any) -> str:
        return f"/accounts/{key}"

    def same(self, read: dict, written: dict) -> bool:
        return all(str(read.get(k)) == str(v) for k, v in written.items() if k != "balance") \
            and float(read.get("balance", "nan")) == float(written["balance"])


class Moves:
    """examples/stock's API: a move of one of a few products, so every write updates
    a hot counter row; keyed by the client's own uuid."""

    create = "/moves"
    PRODUCTS = ("A", "B", "C")

    def payload(self, worker: int, n: int) -> dict:
        return {"id": str(uuid.uuid4()), "sku": self.PRODUCTS[n % len(self.PRODUCTS)],
                "delta": n % 7 - 3}

    def key(self, payload: dict, answer: dict) -> Any:
        return payload["id"]

    def path(self, key: Any) -> str:
        return f"/moves/{key}"

    def same(self, read: dict, written: dict) -> bool:
        return (read.get("sku"), read.get("delta")) == (written["sku"], written["delta"])


SHAPES: dict[str, Shape] = {"accounts": Accounts(), "moves": Moves()}


class Load:
    def __init__(self, base_url: str, rate: float = 100.0, workers: int = 4,
                 max_requests: int = 100_000, max_seconds: float = 600.0,
                 guard=lambda _u: None, shape: str = "accounts") -> None:
        guard(base_url)
        self.shape = SHAPES[shape]
        parts = urlsplit(base_url)
        self.host, self.port = parts.hostname or "", parts.port or 80
        self.rate, self.workers = rate, workers
        self.max_requests, self.max_seconds = max_requests, max_seconds
        self.result = LoadResult()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._seq = 0

    def start(self) -> Load:
        self._began = time.monotonic()
        for n in range(self.workers):
            t = threading.Thread(target=self._work, args=(n,), name=f"load-{n}", daemon=True)
            t.start()
            self._threads.append(t)
        return self

    def wait(self, timeout_s: float) -> bool:
        """Wait for the load to end by its own bounds; True if it has."""
        ends = time.monotonic() + timeout_s
        for t in self._threads:
            t.join(timeout=max(ends - time.monotonic(), 0))
        return not any(t.is_alive() for t in self._threads)

    def stop(self) -> LoadResult:
        self._stop.set()
        self.wait(30)
        return self.result

    def _next(self) -> int | None:
        with self._lock:
            if self._seq >= self.max_requests:
                return None
            self._seq += 1
            return self._seq

    def _work(self, worker: int) -> None:
        conn = self._connect()
        interval = self.workers / self.rate
        due = time.monotonic()
        while not self._stop.is_set() and time.monotonic() - self._began < self.max_seconds:
            n = self._next()
            if n is None:
                return
            due += interval
            conn = self._one(conn, worker, n)
            pause = due - time.monotonic()
            if pause > 0:
                self._stop.wait(pause)

    def _connect(self) -> http.client.HTTPConnection:
        return http.client.HTTPConnection(self.host, self.port, timeout=10)

    def _one(self, conn, worker: int, n: int):
        item = self.shape.payload(worker, n)
        began = time.monotonic()
        try:
            status, body = _call(conn, "POST", self.shape.create, item)
            if status != 201:
                return self._fail(conn, f"POST answered {status}: {body[:80]!r}")
            new_id = self.shape.key(item, json.loads(body))
            with self._lock:
                self.result.writes[new_id] = item
            status, body = _call(conn, "GET", self.shape.path(new_id))
        except (OSError, http.client.HTTPException, ValueError, KeyError) as exc:
            return self._fail(conn, f"{type(exc).__name__}: {exc}")
        try:
            read = json.loads(body) if status == 200 else None
        except ValueError:
            read = None
        with self._lock:
            self.result.requests += 1
            self.result.latencies_ms.append((time.monotonic() - began) * 1000)
            if status == 404 or (status == 200 and (read is None
                                                    or not self.shape.same(read, item))):
                self.result.stale_reads += 1
                self.result.note(f"stale read of {new_id}: {status} {body[:80]!r}")
            elif status != 200:
                self.result.failures += 1
                self.result.note(f"GET {new_id} answered {status}")
        return conn

    def _fail(self, conn, error: str):
        with self._lock:
            self.result.requests += 1
            self.result.failures += 1
            self.result.note(error)
        conn.close()
        return self._connect()

    def lost(self, max_seconds: float = 300.0) -> list[Any]:
        """Acknowledged writes that the live colour no longer has (or has changed),
        read back on as many connections as the load used."""
        items = sorted(self.result.writes.items())
        ends = time.monotonic() + max_seconds
        missing: list[Any] = []
        slices = [items[n::self.workers] for n in range(self.workers)]
        threads = [threading.Thread(target=self._check, args=(part, ends, missing))
                   for part in slices]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=max_seconds + 30)
        if time.monotonic() > ends:
            raise TimeoutError(f"lost-write check did not finish in {max_seconds}s")
        return sorted(missing)

    def _check(self, items: list, ends: float, missing: list[Any]) -> None:
        conn = self._connect()
        for new_id, item in items:
            if time.monotonic() > ends:
                return
            status, body = self._read_back(conn, new_id)
            try:
                same = status == 200 and self.shape.same(json.loads(body), item)
            except (ValueError, TypeError):
                same = False
            if not same:
                missing.append(new_id)
        conn.close()

    def _read_back(self, conn, new_id: Any) -> tuple[int, bytes]:
        """GET, asking again (up to 3 times) on an error that proves nothing: only
        a 404 or different data counts as a lost write."""
        for attempt in range(3):
            try:
                status, body = _call(conn, "GET", self.shape.path(new_id))
            except (OSError, http.client.HTTPException):
                conn.close()
                status, body = 0, b""
            if status in (200, 404):
                return status, body
            time.sleep(0.1 * (attempt + 1))
        return status, body


class LoadApart:
    """The same load, run in a process of its own. A service's clients are not in
    the deployer's process: a benchmark's must not share its interpreter lock with
    the swap it measures (16 client threads slow the swap's own, and the swap's
    busy threads slow the clients). Bounded as Load is; the child also stops with
    its own `max_seconds` should this process die without stopping it."""

    def __init__(self, base_url: str, guard=lambda _u: None, **bounds) -> None:
        guard(base_url)
        self.base_url, self.bounds = base_url, bounds
        self.result = LoadResult()

    def start(self) -> LoadApart:
        ctx = multiprocessing.get_context("spawn")  # nothing inherited from our threads
        self._results, child_end = ctx.Pipe(duplex=False)
        self._stop = ctx.Event()
        self._child = ctx.Process(target=_run_apart, daemon=True, name="greenswap-load",
                                  args=(self.base_url, self.bounds, self._stop, child_end))
        self._began = time.monotonic()
        self._child.start()
        child_end.close()  # the child's now: its death then reads as an end of file
        return self

    def wait(self, timeout_s: float) -> bool:
        return self._results.poll(timeout_s)  # its result is sent when it ends

    def stop(self, timeout_s: float = 60.0) -> LoadResult:
        self._stop.set()
        try:
            if not self.wait(timeout_s):
                raise TimeoutError(f"the load process did not report within {timeout_s:g}s")
            self.result = self._results.recv()
        except EOFError:
            raise RuntimeError("the load process ended without a result (exit code"
                               f" {self._child.exitcode}); its error is on stderr") from None
        finally:
            self._child.join(timeout=30)
            if self._child.is_alive():
                self._child.terminate()  # our own child, by its PID
                self._child.join(timeout=5)
        return self.result

    def lost(self, max_seconds: float = 300.0) -> list[Any]:
        here = Load(self.base_url, workers=self.bounds.get("workers", 4),
                    shape=self.bounds.get("shape", "accounts"))
        here.result = self.result
        return here.lost(max_seconds)


def _run_apart(base_url: str, bounds: dict, stop, results) -> None:
    load = Load(base_url, **bounds).start()
    while not load.wait(0.2) and not stop.is_set():
        pass
    results.send(load.stop())


def _call(conn, method: str, path: str, payload: dict | None = None) -> tuple[int, bytes]:
    body = json.dumps(payload).encode() if payload is not None else None
    headers = {"Content-Type": "application/json"} if body else {}
    conn.request(method, path, body=body, headers=headers)
    resp = conn.getresponse()
    return resp.status, resp.read()
