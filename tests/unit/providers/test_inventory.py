from pathlib import Path

import yaml

from orchestrator.lab.state import HostRecord
from orchestrator.providers import inventory


def test_groups_by_role_colour_and_both():
    hosts = [
        HostRecord("blue-app-1", "app", "blue", 0, "198.18.0.10", "k"),
        HostRecord("green-db-1", "db", "green", 1, "198.18.0.11", "k"),
        HostRecord("lb-1", "lb", None, 2, "198.18.0.12", "k"),
    ]
    doc = yaml.safe_load(
        inventory.render(hosts, Path("/k/id"), Path("/k/known_hosts"), "http://198.18.0.1:8080/")
    )
    groups = doc["all"]["children"]
    assert groups["blue_app"]["hosts"] == {"blue-app-1": {"ansible_host": "198.18.0.10"}}
    assert set(groups["green"]["hosts"]) == {"green-db-1"}
    assert set(groups["lb"]["hosts"]) == {"lb-1"}
    assert "lb_None" not in groups and "None" not in groups
    v = doc["all"]["vars"]
    assert v["ansible_python_interpreter"] == "/usr/bin/python3"
    assert "StrictHostKeyChecking=yes" in v["ansible_ssh_common_args"]
    assert "UserKnownHostsFile=/k/known_hosts" in v["ansible_ssh_common_args"]
