#!/usr/bin/env python3
"""stock: a third example app for greenswap, one whose rows are updated many times a
second. Every move of stock is one transaction that updates its product's counter
(a hot row: the whole load lands on a few products), inserts the move under the
client's uuid, and writes an audit line. Its storage follows its major version:

- 1.x: products (qty), moves (delta), audit;
- 2.x: stock_levels (on_hand), moves (quantity), audit_log (schema_v2.sql).

The HTTP API is the same in both: POST /moves {"id", "sku", "delta"},
GET /moves/<id>, GET /products/<sku>, and the health path. One database connection
per request: no pool to go stale across a swap.
"""

import configparser
import json
import re
import signal
import sys
import threading
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import psycopg2
import psycopg2.errors

VERSION = (Path(__file__).with_name("VERSION").read_text().strip()
           if Path(__file__).with_name("VERSION").exists() else "0.0")
MAJOR = int(VERSION.split(".")[0])
MOVE = re.compile(r"^/moves/([0-9a-f-]{36})$")
PRODUCT = re.compile(r"^/products/([A-Za-z0-9_-]{1,40})$")
# v1's and v2's names for the same things.
NAMES = ({"products": "products", "qty": "qty", "delta": "delta", "audit": "audit",
          "note": "note"} if MAJOR < 2 else
         {"products": "stock_levels", "qty": "on_hand", "delta": "quantity",
          "audit": "audit_log", "note": "message"})


def move(cur, m):
    """One move: the counter, the move and its audit line, in one transaction."""
    n = NAMES
    cur.execute(f"INSERT INTO {n['products']} (sku, name, {n['qty']}, moves) VALUES"
                f" (%(sku)s, 'item ' || %(sku)s, %(delta)s, 1) ON CONFLICT (sku) DO UPDATE SET"
                f" {n['qty']} = {n['products']}.{n['qty']} + EXCLUDED.{n['qty']},"
                f" moves = {n['products']}.moves + 1, updated_at = now() RETURNING {n['qty']}",
                m)
    qty = cur.fetchone()[0]
    cur.execute(f"INSERT INTO moves (id, sku, {n['delta']}) VALUES (%(id)s, %(sku)s, %(delta)s)",
                m)
    cur.execute(f"INSERT INTO {n['audit']} (sku, {n['note']}) VALUES (%(sku)s, %(note)s)",
                {**m, "note": f"moved {m['delta']}"})
    return qty


def get_move(cur, move_id):
    cur.execute(f"SELECT sku, {NAMES['delta']} FROM moves WHERE id = %s", (move_id,))
    row = cur.fetchone()
    return None if row is None else {"id": move_id, "sku": row[0], "delta": row[1]}


def get_product(cur, sku):
    n = NAMES
    cur.execute(f"SELECT {n['qty']}, moves FROM {n['products']} WHERE sku = %s", (sku,))
    row = cur.fetchone()
    return None if row is None else {"sku": sku, "qty": row[0], "moves": row[1]}


class Stock(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True
    timeout = 5
    settings = None  # set at start-up

    def log_message(self, fmt, *args):
        pass  # no request log: the LB has one

    def answer(self, status, payload):
        body = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def db(self, work):
        db = self.settings["database"]
        conn = psycopg2.connect(host=db["host"], port=db.getint("port"), dbname=db["name"],
                                user=db["user"], password=db["password"], connect_timeout=2,
                                application_name=f"stock/{VERSION}")
        try:
            with conn, conn.cursor() as cur:
                return work(cur)
        finally:
            conn.close()

    def do_GET(self):
        if self.path == self.settings["server"]["health_path"]:
            try:
                self.db(lambda cur: cur.execute("SELECT 1"))
            except psycopg2.Error:
                return self.answer(503, {"version": VERSION, "db": False})
            return self.answer(200, {"version": VERSION, "db": True})
        found_move, found_product = MOVE.match(self.path), PRODUCT.match(self.path)
        if not (found_move or found_product):
            return self.answer(404, {"error": "not found"})
        try:
            if found_move:
                item = self.db(lambda cur: get_move(cur, found_move.group(1)))
            else:
                item = self.db(lambda cur: get_product(cur, found_product.group(1)))
        except psycopg2.Error as exc:
            return self.answer(503, {"error": type(exc).__name__})
        return self.answer(200, item) if item else self.answer(404, {"error": "none"})

    def do_POST(self):
        if self.path != "/moves":
            return self.answer(404, {"error": "not found"})
        try:
            data = json.loads(self.rfile.read(int(self.headers.get("Content-Length") or 0)))
            m = {"id": str(uuid.UUID(str(data["id"]))), "sku": str(data["sku"])[:40],
                 "delta": int(data["delta"])}
        except (ValueError, KeyError, TypeError) as exc:
            return self.answer(400, {"error": f"bad move: {exc}"})
        try:
            qty = self.db(lambda cur: move(cur, m))
        except psycopg2.errors.UniqueViolation:
            return self.answer(409, {"error": "move already recorded"})
        except psycopg2.Error as exc:
            return self.answer(503, {"error": type(exc).__name__})
        return self.answer(201, {"id": m["id"], "qty": qty})


def main(path):
    settings = configparser.ConfigParser()
    if not settings.read(path):
        sys.exit(f"cannot read {path}")
    Stock.settings = settings
    server = ThreadingHTTPServer(("0.0.0.0", settings.getint("server", "port")), Stock)
    server.daemon_threads = False  # a stop lets the requests in flight finish
    signal.signal(signal.SIGTERM, lambda *_: threading.Thread(target=server.shutdown).start())
    server.serve_forever()
    server.server_close()


if __name__ == "__main__":
    main(sys.argv[1])
