"""One lab host: an overlay root, a boot into fresh namespaces, and its sshd.

A host's only disk is its overlay upper directory. Everything is mounted inside
the host's private mount namespace, so when its PID namespace dies (SIGKILL to
the recorded unshare process) every mount goes with it: nothing leaks into the
machine's mount table, even after a crash.
"""

from __future__ import annotations

import shlex
import signal
import subprocess
from dataclasses import dataclass
from pathlib import Path

from orchestrator.errors import HostBootError
from orchestrator.processes import alive, children, is_ours, stop_pid, wait_for_port, wait_gone

DEVICES = ("null", "zero", "full", "random", "urandom", "tty")
SSH_BOOT_DEADLINE_S = 15.0


@dataclass(frozen=True)
class HostDirs:
    base: Path

    @property
    def upper(self) -> Path:
        return self.base / "upper"

    @property
    def work(self) -> Path:
        return self.base / "work"

    @property
    def root(self) -> Path:
        return self.base / "root"

    @property
    def log(self) -> Path:
        return self.base / "boot.log"


def write_files(dirs: HostDirs, lower: Path, files: dict[str, tuple[bytes, int]]) -> None:
    """Seed the upper layer before boot. Parent dirs copy the image's modes (overlay
    shows the upper dir's mode, so /root must stay 0700)."""
    for rel, (data, mode) in files.items():
        parts = Path(rel).parts
        for depth in range(1, len(parts)):
            sub = Path(*parts[:depth])
            target = dirs.upper / sub
            if not target.is_dir():
                image_dir = lower / sub
                target.mkdir()
                target.chmod(image_dir.stat().st_mode & 0o7777 if image_dir.is_dir() else 0o755)
        path = dirs.upper / rel
        path.write_bytes(data)
        path.chmod(mode)


def boot_script(dirs: HostDirs, lower: Path, hostname: str) -> str:
    r = shlex.quote(str(dirs.root))
    overlay = f"lowerdir={lower},upperdir={dirs.upper},workdir={dirs.work}"
    lines = [
        "set -e",
        f"mount -t overlay overlay -o {shlex.quote(overlay)} {r}",
        f"mount -t proc proc {r}/proc",
        f"mount -t sysfs -o ro,nosuid,nodev,noexec sysfs {r}/sys",
        # A private /dev with only harmless nodes: hosts never see the machine's disks.
        f"mount -t tmpfs -o mode=0755,nosuid,size=1m dev {r}/dev",
        *(f": > {r}/dev/{d}; mount --bind /dev/{d} {r}/dev/{d}" for d in DEVICES),
        f"mkdir -p {r}/dev/pts {r}/dev/shm",
        f"mount -t devpts -o newinstance,ptmxmode=0666,mode=0620 devpts {r}/dev/pts",
        f"ln -s pts/ptmx {r}/dev/ptmx; ln -s /proc/self/fd {r}/dev/fd",
        f"mount -t tmpfs -o mode=1777,nosuid,nodev shm {r}/dev/shm",
        # /run is fresh at every boot, as on a real machine.
        f"mount -t tmpfs -o mode=0755,nosuid,nodev run {r}/run",
        f"mkdir -p {r}/run/sshd {r}/run/lock",
        f"hostname {shlex.quote(hostname)}",
        f"exec chroot {r} /usr/bin/tini -g -- /usr/sbin/sshd -D -e",
    ]
    return "\n".join(lines)


def start(dirs: HostDirs, lower: Path, netns: str, hostname: str) -> int:
    """Boot the host; return the PID of its unshare process (the handle to kill)."""
    for d in (dirs.upper, dirs.work, dirs.root):
        d.mkdir(parents=True, exist_ok=True)
    with open(dirs.log, "ab") as log:
        proc = subprocess.Popen(
            ["nsenter", f"--net=/run/netns/{netns}", "--",
             # PID 1 of a namespace ignores SIGTERM, so the whole tree dies by SIGKILL
             # when unshare does.
             "unshare", "--mount", "--pid", "--uts", "--fork", "--kill-child=SIGKILL",
             "--propagation", "private", "--",
             "/bin/sh", "-c", boot_script(dirs, lower, hostname)],
            stdout=log, stderr=log, stdin=subprocess.DEVNULL, start_new_session=True,
        )
    return proc.pid


def wait_ready(pid: int, dirs: HostDirs, address: str, name: str) -> None:
    # Just after exec the command line can read empty, so only ask whether it lives.
    if not wait_for_port(address, 22, SSH_BOOT_DEADLINE_S, alive=lambda: alive(pid)):
        tail = dirs.log.read_text(errors="replace").strip().splitlines()[-1:] or ["(empty)"]
        stop(pid, dirs)
        raise HostBootError(
            f"host {name} did not open sshd on {address}:22 within {SSH_BOOT_DEADLINE_S:g}s; "
            f"last boot log line: {tail[0]}"
        )


def is_running(pid: int | None, dirs: HostDirs) -> bool:
    return pid is not None and pid > 0 and is_ours(pid, str(dirs.root))


def stop(pid: int | None, dirs: HostDirs) -> None:
    """Kill the host and wait until its PID 1 is gone: the kernel has then killed
    every process in it and dropped its mounts, so its files are free to remove."""
    if not pid:
        return
    init = children(pid)
    if stop_pid(pid, str(dirs.root), sig=signal.SIGKILL) and not wait_gone(init):
        raise HostBootError(f"host in {dirs.base} did not die within 10s of SIGKILL")
