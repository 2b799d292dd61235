"""Health checks by scope (preflight, verify, bake), always against one colour
directly: its app hosts and its database, never through the LB, so green is proven
before it takes traffic.
"""

from __future__ import annotations

import subprocess
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass

import psycopg2

from orchestrator.config import Check
from orchestrator.secrets import environment_without

# (colour) -> [app base URLs], (colour) -> admin DSN
Urls = Callable[[str], list[str]]
Dsn = Callable[[str], str]
Guard = Callable[[str], None]  # refuses a URL the network rule forbids


@dataclass
class FailedRounds:
    """Rounds of checks that failed in a row, against a limit (bake.failures): what
    the bake and a canary's watch both roll back on."""

    limit: int
    in_a_row: int = 0

    def count(self, problems: list[str]) -> bool:
        """This round's problems counted; True once `limit` rounds in a row failed."""
        self.in_a_row = self.in_a_row + 1 if problems else 0
        return self.in_a_row >= self.limit


def run_checks(checks: list[Check], color: str, urls: Urls, dsn: Dsn,
               guard: Guard = lambda _u: None, hide: tuple[str, ...] = ()) -> list[str]:
    """Every check of the list against `color`; the failures, one line each.
    Command checks do not get the variables in `hide` (secrets), nor PGPASSWORD."""
    failures = []
    for check in checks:
        if check.kind == "http":
            failures += _http(check, urls(color), guard)
        elif check.kind == "sql":
            failures += _sql(check, dsn(color))
        else:
            failures += _command(check, color, hide)
    return failures


def _http(check: Check, bases: list[str], guard: Guard) -> list[str]:
    if not bases:
        return [f"{check.name}: no app hosts to check"]
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    failures = []
    for base in bases:
        url = base + check.path
        guard(url)
        try:
            with opener.open(url, timeout=check.timeout_s) as resp:
                status = resp.status
        except urllib.error.HTTPError as exc:
            status = exc.code
        except OSError as exc:
            failures.append(f"{check.name}: GET {url} failed: {exc}")
            continue
        if status != check.expect_status:
            failures.append(f"{check.name}: GET {url} answered {status}, "
                            f"expected {check.expect_status}")
    return failures


def _sql(check: Check, dsn: str) -> list[str]:
    try:
        conn = psycopg2.connect(dsn, connect_timeout=max(1, int(check.timeout_s)),
                                options=f"-c statement_timeout={int(check.timeout_s * 1000)}")
    except psycopg2.Error as exc:
        return [f"{check.name}: cannot connect: {str(exc).strip().splitlines()[0]}"]
    try:
        with conn.cursor() as cur:
            cur.execute(check.query)
            row = cur.fetchone()
    except psycopg2.Error as exc:
        return [f"{check.name}: query failed: {str(exc).strip().splitlines()[0]}"]
    finally:
        conn.close()
    if not row or not row[0]:
        return [f"{check.name}: query returned {row[0] if row else 'no row'}, expected true"]
    return []


def _command(check: Check, color: str, hide: tuple[str, ...]) -> list[str]:
    env = {**environment_without(hide), "GREENSWAP_COLOR": color}
    try:
        done = subprocess.run(["/bin/sh", "-c", check.command], capture_output=True, text=True,
                              timeout=check.timeout_s, env=env)
    except subprocess.TimeoutExpired:
        return [f"{check.name}: command did not finish within {check.timeout_s}s"]
    if done.returncode != 0:
        last = (done.stderr.strip() or done.stdout.strip()).splitlines()[-1:] or [""]
        return [f"{check.name}: command exited {done.returncode} {last[0]}".rstrip()]
    return []
