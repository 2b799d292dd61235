"""Secrets: how they are derived and how they are kept out of what greenswap writes.

A secret reaches a host only inside module arguments (which Ansible pipelines over
SSH's stdin), never on a command line; the database receives a SCRAM verifier, not
the password; and anything greenswap keeps on disk is scrubbed of secret values.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
from collections.abc import Iterable
from pathlib import Path

REDACTED = "<redacted>"
# Every secret value this process has read (Config.secret): scrubbed from what it
# writes even where the writer was not handed the secrets (a playbook run by a
# provider, say), because ansible-runner records the whole environment.
_KNOWN: set[str] = set()


def remember(value: str) -> str:
    if value:
        _KNOWN.add(value)
    return value


def known() -> frozenset[str]:
    return frozenset(_KNOWN)


def environment_without(hide: Iterable[str]) -> dict[str, str]:
    """This process's environment minus the named secrets and libpq's PGPASSWORD:
    what the operator's own programs (hooks, command checks) are run with."""
    hidden = {*hide, "PGPASSWORD"}
    return {k: v for k, v in os.environ.items() if k not in hidden}


def scram_sha256(password: str, iterations: int = 4096, salt: bytes | None = None) -> str:
    """The verifier PostgreSQL stores for a password (RFC 7677); for ASCII passwords
    SASLprep is the identity, and the lab only makes ASCII ones."""
    salt = salt if salt is not None else os.urandom(16)
    salted = hashlib.pbkdf2_hmac("sha256", password.encode(), salt, iterations)
    client_key = hmac.new(salted, b"Client Key", "sha256").digest()
    stored_key = hashlib.sha256(client_key).digest()
    server_key = hmac.new(salted, b"Server Key", "sha256").digest()

    def b64(raw: bytes) -> str:
        return base64.b64encode(raw).decode()

    return f"SCRAM-SHA-256${iterations}:{b64(salt)}${b64(stored_key)}:{b64(server_key)}"


def scrub_tree(root: Path, secrets: Iterable[str]) -> None:
    """Replace every secret value in every file under root (run artifacts)."""
    needles = [s.encode() for s in secrets if s]
    if not needles or not root.exists():
        return
    for path in root.rglob("*"):
        if not path.is_file():
            continue
        data = path.read_bytes()
        if any(n in data for n in needles):
            for n in needles:
                data = data.replace(n, REDACTED.encode())
            path.write_bytes(data)
