#!/usr/bin/env python3
"""ledger: a second example app for greenswap, of another shape than the sample.

One file, shipped as a tarball with a VERSION file beside it and run by its own
control script (ledgerctl); it answers on its own port and health path, and opens
one database connection per request (no pool to go stale across a swap). Its
storage follows its major version:

- 1.x: table clients (id serial, name, email, balance numeric, street, city);
- 2.x: table customers (the same rows, renamed with its sequence), the address
  as one jsonb column.

The HTTP API is the same in both: POST /accounts, GET /accounts/<id>, and the
health path, so clients see no change across a rollout.
"""

import configparser
import decimal
import json
import re
import signal
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import psycopg2

VERSION = (Path(__file__).with_name("VERSION").read_text().strip()
           if Path(__file__).with_name("VERSION").exists() else "0.0")
MAJOR = int(VERSION.split(".")[0])
ACCOUNT = re.compile(r"^/accounts/(\d+)$")
FIELDS = ("name", "email", "balance", "street", "city")


def create(cur, a):
    if MAJOR < 2:
        cur.execute("INSERT INTO clients (name, email, balance, street, city)"
                    " VALUES (%s, %s, %s, %s, %s) RETURNING id",
                    (a["name"], a["email"], a["balance"], a["street"], a["city"]))
    else:
        cur.execute("INSERT INTO customers (name, email, balance, address)"
                    " VALUES (%s, %s, %s, %s) RETURNING id",
                    (a["name"], a["email"], a["balance"],
                     json.dumps({"street": a["street"], "city": a["city"]})))
    return cur.fetchone()[0]


def get(cur, account_id):
    if MAJOR < 2:
        cur.execute("SELECT name, email, balance, street, city FROM clients WHERE id = %s",
                    (account_id,))
        row = cur.fetchone()
        if row is None:
            return None
        name, email, balance, street, city = row
    else:
        cur.execute("SELECT name, email, balance, address FROM customers WHERE id = %s",
                    (account_id,))
        row = cur.fetchone()
        if row is None:
            return None
        name, email, balance, address = row
        street, city = address.get("street", ""), address.get("city", "")
    return {"id": account_id, "name": name, "email": email, "balance": str(balance),
            "street": street, "city": city}


class Ledger(BaseHTTPRequestHandler):
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
                                application_name=f"ledger/{VERSION}")
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
        found = ACCOUNT.match(self.path)
        if not found:
            return self.answer(404, {"error": "not found"})
        try:
            account = self.db(lambda cur: get(cur, int(found.group(1))))
        except psycopg2.Error as exc:
            return self.answer(503, {"error": type(exc).__name__})
        return self.answer(200, account) if account else self.answer(404, {"error": "none"})

    def do_POST(self):
        if self.path != "/accounts":
            return self.answer(404, {"error": "not found"})
        try:
            data = json.loads(self.rfile.read(int(self.headers.get("Content-Length") or 0)))
            account = {f: str(data[f]) for f in FIELDS}
            account["balance"] = decimal.Decimal(account["balance"]).quantize(
                decimal.Decimal("0.01"))
        except (ValueError, KeyError, TypeError, decimal.InvalidOperation) as exc:
            return self.answer(400, {"error": f"bad account: {exc}"})
        try:
            new_id = self.db(lambda cur: create(cur, account))
        except psycopg2.Error as exc:
            return self.answer(503, {"error": type(exc).__name__})
        return self.answer(201, {"id": new_id})


def main(path):
    settings = configparser.ConfigParser()
    if not settings.read(path):
        sys.exit(f"cannot read {path}")
    Ledger.settings = settings
    server = ThreadingHTTPServer(("0.0.0.0", settings.getint("server", "port")), Ledger)
    server.daemon_threads = False  # a stop lets the requests in flight finish
    signal.signal(signal.SIGTERM, lambda *_: threading.Thread(target=server.shutdown).start())
    server.serve_forever()
    server.server_close()


if __name__ == "__main__":
    main(sys.argv[1])
