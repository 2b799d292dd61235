"""Real PostgreSQL clusters for tests, on loopback, owned by the postgres user.

Each cluster is initdb'd into a fresh directory, listens on 127.0.0.1 only, with
wal_level=logical, and is stopped by its own PID file (pg_ctl) at the end.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path

import psycopg2

PG_BIN = Path("/usr/lib/postgresql/15/bin")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _as_postgres(args: list[str], **kw) -> subprocess.CompletedProcess:
    run_as = [] if os.geteuid() != 0 else ["runuser", "-u", "postgres", "--"]
    return subprocess.run(run_as + args, check=True, capture_output=True, text=True, **kw)


class Cluster:
    def __init__(self, name: str, settings: dict[str, str] | None = None,
                 password_auth: bool = False) -> None:
        self.name = name
        # Passwords asked over TCP (scram-sha-256), rather than trusted: for tests of
        # a wrong password. Local connections stay trusted, for the tests' own setup.
        self.password_auth = password_auth
        self.dir = Path(tempfile.mkdtemp(prefix=f"gs-pg-{name}-"))
        self.data = self.dir / "data"
        self.port = free_port()
        self.settings = {
            "listen_addresses": "'127.0.0.1'", "port": str(self.port),
            "unix_socket_directories": f"'{self.dir}'", "wal_level": "logical",
            "max_replication_slots": "20", "max_wal_senders": "20", "fsync": "off",
            "synchronous_commit": "off", "full_page_writes": "off",
            "shared_buffers": "128MB", "max_connections": "60",
            "wal_sender_timeout": "60s", "log_min_messages": "warning",
            **(settings or {}),
        }

    def start(self) -> Cluster:
        if os.geteuid() == 0:
            shutil.chown(self.dir, "postgres", "postgres")
        _as_postgres([str(PG_BIN / "initdb"), "-D", str(self.data), "-U", "postgres",
                      "--auth=trust", "-E", "UTF8", "--locale=C.UTF-8"])
        conf = "\n".join(f"{k} = {v}" for k, v in self.settings.items())
        with open(self.data / "postgresql.auto.conf", "a") as fh:
            fh.write(conf + "\n")
        with open(self.data / "pg_hba.conf", "w") as fh:
            tcp = "scram-sha-256" if self.password_auth else "trust"
            fh.write(f"local all all trust\nhost all all 127.0.0.1/32 {tcp}\n"
                     f"host replication all 127.0.0.1/32 {tcp}\n")
        _as_postgres([str(PG_BIN / "pg_ctl"), "-D", str(self.data), "-l",
                      str(self.dir / "log"), "-w", "-t", "30", "start"])
        return self

    def start_again(self) -> Cluster:
        """Start the existing cluster (after a stop or a crash): crash recovery runs."""
        _as_postgres([str(PG_BIN / "pg_ctl"), "-D", str(self.data), "-l",
                      str(self.dir / "log"), "-w", "-t", "60", "start"])
        return self

    def stop(self, mode: str = "fast") -> None:
        if (self.data / "postmaster.pid").exists():
            _as_postgres([str(PG_BIN / "pg_ctl"), "-D", str(self.data), "-m", mode, "-w",
                          "-t", "30", "stop"])

    def destroy(self) -> None:
        self.stop("immediate")
        shutil.rmtree(self.dir, ignore_errors=True)

    def dsn(self, dbname: str = "postgres") -> str:
        return f"host=127.0.0.1 port={self.port} dbname={dbname} user=postgres"

    def connect(self, dbname: str = "postgres"):
        conn = psycopg2.connect(self.dsn(dbname))
        conn.autocommit = True
        return conn

    def sql(self, statement: str, params=None, dbname: str = "postgres") -> list[tuple]:
        # Not `with conn`: since psycopg2 2.9 that opens a transaction even in
        # autocommit, and some statements (CREATE SUBSCRIPTION) refuse to run in one.
        conn = self.connect(dbname)
        try:
            with conn.cursor() as cur:
                cur.execute(statement, params)
                return cur.fetchall() if cur.description else []
        finally:
            conn.close()
