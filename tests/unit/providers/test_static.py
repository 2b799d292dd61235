"""The static provider's logic, without machines: reading the operator's inventory,
refusing what it cannot trust, and claiming released hosts back. The real thing
(playbooks on lab hosts, two rollouts in a row) is tests/integration/test_static_fleet.py."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from orchestrator.errors import ConfigError, InputError
from orchestrator.providers.static import StaticProvider, read_pools

KEY_LINE = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl"

POOLS = {"blue_app": {"web-1": "198.18.50.11", "web-2": "198.18.50.12"},
         "blue_db": {"pg-1": "198.18.50.21"},
         "green_app": {"web-3": "198.18.50.13", "web-4": "198.18.50.14"},
         "green_db": {"pg-2": "198.18.50.22"},
         "lb": {"lb-1": "198.18.50.2"}}


def write_fleet(tmp_path: Path, pools=POOLS, pinned=None) -> tuple[Path, Path]:
    # Nested as operators write them: role groups under a site group.
    doc = {"all": {"children": {"site": {"children": {
        group: {"hosts": {name: {"ansible_host": addr} for name, addr in hosts.items()}}
        for group, hosts in pools.items()}}}}}
    inventory = tmp_path / "hosts.yml"
    inventory.write_text(yaml.safe_dump(doc))
    addresses = pinned if pinned is not None else [
        a for hosts in pools.values() for a in hosts.values()]
    known = tmp_path / "known_hosts"
    known.write_text("".join(f"{a} {KEY_LINE}\n" for a in addresses))
    return inventory, known


def provider(tmp_path: Path, **kw) -> StaticProvider:
    inventory, known = write_fleet(tmp_path, **kw)
    return StaticProvider(inventory, tmp_path / "key", known, tmp_path / "state")


def test_pools_are_read_through_nested_groups(tmp_path):
    hosts = read_pools(write_fleet(tmp_path)[0])
    by_name = {h.name: (h.role, h.color, h.address) for h in hosts}
    assert by_name["web-3"] == ("app", "green", "198.18.50.13")
    assert by_name["pg-1"] == ("db", "blue", "198.18.50.21")
    assert by_name["lb-1"] == ("lb", None, "198.18.50.2")
    assert len(hosts) == 7


@pytest.mark.parametrize("pools, words", [
    ({k: v for k, v in POOLS.items() if k != "green_db"}, "no group green_db"),
    ({**POOLS, "green_app": {"web-1": "198.18.50.11"}}, "in two pool groups"),
    ({**POOLS, "lb": {"lb-1": "lb.example"}}, "is not an IP address"),
])
def test_an_inventory_greenswap_cannot_use_is_refused(tmp_path, pools, words):
    with pytest.raises(ConfigError) as err:
        read_pools(write_fleet(tmp_path, pools=pools)[0])
    assert err.value.field == "provider.inventory" and words in err.value.message


def test_an_ini_inventory_is_refused_with_the_conversion_command(tmp_path):
    path = tmp_path / "hosts"
    path.write_text("[blue_app]\nweb-1 ansible_host=198.18.50.11\n: x\n")
    with pytest.raises(ConfigError) as err:
        read_pools(path)
    assert "ansible-inventory" in (err.value.hint or "")


def test_a_host_without_a_pinned_key_is_refused(tmp_path):
    with pytest.raises(ConfigError) as err:
        provider(tmp_path, pinned=["198.18.50.11"])
    assert err.value.field == "provider.known_hosts"
    assert "no pinned ssh-ed25519 key" in err.value.message


def test_only_the_inventorys_addresses_are_reachable(tmp_path):
    p = provider(tmp_path)
    p.check_route("198.18.50.22")
    with pytest.raises(InputError):
        p.check_route("198.18.50.99")


def test_released_hosts_leave_the_fleet_and_are_claimed_back(tmp_path):
    p = provider(tmp_path)
    # As retire leaves it: blue's pool released (destroy_hosts runs release.yml first).
    p._write_released({"web-1", "web-2", "pg-1"})
    assert {h.name for h in p.hosts()} == {"web-3", "web-4", "pg-2", "lb-1"}
    assert "web-1" not in p.inventory().read_text()
    assert (tmp_path / "state" / "static-released.json").stat().st_mode & 0o777 == 0o600

    claimed = p.create_hosts("app", 2, "blue")
    assert sorted(h.name for h in claimed) == ["web-1", "web-2"]
    assert json.loads((tmp_path / "state" / "static-released.json").read_text()) == {
        "released": ["pg-1"]}
    with pytest.raises(InputError) as err:
        p.create_hosts("db", 2, "blue")
    assert "blue_db has 1 released host(s)" in err.value.message
    assert {h.name for h in p.hosts()} >= {"web-1", "web-2"}  # nothing claimed by the refusal


def test_destroying_a_host_not_in_service_is_refused(tmp_path):
    p = provider(tmp_path)
    with pytest.raises(InputError):
        p.destroy_hosts(["web-9"])
