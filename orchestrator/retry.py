"""Named retry policies. Every one is bounded in attempts and in time."""

from __future__ import annotations

import socket

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
