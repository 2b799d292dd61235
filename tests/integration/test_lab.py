"""The lab's hosts are real: reachable over pinned SSH, idempotent, and removable."""

from __future__ import annotations

import os
import signal
import subprocess
import sys

import pytest

from orchestrator.errors import AddressConflictError, HostKeyMismatchError, InputError
from orchestrator.lab import keys
from orchestrator.lab import state as lab_state
from orchestrator.lab.lab import Lab
from orchestrator.lab.provider import LabProvider
from orchestrator.remote.ssh import SSHShell
from tests.conftest import leftovers, make_settings

pytestmark = pytest.mark.lab


def test_every_host_answers_over_pinned_ssh_in_its_own_namespaces(lab):
    for rec in lab.records():
        with SSHShell(rec.name, rec.address, lab.key_path, lab.known_hosts) as sh:
            result = sh.run("hostname; cat /proc/1/comm; ip -4 -o addr show eth0; ip route")
        hostname, init, addr, *routes = result.stdout.splitlines()
        assert hostname == rec.name
        assert init == "tini"  # its own PID namespace
        assert f"inet {rec.address}/24" in addr
        assert not any(r.startswith("default") for r in routes)  # no way out of the lab


def test_a_changed_host_key_is_refused_by_paramiko(lab, tmp_path):
    rec = lab.records()[0]
    impostor = tmp_path / "known_hosts"
    impostor.write_text(keys.known_hosts_text({rec.address: keys.new_keypair("x").public_line}))
    with pytest.raises(HostKeyMismatchError, match="differs from the one pinned"):
        SSHShell(rec.name, rec.address, lab.key_path, impostor).connect()


def test_an_unpinned_host_is_refused(lab, tmp_path):
    rec = lab.records()[0]
    empty = tmp_path / "known_hosts"
    empty.write_text("")
    with pytest.raises(HostKeyMismatchError, match="no pinned key"):
        SSHShell(rec.name, rec.address, lab.key_path, empty).connect()


def test_private_files_are_0600(lab):
    for path in (lab.key_path, lab.state_path):
        assert oct(path.stat().st_mode & 0o777) == "0o600", path


def test_up_twice_changes_nothing_the_second_time(lab):
    before = {r.name: (r.pid, r.host_key) for r in lab.records()}
    assert lab.up() == []
    assert {r.name: (r.pid, r.host_key) for r in lab.records()} == before


def test_provider_creates_and_destroys_hosts_by_role(lab):
    provider = LabProvider(lab)
    [host] = provider.create_hosts("app", 1, "green")
    assert host.name.startswith("green-app-")
    assert host.name in provider.inventory().read_text()
    with SSHShell(host.name, host.address, lab.key_path, lab.known_hosts) as sh:
        assert sh.run("hostname").stdout.strip() == host.name
    provider.destroy_hosts([host.name])
    assert host.name not in provider.inventory().read_text()
    assert host.name not in [h.name for h in provider.hosts()]
    assert not os.path.exists(f"/run/netns/{lab.settings.netns(host.name)}")
    with pytest.raises(InputError, match="no lab host named nope"):
        provider.destroy_hosts(["nope"])


def test_down_after_sigkill_leaves_nothing(tmp_path):
    settings = make_settings(tmp_path, "gsk", "198.18.101.0/24")
    crashed = Lab(settings)
    try:
        crashed.up([("app", 2, "blue")])
        st = lab_state.load(crashed.state_path)
        for pid in [st.repo_pid, *(h.pid for h in st.hosts.values())]:
            os.kill(pid, signal.SIGKILL)
    finally:
        removed = crashed.down()
    assert "bridge gsk-br" in removed
    assert leftovers(settings) == []


def test_a_subnet_overlapping_an_interface_is_refused_and_nothing_is_made(tmp_path):
    dummy = "gsconflict0"
    subprocess.run(["ip", "link", "add", dummy, "type", "bridge"], check=True)
    try:
        subprocess.run(["ip", "addr", "add", "198.18.102.1/24", "dev", dummy], check=True)
        settings = make_settings(tmp_path, "gso", "198.18.102.0/24")
        with pytest.raises(AddressConflictError, match=f"overlaps 198.18.102.0/24 on .*{dummy}"):
            Lab(settings).up()
        assert leftovers(settings) == []
    finally:
        subprocess.run(["ip", "link", "del", dummy], check=True)


def test_lab_up_without_root_is_one_line_and_exit_4(tmp_path):
    # A real unprivileged user, not a patched geteuid.
    proc = subprocess.run(
        ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups",
         sys.executable, "-m", "orchestrator.cli", "lab", "up", "--name", "gsu"],
        capture_output=True, text=True, timeout=60, env={**os.environ, "HOME": "/nonexistent"},
        cwd="/",
    )
    lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
    assert proc.returncode == 4, proc.stderr
    assert len(lines) == 1 and lines[0].startswith("error: the lab needs root")
