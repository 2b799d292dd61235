"""The lab as a whole: `up`, `status`, `down`, and creating or destroying hosts.

`up` converges: it creates what is missing and restarts what died, so running it
twice changes nothing the second time. `down` removes everything `up` created,
recorded or not-quite-recorded (a crash between steps), and nothing else.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
import signal
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from orchestrator import processes
from orchestrator.errors import GreenswapError, InputError, LabError, PrivilegeError
from orchestrator.fsutil import write_atomic
from orchestrator.lab import aptrepo, host, image, keys, network, packages
from orchestrator.lab import state as lab_state
from orchestrator.lab.settings import LabSettings
from orchestrator.lab.state import HostRecord, LabState
from orchestrator.providers import inventory
from orchestrator.providers.base import check_count, check_role

# argv[0] of what the lab starts; an operator's `tail -f .../repo.log` is never swept.
LAB_PROGRAMS = ("unshare", "nsenter", "python", "python3")
DEFAULT_TOPOLOGY = (("app", 2, "blue"), ("db", 1, "blue"), ("lb", 1, None))
Say = Callable[[str], None]


@dataclass(frozen=True)
class HostStatus:
    record: HostRecord
    running: bool


@dataclass(frozen=True)
class LabStatus:
    exists: bool
    bridge_up: bool
    repo_serving: bool
    hosts: list[HostStatus]


class Lab:
    def __init__(self, settings: LabSettings, say: Say = lambda _m: None) -> None:
        self.settings = settings
        self.say = say
        d = settings.state_dir
        self.state_path = d / "state.json"
        self.key_path = d / "keys" / "id_ed25519"
        self.known_hosts = d / "known_hosts"
        self.repo_dir = d / "repo"

    # -- the three verbs -------------------------------------------------------------

    def up(self, topology: Iterable[tuple[str, int, str | None]] = DEFAULT_TOPOLOGY) -> list[str]:
        """Bring the lab to `topology`; return what changed (empty: it was already up)."""
        _require_root()
        changes: list[str] = []
        network.check_no_overlap(self.settings.subnet, self.settings.bridge)
        with self._locked() as state:
            self.settings.save()
            keys.ensure_client_key(self.key_path)
            # The bridge first: until it exists, a lab address would route off the machine.
            if not network.link_exists(self.settings.bridge):
                changes.append(f"bridge {self.settings.bridge}")
            network.ensure_bridge(
                self.settings.bridge, self.settings.gateway, self.settings.subnet.prefixlen
            )
            changes += self._ensure_repo(state)
            state.image = self._ensure_image().name
            changes += self._restart_dead(state)
            missing = []
            for role, count, color in topology:
                have = [h for h in state.hosts.values() if (h.role, h.color) == (role, color)]
                missing += [(role, color)] * (count - len(have))
            if missing:
                changes += [f"host {h.name}" for h in self._create(state, missing)]
        return changes

    def status(self) -> LabStatus:
        st = self._read_state()
        if st is None:
            return LabStatus(False, False, False, [])
        hosts = [
            HostStatus(rec, host.is_running(rec.pid, self._dirs(rec.name)))
            for rec in sorted(st.hosts.values(), key=lambda r: r.index)
        ]
        return LabStatus(
            True, network.link_exists(self.settings.bridge),
            aptrepo.server_running(self.repo_dir, st.repo_pid), hosts,
        )

    def down(self) -> list[str]:
        """Remove every host, the bridge, the repo server and the state. Idempotent."""
        _require_root()
        removed: list[str] = []
        if not self.settings.state_dir.exists() and not network.link_exists(self.settings.bridge):
            return removed
        with self._locked() as state:
            for rec in list(state.hosts.values()):
                self._destroy(state, rec)
                removed.append(f"host {rec.name}")
            if processes.stop_pid(state.repo_pid or 0, str(self.repo_dir)):
                removed.append("apt repository server")
            removed += self._sweep_unrecorded()
            if network.link_exists(self.settings.bridge):
                network.remove_bridge(self.settings.bridge)
                removed.append(f"bridge {self.settings.bridge}")
        self.settings.inventory_path.unlink(missing_ok=True)
        _remove_tree(self.settings.state_dir)
        return removed

    # -- the provider API ------------------------------------------------------------

    def create_hosts(self, role: str, count: int, color: str | None = "green") -> list[HostRecord]:
        check_role(role, color)
        check_count(count)
        _require_root()
        with self._locked() as state:
            if not state.image:
                raise LabError(f"lab {self.settings.name} is not up", "run 'greenswap lab up'")
            return self._create(state, [(role, color)] * count)

    def destroy_hosts(self, names: Iterable[str]) -> None:
        names = list(names)
        _require_root()
        with self._locked() as state:
            unknown = [n for n in names if n not in state.hosts]
            if unknown:
                raise InputError(f"hosts: no lab host named {', '.join(unknown)}")
            try:
                for name in names:
                    self._destroy(state, state.hosts[name])
            finally:
                self._write_access_files(state)

    def records(self) -> list[HostRecord]:
        st = self._read_state()
        return sorted(st.hosts.values(), key=lambda r: r.index) if st else []

    def publish(self, specs: list[packages.DebSpec]) -> None:
        """Publish packages (for example a newer system update) into the lab's mirror."""
        _require_root()
        with self._locked():
            aptrepo.publish(self.repo_dir, specs)

    # -- internals -----------------------------------------------------------------------

    @contextmanager
    def _locked(self) -> Iterator[LabState]:
        d = self.settings.state_dir
        d.mkdir(parents=True, exist_ok=True, mode=0o700)
        with open(d / "lock", "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            state = lab_state.load(self.state_path) or LabState()
            try:
                yield state
            finally:
                lab_state.save(self.state_path, state)

    def _read_state(self) -> LabState | None:
        try:
            return lab_state.load(self.state_path)
        except PermissionError:
            raise PrivilegeError(f"cannot read {self.state_path}") from None

    def _dirs(self, name: str) -> host.HostDirs:
        return host.HostDirs(self.settings.state_dir / "hosts" / name)

    def _ensure_repo(self, state: LabState) -> list[str]:
        changes = []
        if not (self.repo_dir / "Release").exists():
            self.say("building the lab's apt repository (sample app 1.0, 2.0; system update)")
            aptrepo.publish(self.repo_dir, packages.lab_packages())
            changes.append("apt repository")
        if not aptrepo.server_running(self.repo_dir, state.repo_pid):
            network.check_on_bridge(str(self.settings.gateway), self.settings.bridge)
            state.repo_pid = aptrepo.serve(
                self.repo_dir, str(self.settings.gateway), self.settings.repo_port,
                self.settings.state_dir / "repo.log",
            )
            changes.append(f"apt repository server on {self.settings.repo_url}")
        return changes

    def _ensure_image(self) -> Path:
        name, version = image.BASELINE_PACKAGE
        baseline = self.repo_dir / "pool" / f"{name}_{version}_all.deb"
        return image.ensure_image(self.settings.cache_dir, baseline, self.say)

    def _lower(self, rec: HostRecord) -> Path:
        # A host keeps the image it was made from: its upper layer only fits that one.
        return self.settings.cache_dir / "images" / str(rec.image)

    def _create(self, state: LabState, wanted: list[tuple[str, str | None]]) -> list[HostRecord]:
        client_pub = keys.ensure_client_key(self.key_path)
        plan = self._plan(state, wanted)  # raises before anything is made
        made = []
        try:
            for rec, pair in plan:
                state.hosts[rec.name] = rec
                made.append(rec)
                self._seed(rec, pair, client_pub)
            self.say(f"booting {', '.join(r.name for r in made)}")
            self._boot(state, made)
        except BaseException:
            # A host that failed to boot is never left half-made; the first error wins.
            for rec in made:
                with contextlib.suppress(GreenswapError):
                    self._destroy(state, rec)
            raise
        finally:
            self._write_access_files(state)
        return made

    def _plan(self, state: LabState, wanted: list[tuple[str, str | None]]) -> list:
        names: set[str] = set()
        indexes: set[int] = set()
        plan = []
        for role, color in wanted:
            name = state.next_name(role, color, names)
            index = state.free_index(indexes)
            address = str(self.settings.address(index))
            names.add(name)
            indexes.add(index)
            pair = keys.new_keypair(f"root@{name}")
            plan.append((HostRecord(name, role, color, index, address, pair.public_line,
                                    image=state.image), pair))
        return plan

    def _seed(self, rec: HostRecord, pair: keys.KeyPair, client_pub: str) -> None:
        hosts_file = f"127.0.0.1 localhost\n{rec.address} {rec.name}\n"
        files = {
            "etc/hostname": (f"{rec.name}\n".encode(), 0o644),
            "etc/hosts": (hosts_file.encode(), 0o644),
            # Nothing answers DNS in the lab: fail at once instead of waiting.
            "etc/resolv.conf": (b"nameserver 127.0.0.1\noptions timeout:1 attempts:1\n", 0o644),
            "etc/ssh/ssh_host_ed25519_key": (pair.private_openssh, 0o600),
            "etc/ssh/ssh_host_ed25519_key.pub": (f"{pair.public_line}\n".encode(), 0o644),
            "root/.ssh/authorized_keys": (f"{client_pub}\n".encode(), 0o600),
            "etc/apt/sources.list": (aptrepo.sources_line(self.settings.repo_url).encode(), 0o644),
        }
        dirs = self._dirs(rec.name)
        dirs.upper.mkdir(parents=True, exist_ok=True)
        host.write_files(dirs, self._lower(rec), files)

    def _boot(self, state: LabState, recs: list[HostRecord]) -> None:
        # Start every host first, then wait: boots overlap instead of queueing.
        for rec in recs:
            network.ensure_host_link(
                self.settings.netns(rec.name), self.settings.veth(rec.index),
                self.settings.bridge, self.settings.address(rec.index),
                self.settings.subnet.prefixlen,
            )
            network.check_on_bridge(rec.address, self.settings.bridge)
            rec.pid = host.start(
                self._dirs(rec.name), self._lower(rec), self.settings.netns(rec.name), rec.name
            )
        for rec in recs:
            assert rec.pid is not None  # started just above
            host.wait_ready(rec.pid, self._dirs(rec.name), rec.address, rec.name)

    def _restart_dead(self, state: LabState) -> list[str]:
        dead = [r for r in state.hosts.values() if not host.is_running(r.pid, self._dirs(r.name))]
        if dead:
            self.say(f"restarting {', '.join(r.name for r in dead)}")
            self._boot(state, dead)
            self._write_access_files(state)
        return [f"restarted {r.name}" for r in dead]

    def _destroy(self, state: LabState, rec: HostRecord) -> None:
        dirs = self._dirs(rec.name)
        host.stop(rec.pid, dirs)
        network.remove_netns(self.settings.netns(rec.name))
        network.remove_link(self.settings.veth(rec.index))
        _remove_tree(dirs.base)
        del state.hosts[rec.name]

    def _sweep_unrecorded(self) -> list[str]:
        """Remove what a crash left between creating a thing and recording it: the lab's
        own programs (host unshare, repo server) whose command line names this lab's
        state directory, and namespaces and veths named with this lab's prefix."""
        removed = []
        token = f"{self.settings.state_dir}/"
        for pid in processes.find(token, programs=LAB_PROGRAMS):
            if processes.stop_pid(pid, token, sig=signal.SIGKILL):
                removed.append(f"stray process {pid}")
        prefix = f"{self.settings.name}-"
        for ns in network.netns_named(prefix):
            network.remove_netns(ns)
            removed.append(f"stray netns {ns}")
        for veth in network.links_named(f"{prefix}v"):
            network.remove_link(veth)
            removed.append(f"stray link {veth}")
        return removed

    def _write_access_files(self, state: LabState) -> None:
        recs = list(state.hosts.values())
        write_atomic(self.known_hosts, keys.known_hosts_text({r.address: r.host_key for r in recs}))
        inventory.write(
            self.settings.inventory_path,
            inventory.render(recs, self.key_path, self.known_hosts, self.settings.repo_url),
        )


def _remove_tree(path: Path) -> None:
    try:
        shutil.rmtree(path)
    except FileNotFoundError:
        pass
    except OSError as exc:
        raise LabError(f"could not remove {path}: {exc}", f"remove {path} by hand") from None


def _require_root() -> None:
    if os.geteuid() != 0:
        raise PrivilegeError(
            "the lab needs root: it creates network namespaces, a bridge and overlay mounts"
        )
