import stat

from orchestrator.lab import keys
from orchestrator.lab import state as lab_state
from orchestrator.lab.state import HostRecord, LabState


def rec(name, role="app", color="blue", index=0):
    return HostRecord(name, role, color, index, f"198.18.0.{10 + index}", "ssh-ed25519 AAAA x")


def test_names_and_indexes_fill_gaps():
    st = LabState(hosts={"blue-app-1": rec("blue-app-1", index=0),
                         "blue-app-3": rec("blue-app-3", index=2)})
    assert st.next_name("app", "blue") == "blue-app-2"
    assert st.next_name("lb", None) == "lb-1"
    assert st.free_index() == 1


def test_state_round_trips_and_is_private(tmp_path):
    path = tmp_path / "state.json"
    st = LabState(image="abc", repo_pid=42, hosts={"lb-1": rec("lb-1", "lb", None, 3)})
    lab_state.save(path, st)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert lab_state.load(path) == st
    assert lab_state.load(tmp_path / "missing.json") is None


def test_keypairs_are_distinct_openssh_ed25519():
    a, b = keys.new_keypair("a"), keys.new_keypair("b")
    assert a.public_line.startswith("ssh-ed25519 ")
    assert a.public_line != b.public_line
    assert a.private_openssh.startswith(b"-----BEGIN OPENSSH PRIVATE KEY-----")


def test_client_key_is_0600_and_stable(tmp_path):
    key = tmp_path / "keys" / "id_ed25519"
    first = keys.ensure_client_key(key)
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    assert keys.ensure_client_key(key) == first


def test_known_hosts_pins_every_address():
    text = keys.known_hosts_text({"198.18.0.11": "ssh-ed25519 BBB root@b",
                                  "198.18.0.10": "ssh-ed25519 AAA root@a"})
    assert text == "198.18.0.10 ssh-ed25519 AAA\n198.18.0.11 ssh-ed25519 BBB\n"
