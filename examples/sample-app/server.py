#!/usr/bin/python3
"""greenswap sample app: a small accounts service over HTTP.

Runs on the hosts' Debian python3 with python3-psycopg2; nothing from pip.
The HTTP contract is the same in every version; only store.py, which knows the
schema, changes between versions. Endpoints:

    GET  /health          {"version", "schema", "db", "host"}; 503 when the DB is unreachable
    POST /accounts        {"name", "email", "balance", "street", "city"} -> 201 {"id"}
    GET  /accounts/<id>   the account as written -> 200, or 404
"""

import configparser
import decimal
import json
import re
import signal
import socket
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import psycopg2
import store

FIELDS = ("name", "email", "balance", "street", "city")
ACCOUNT_PATH = re.compile(r"^/accounts/(\d+)$")
MAX_BODY = 64 * 1024
POOL_SIZE = 8
SLOT_WAIT_S = 10


class App:
    """The app's database connections: up to POOL_SIZE, kept open between requests
    (a new one costs a TCP and SCRAM handshake, ~20 ms), and requests wait for one
    rather than fail when all are busy."""

    def __init__(self, config):
        db = config["database"]
        self.dsn = dict(host=db["host"], port=db.getint("port", 5432), dbname=db["dbname"],
                        user=db["user"], password=db["password"], connect_timeout=2,
                        application_name=f"greenswap-sample-app/{store.VERSION}")
        self.slots = threading.BoundedSemaphore(POOL_SIZE)
        self.idle = []
        self.lock = threading.Lock()

    def transaction(self, work):
        if not self.slots.acquire(timeout=SLOT_WAIT_S):
            raise psycopg2.OperationalError("all database connections busy")
        try:
            conn = self._connection()
            broken = False
            try:
                with conn, conn.cursor() as cur:
                    return work(cur)
            except psycopg2.OperationalError:
                broken = True
                raise
            finally:
                self._put_back(conn, broken)
        finally:
            self.slots.release()

    def _connection(self):
        """A kept connection, checked first: a blue/green swap ends the database's
        idle sessions, and a request must not fail on one that is gone."""
        with self.lock:
            conn = self.idle.pop() if self.idle else None
        if conn is not None:
            try:
                with conn.cursor() as cur:
                    cur.execute("SELECT 1")
                conn.rollback()
                return conn
            except psycopg2.Error:
                conn.close()
        return psycopg2.connect(**self.dsn)

    def _put_back(self, conn, broken):
        if broken or conn.closed:
            conn.close()
            return
        with self.lock:
            self.idle.append(conn)

    def health(self):
        try:
            self.transaction(lambda cur: cur.execute("SELECT 1"))
            return True
        except psycopg2.Error:
            return False


def parse_account(body):
    try:
        data = json.loads(body)
    except ValueError:
        raise ValueError("body is not JSON") from None
    if not isinstance(data, dict):
        raise ValueError("body must be a JSON object")
    missing = [f for f in FIELDS if f not in data]
    if missing:
        raise ValueError(f"missing field(s): {', '.join(missing)}")
    try:
        balance = decimal.Decimal(str(data["balance"])).quantize(decimal.Decimal("0.01"))
    except decimal.InvalidOperation:
        raise ValueError("balance must be a decimal number") from None
    account = {f: str(data[f]) for f in FIELDS if f != "balance"}
    if not account["name"].strip():
        raise ValueError("name must not be empty")
    account["balance"] = balance
    return account


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # Headers and body go out in separate writes: without this, Nagle's algorithm
    # and the client's delayed ACK hold the body back ~40 ms on every answer.
    disable_nagle_algorithm = True
    # Idle keep-alive connections close after this, so a stop never waits on them.
    timeout = 5
    app = None  # set at start-up

    def log_message(self, fmt, *args):  # one line per request on stderr, no client bodies
        sys.stderr.write(f"{self.address_string()} {fmt % args}\n")

    def reply(self, status, payload):
        body = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("X-App-Version", store.VERSION)
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        if self.path == "/health":
            ok = self.app.health()
            payload = {"version": store.VERSION, "schema": store.SCHEMA, "db": ok,
                       "host": socket.gethostname()}
            return self.reply(200 if ok else 503, payload)
        match = ACCOUNT_PATH.match(self.path)
        if not match:
            return self.reply(404, {"error": "not found"})
        try:
            account = self.app.transaction(lambda cur: store.get(cur, int(match.group(1))))
        except psycopg2.Error as exc:
            return self.reply(503, {"error": f"database: {exc.__class__.__name__}"})
        if account is None:
            return self.reply(404, {"error": "no such account"})
        account["balance"] = str(account["balance"])
        return self.reply(200, account)

    def do_POST(self):
        if self.path != "/accounts":
            return self.reply(404, {"error": "not found"})
        length = int(self.headers.get("Content-Length") or 0)
        if length > MAX_BODY:
            return self.reply(413, {"error": "body too large"})
        try:
            account = parse_account(self.rfile.read(length))
        except ValueError as exc:
            return self.reply(400, {"error": str(exc)})
        try:
            new_id = self.app.transaction(lambda cur: store.create(cur, account))
        except psycopg2.Error as exc:
            return self.reply(503, {"error": f"database: {exc.__class__.__name__}"})
        return self.reply(201, {"id": new_id})


def main(config_path):
    config = configparser.ConfigParser()
    if not config.read(config_path):
        sys.exit(f"cannot read {config_path}")
    Handler.app = App(config)
    server = ThreadingHTTPServer(
        (config.get("server", "listen", fallback="0.0.0.0"), config.getint("server", "port")),
        Handler,
    )
    server.daemon_threads = False  # a stop lets in-flight requests finish
    # SIGTERM stops accepting, then returns once in-flight requests are answered.
    signal.signal(signal.SIGTERM, lambda *_: threading.Thread(target=server.shutdown).start())
    sys.stderr.write(f"greenswap-sample-app {store.VERSION} listening on {server.server_address}\n")
    server.serve_forever()
    server.server_close()


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "/etc/greenswap-sample-app/app.conf")
