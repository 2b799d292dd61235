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
                f"from the one pinned in {self.known_hosts}; refusing to connect",
                host=self.name) from None
        except paramiko.SSHException as exc:
            if "not found in known_hosts" in str(exc):
                raise HostKeyMismatchError(
                    f"host {self.name} ({self.address}) has no pinned key in {self.known_hosts}; "
                    "refusing to trust it on first use", host=self.name) from None
            raise RemoteError(f"ssh to {self.name} ({self.address}) failed: {exc}",
                              host=self.name) from None
        except (OSError, EOFError) as exc:
            where = f"{self.address}:{self.port}"
            raise RemoteError(f"cannot reach {self.name} at {where}: {exc}",
                              host=self.name) from None
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
                f"'{command}' on {self.name} did not finish within {timeout:g}s",
                host=self.name) from None
        except (paramiko.SSHException, OSError, EOFError) as exc:
            self.close()
            raise RemoteError(
                f"ssh to {self.name} dropped while running '{command}': {exc}",
                host=self.name) from None
        finally:
            if chan is not None:
                chan.close()  # on a timeout too: the remote command gets SIGHUP
        return CommandResult(rc, out, err)

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None


class Conversation:
    """One long-running command on a host over one SSH channel, fed text on its stdin
    and read back up to a separator: what a swap's many small calls use instead of
    a new channel and process each (about 50 ms each on a loaded lab host).
    stderr comes back merged into the output. Opened on first use."""

    def __init__(self, shell: SSHShell, command: str) -> None:
        self.shell = shell
        self.name = shell.name
        self.command = command
        self._chan: paramiko.Channel | None = None
        self._buf = b""

    def send(self, text: str, greeting: str = "") -> bool:
        """Send text; if that starts the command (again), `greeting` goes first.
        True if it did."""
        opened = self._chan is None or self._chan.closed or self._chan.exit_status_ready()
        if opened:
            self.close()
            self._chan, self._buf = self._start(), b""
            text = greeting + text
        chan = self._chan
        assert chan is not None  # opened just above when there was none
        chan.settimeout(CONNECT_TIMEOUT_S)
        chan.sendall(text.encode())
        return opened

    def _start(self) -> paramiko.Channel:
        transport = self.shell._client.get_transport() if self.shell._client else None
        if transport is None or not transport.is_active():
            self.shell.close()  # a dropped connection: a new one, not a dead one again
            self.shell.connect()
            assert self.shell._client is not None  # connect() made it, or raised
            transport = self.shell._client.get_transport()
        if transport is None:
            raise RemoteError(f"{self.shell.name}: the SSH connection has no transport",
                              host=self.shell.name)
        chan = transport.open_session(timeout=CONNECT_TIMEOUT_S)
        chan.set_combine_stderr(True)
        chan.exec_command(self.command)
        return chan

    def read_until(self, separator: bytes, deadline: float) -> bytes:
        """The output up to `separator`, which is consumed too. At the deadline the
        conversation is closed (the remote side may still be busy: never reused)."""
        assert self._chan is not None, "send first"
        while (at := self._buf.find(separator)) < 0:
            try:
                self._chan.settimeout(max(deadline - time.monotonic(), 0.001))
                data = self._chan.recv(65536)
            except TimeoutError:
                self.close()
                raise TimeoutError(f"no answer from '{self.command}' on {self.name} in time"
                                   ) from None
            if not data:
                raise EOFError(f"'{self.command}' on {self.name} ended: "
                               f"{self._buf.decode(errors='replace').strip()}")
            self._buf += data
        out, self._buf = self._buf[:at], self._buf[at + len(separator):]
        return out

    def close(self) -> None:
        """Ends the remote command; the next send starts it again."""
        if self._chan is not None:
            self._chan.close()
            self._chan = None


class ShellSession:
    """One long-lived `sh` on a host, fed a command at a time: a Shell whose calls
    cost a round trip instead of a new SSH channel and login session.

    Each command runs in its own `sh -c`, so a broken command cannot end the
    session; stderr comes back merged into stdout."""

    def __init__(self, shell: SSHShell) -> None:
        self.shell = shell
        self.name = shell.name
        self._sh = Conversation(shell, "exec /bin/sh")

    def run(self, command: str, timeout: float = 60.0, stdin: str | None = None) -> CommandResult:
        if stdin is not None:
            raise ValueError("ShellSession does not pass stdin; use SSHShell.run")
        marker = f"__greenswap_{uuid.uuid4().hex}__"
        deadline = time.monotonic() + timeout
        try:
            self._sh.send(f"sh -c {shlex.quote(command)} 2>&1 </dev/null;"
                          f" printf '\\n%s %d\\n' {marker} $?\n")
            out = self._sh.read_until(f"\n{marker} ".encode(), deadline)
            rc = int(self._sh.read_until(b"\n", deadline))
        except TimeoutError:
            raise RemoteError(f"a command on {self.name} did not finish in time",
                              host=self.name) from None
        except (paramiko.SSHException, OSError, EOFError) as exc:
            self.close()
            raise RemoteError(f"ssh to {self.name} dropped while running '{command}': {exc}",
                              host=self.name) from None
        return CommandResult(rc, out.decode(errors="replace"), "")

    def close(self) -> None:
        """Ends the remote shell and its SSH connection; the next command opens both."""
        self._sh.close()
        self.shell.close()
