"""A hot-row workload for tests and benches: several clients, each transaction
updating one of a few counter rows and inserting two more rows (one keyed by uuid),
as fast as the database takes them. Bounded in time and in count.

Written for examples/stock: blue's tables (products, moves, audit) or green's
(stock_levels, moves, audit_log), picked by `side`.
"""

from __future__ import annotations

import random
import threading
import time
import uuid

import psycopg2

SKUS = ("A", "B", "C")  # the hot rows
COLD = ("D",)  # a row no transaction of the load touches
STATEMENTS = {
    "blue": ("UPDATE products SET qty = qty + %(d)s, moves = moves + 1, updated_at = now()"
             " WHERE sku = %(sku)s",
             "INSERT INTO moves (id, sku, delta) VALUES (%(id)s, %(sku)s, %(d)s)",
             "INSERT INTO audit (sku, note) VALUES (%(sku)s, %(note)s)"),
    "green": ("UPDATE stock_levels SET on_hand = on_hand + %(d)s, moves = moves + 1,"
              " updated_at = now() WHERE sku = %(sku)s",
              "INSERT INTO moves (id, sku, quantity) VALUES (%(id)s, %(sku)s, %(d)s)",
              "INSERT INTO audit_log (sku, message) VALUES (%(sku)s, %(note)s)"),
}
SEED = ("INSERT INTO products (sku, name) VALUES"
        + ", ".join(f"('{s}', 'item {s}')" for s in SKUS + COLD))


class HotRows:
    """Clients writing until stopped, or `max_s`, or `max_txns` transactions in all."""

    def __init__(self, dsn: str, side: str, clients: int = 4, max_s: float = 120.0,
                 max_txns: int = 1_000_000, seed: int = 1) -> None:
        self.dsn, self.statements = dsn, STATEMENTS[side]
        self.max_s, self.max_txns = max_s, max_txns
        self.stop = threading.Event()
        self.done = 0
        self.errors: list[BaseException] = []
        self._lock = threading.Lock()
        self._threads = [threading.Thread(target=self._client, args=(seed * 100 + i,),
                                          daemon=True) for i in range(clients)]

    def __enter__(self) -> HotRows:
        self.started = time.monotonic()
        for t in self._threads:
            t.start()
        return self

    def __exit__(self, *exc) -> None:
        self.finish()

    def finish(self) -> int:
        self.stop.set()
        for t in self._threads:
            t.join(timeout=30)
        assert not self.errors, self.errors[0]
        return self.done

    @property
    def rate(self) -> float:
        return self.done / max(time.monotonic() - self.started, 1e-6)

    def _client(self, seed: int) -> None:
        rng = random.Random(seed)
        deadline = time.monotonic() + self.max_s
        try:
            conn = psycopg2.connect(self.dsn)
            try:
                with conn.cursor() as cur:
                    while not self.stop.is_set() and time.monotonic() < deadline:
                        with self._lock:
                            if self.done >= self.max_txns:
                                return
                        sku = rng.choice(SKUS)
                        args = {"sku": sku, "d": rng.randint(-3, 5), "id": str(uuid.uuid4()),
                                "note": f"move of {sku}"}
                        for statement in self.statements:
                            cur.execute(statement, args)
                        conn.commit()
                        with self._lock:
                            self.done += 1
            finally:
                conn.close()
        except BaseException as exc:  # handed to finish()
            self.errors.append(exc)


def counters_match(rows: list[tuple]) -> None:
    """(sku, counter, moves counted, sum of moves, moves column): each counter equals
    the sum of its moves, and its move count their number."""
    for sku, counter, n, total, moves in rows:
        assert counter == total and moves == n, (sku, counter, total, moves, n)


BLUE_COUNTERS = ("SELECT p.sku, p.qty, count(m.id), coalesce(sum(m.delta), 0), p.moves"
                 " FROM products p LEFT JOIN moves m USING (sku) GROUP BY p.sku ORDER BY 1")
GREEN_COUNTERS = ("SELECT s.sku, s.on_hand, count(m.id), coalesce(sum(m.quantity), 0),"
                  " s.moves FROM stock_levels s LEFT JOIN moves m USING (sku)"
                  " GROUP BY s.sku ORDER BY 1")
