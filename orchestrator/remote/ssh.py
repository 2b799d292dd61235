"""SSH to a host with paramiko, against a pinned known_hosts file.

The host key must already be in known_hosts: an unknown key and a changed key are
both refused (RejectPolicy), never learned. paramiko's errors are translated into
greenswap's here, where they enter.
"""

from __future__ import annotations

import shlex
import time
import uuid
from pathlib import Path

import paramiko

from orchestrator.errors import HostKeyMismatchError, RemoteError
from orchestrator.remote.base import CommandResult
from orchestrator.retry import ssh_connect

CONNECT_TIMEOUT_S = 5.0


class SSHShell:
    def __init__(
        self, name: str, address: str, key_path: Path, known_hosts: Path,
        user: str = "root", port: int = 22,
    ) -> None:
        self.name = name
        self.address = address
        self.port = port
        self.user = user
        self.key_path = key_path
        self.known_hosts = known_hosts
        self._client: paramiko.SSHClient | None = None

    def __enter__(self) -> SSHShell:
        self.connect()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def connect(self) -> None:
        if self._client is not None:
            return
        try:
            client = self._connect()
        except paramiko.BadHostKeyException:
            raise HostKeyMismatchError(
                f"host {self.name} ({self.address}) presented an SSH host key that differs "
                f"from the one pinned in {self.known_hosts}; refusing to connect"
            ) from None
        except paramiko.SSHException as exc:
            if "not found in known_hosts" in str(exc):
                raise HostKeyMismatchError(
                    f"host {self.name} ({self.address}) has no pinned key in {self.known_hosts}; "
                    "refusing to trust it on first use"
                ) from None
            raise RemoteError(f"ssh to {self.name} ({self.address}) failed: {exc}") from None
        except (OSError, EOFError) as exc:
            where = f"{self.address}:{self.port}"
            raise RemoteError(f"cannot reach {self.name} at {where}: {exc}") from None
        self._client = client

    @ssh_connect
    def _connect(self) -> paramiko.SSHClient:
        # A fresh client per attempt: a failed transport is closed, never reused.
        client = paramiko.SSHClient()
        client.load_host_keys(str(self.known_hosts))  # only these keys; no system files
        client.set_missing_host_key_policy(paramiko.RejectPolicy())
        try:
            client.connect(
                self.address, port=self.port, username=self.user,
                key_filename=str(self.key_path), look_for_keys=False, allow_agent=False,
                timeout=CONNECT_TIMEOUT_S, banner_timeout=CONNECT_TIMEOUT_S,
                auth_timeout=CONNECT_TIMEOUT_S,
            )
        except BaseException:
            client.close()
            raise
        return client

    def run(self, command: str, timeout: float = 60.0, stdin: str | None = None) -> CommandResult:
        self.connect()
        assert self._client is not None
        chan = None
        try:
            chan_in, chan_out, chan_err = self._client.exec_command(command, timeout=timeout)
            chan = chan_out.channel
            if stdin is not None:
                chan_in.write(stdin)
            chan.shutdown_write()
            out = chan_out.read().decode(errors="replace")
            err = chan_err.read().decode(errors="replace")
            rc = chan.recv_exit_status()
        except TimeoutError:
            raise RemoteError(
                f"'{command}' on {self.name} did not finish within {timeout:g}s"
            ) from None
        except (paramiko.SSHException, OSError, EOFError) as exc:
            self.close()
            raise RemoteError(
                f"ssh to {self.name} dropped while running '{command}': {exc}"
            ) from None
        finally:
            if chan is not None:
                chan.close()  # on a timeout too: the remote command gets SIGHUP
        return CommandResult(rc, out, err)

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None


class ShellSession:
    """One long-lived `sh` on a host, fed a command at a time: a Shell whose calls
    cost a round trip instead of a new SSH channel and login session (about 50 ms
    each on the lab's hosts). For the swap, whose pause is a sum of such calls.

    Each command runs in its own `sh -c`, so a broken command cannot end the
    session; stderr comes back merged into stdout."""

    def __init__(self, shell: SSHShell) -> None:
        self.shell = shell
        self.name = shell.name
        self._chan: paramiko.Channel | None = None
        self._buf = b""

    def _open(self) -> paramiko.Channel:
        if self._chan is None or self._chan.closed or self._chan.exit_status_ready():
            self.shell.connect()
            assert self.shell._client is not None
            chan = self.shell._client.get_transport().open_session()
            chan.set_combine_stderr(True)
            chan.exec_command("exec /bin/sh")
            self._chan, self._buf = chan, b""
        return self._chan

    def run(self, command: str, timeout: float = 60.0, stdin: str | None = None) -> CommandResult:
        if stdin is not None:
            raise ValueError("ShellSession does not pass stdin; use SSHShell.run")
        marker = f"__greenswap_{uuid.uuid4().hex}__"
        try:
            chan = self._open()
            chan.sendall(f"sh -c {shlex.quote(command)} 2>&1 </dev/null;"
                         f" printf '\\n%s %d\\n' {marker} $?\n".encode())
            out, rc = self._read_until(chan, marker.encode(), time.monotonic() + timeout)
        except (paramiko.SSHException, OSError, EOFError) as exc:
            self.close()
            raise RemoteError(f"ssh to {self.name} dropped while running '{command}': {exc}"
                              ) from None
        return CommandResult(rc, out, "")

    def _read_until(self, chan, marker: bytes, deadline: float) -> tuple[str, int]:
        while (at := self._buf.find(b"\n" + marker + b" ")) < 0:
            left = deadline - time.monotonic()
            if left <= 0:
                self.close()  # the command may still run: never reuse this session
                raise RemoteError(f"a command on {self.name} did not finish in time")
            chan.settimeout(left)
            data = chan.recv(65536)
            if not data:
                raise EOFError("the remote shell ended")
            self._buf += data
        end = self._buf.index(b"\n", at + 1 + len(marker))
        out = self._buf[:at].decode(errors="replace")
        rc = int(self._buf[at + 1 + len(marker):end])
        self._buf = self._buf[end + 1:]
        return out, rc

    def close(self) -> None:
        """Ends the remote shell and its SSH connection; the next command opens both."""
        if self._chan is not None:
            self._chan.close()
            self._chan = None
        self.shell.close()
