"""The lab's network: one bridge, and per host a netns joined to it by a veth pair.

Hosts get no default route: they can reach the bridge subnet and nothing else.
"""

from __future__ import annotations

import ipaddress
import json
import os
from pathlib import Path

from orchestrator.errors import AddressConflictError, LabError
from orchestrator.lab.local import run

NETNS_DIR = Path("/run/netns")


def interface_networks() -> list[tuple[str, ipaddress.IPv4Network]]:
    out = run(["ip", "-j", "-4", "addr", "show"]).stdout
    found = []
    for link in json.loads(out or "[]"):
        for addr in link.get("addr_info", []):
            net = ipaddress.IPv4Network(f"{addr['local']}/{addr['prefixlen']}", strict=False)
            found.append((link["ifname"], net))
    return found


def check_no_overlap(subnet: ipaddress.IPv4Network, own_bridge: str) -> None:
    for ifname, net in interface_networks():
        if ifname != own_bridge and net.overlaps(subnet):
            raise AddressConflictError(
                f"--subnet {subnet} overlaps {net} on interface {ifname}"
            )


def check_on_bridge(address: str, bridge: str) -> None:
    """Refuse to talk to a lab address unless the kernel routes it to the lab bridge:
    lab traffic must never leave the machine."""
    routes = json.loads(run(["ip", "-j", "route", "get", address]).stdout or "[]")
    dev = routes[0].get("dev") if routes else None
    if dev not in (bridge, "lo"):
        raise LabError(
            f"{address} routes via {dev or 'nowhere'}, not the lab bridge {bridge}; "
            "refusing to send lab traffic there"
        )


def link_exists(name: str) -> bool:
    return run(["ip", "link", "show", "dev", name], check=False).returncode == 0


def netns_exists(name: str) -> bool:
    return (NETNS_DIR / name).exists()


def ensure_bridge(name: str, gateway: ipaddress.IPv4Address, prefixlen: int) -> None:
    if not link_exists(name):
        run(["ip", "link", "add", name, "type", "bridge"])
        # Keep IPv6 chatter (router solicitations, DAD) off the lab bridge.
        run(["sysctl", "-q", "-w", f"net.ipv6.conf.{name}.disable_ipv6=1"], check=False)
    run(["ip", "addr", "replace", f"{gateway}/{prefixlen}", "dev", name])
    run(["ip", "link", "set", name, "up"])


def remove_bridge(name: str) -> None:
    if link_exists(name):
        run(["ip", "link", "del", name])


def ensure_host_link(
    netns: str, veth: str, bridge: str, address: ipaddress.IPv4Address, prefixlen: int
) -> None:
    """Create (or repair) the host's netns, its eth0 and the bridge side of its veth."""
    if not netns_exists(netns):
        run(["ip", "netns", "add", netns])
    if not link_exists(veth):
        run(["ip", "link", "add", veth, "type", "veth", "peer", "name", "eth0",
             "address", mac_for(address), "netns", netns])
    run(["ip", "link", "set", veth, "master", bridge, "up"])
    run(["ip", "-n", netns, "addr", "replace", f"{address}/{prefixlen}", "dev", "eth0"])
    run(["ip", "-n", netns, "link", "set", "eth0", "up"])
    run(["ip", "-n", netns, "link", "set", "lo", "up"])


def mac_for(address: ipaddress.IPv4Address) -> str:
    """A locally administered MAC derived from the address. A host re-created at the
    same address keeps its MAC, so no neighbour keeps a stale ARP entry for it."""
    return "02:00:" + ":".join(f"{b:02x}" for b in address.packed)


def remove_netns(netns: str) -> None:
    # Deleting the netns destroys eth0, and with it the veth's bridge side.
    if netns_exists(netns):
        run(["ip", "netns", "del", netns])


def remove_link(name: str) -> None:
    # A veth vanishes on its own once its peer's netns is freed, which the kernel
    # finishes asynchronously: losing that race is success, not an error.
    result = run(["ip", "link", "del", name], check=False)
    if result.returncode != 0 and link_exists(name):
        raise LabError(f"could not delete link {name}: {result.stderr.strip()}")


def netns_named(prefix: str) -> list[str]:
    if not NETNS_DIR.is_dir():
        return []
    return sorted(n for n in os.listdir(NETNS_DIR) if n.startswith(prefix))


def links_named(prefix: str) -> list[str]:
    out = run(["ip", "-j", "link", "show"]).stdout
    return sorted(link["ifname"] for link in json.loads(out or "[]")
                  if link["ifname"].startswith(prefix))
