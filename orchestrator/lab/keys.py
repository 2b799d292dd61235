"""SSH keys of the lab: one client key, one host key per host, a pinned known_hosts.

Host keys are made here, before a host boots, so that the key we pin is the key
the host serves: no trust-on-first-use, ever.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from orchestrator.fsutil import write_atomic


@dataclass(frozen=True)
class KeyPair:
    private_openssh: bytes
    public_line: str  # "ssh-ed25519 AAAA..."


def new_keypair(comment: str) -> KeyPair:
    key = Ed25519PrivateKey.generate()
    private = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.OpenSSH,
        serialization.NoEncryption(),
    )
    public = key.public_key().public_bytes(
        serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH
    )
    return KeyPair(private, f"{public.decode()} {comment}")


def write_secret(path: Path, data: bytes) -> None:
    """A file only root may read, never exposed with wider modes."""
    write_atomic(path, data, 0o600)


def ensure_client_key(key_path: Path) -> str:
    """Return the lab's client public key, creating the pair (mode 0600) if missing."""
    pub_path = key_path.with_suffix(".pub")
    if not key_path.exists() or not pub_path.exists():
        pair = new_keypair("greenswap-lab")
        write_secret(key_path, pair.private_openssh)
        write_atomic(pub_path, pair.public_line + "\n")
    return pub_path.read_text().strip()


def known_hosts_text(entries: dict[str, str]) -> str:
    """entries: address -> "ssh-ed25519 AAAA... comment" of the host serving it."""
    lines = []
    for address, public_line in sorted(entries.items()):
        keytype, blob = public_line.split()[:2]
        lines.append(f"{address} {keytype} {blob}")
    return "\n".join(lines) + "\n"
