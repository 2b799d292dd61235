"""Named retry policies and the one way to wait for a condition. Every one is
bounded in attempts and in time."""

from __future__ import annotations

import socket
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Generic, TypeVar

import paramiko
from tenacity import (
    retry,
    retry_if_exception_type,
    stop_after_attempt,
    stop_after_delay,
    wait_exponential,
)

# A host that is booting or restarting sshd refuses, resets, or drops the banner for a
# moment. Never retried: a bad host key or a failed authentication.
ssh_connect = retry(
    retry=retry_if_exception_type((
        paramiko.ssh_exception.NoValidConnectionsError, ConnectionError, socket.timeout,
        EOFError,
    )),
    stop=stop_after_attempt(6) | stop_after_delay(10),
    wait=wait_exponential(multiplier=0.1, max=2),
    reraise=True,
)


T = TypeVar("T")


@dataclass(frozen=True)
class Polled(Generic[T]):
    done: bool  # the condition held before the deadline
    last: T  # what the last look saw: the caller's error names it


def poll_until(look: Callable[[], T], done: Callable[[T], bool], within_s: float,
               every_s: float) -> Polled[T]:
    """Look, every `every_s`, until `done(what was seen)` or `within_s` has passed (one
    look at least). It does not raise for the time: the caller's error says what it
    waited for, and with what it last saw."""
    end = time.monotonic() + within_s
    while True:
        seen = look()
        if done(seen):
            return Polled(True, seen)
        if time.monotonic() > end:
            return Polled(False, seen)
        time.sleep(every_s)
