"""Real playbooks on real hosts: patching from the lab mirror, the app behind HAProxy,
and an atomic backend flip through the runtime API."""

from __future__ import annotations

import json
import threading
import time
import urllib.request

import pytest

from orchestrator.lab import keys
from orchestrator.lab.packages import APP, BASE
from orchestrator.remote.ansible import run_playbook

pytestmark = pytest.mark.lab


# Never through a proxy from the environment: lab traffic stays on the lab bridge.
OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def get(url: str) -> tuple[int, dict, dict]:
    with OPENER.open(url, timeout=5) as resp:
        return resp.status, dict(resp.headers), json.loads(resp.read())


def post(url: str, payload: dict) -> dict:
    req = urllib.request.Request(url, data=json.dumps(payload).encode(), method="POST",
                                 headers={"Content-Type": "application/json"})
    with OPENER.open(req, timeout=5) as resp:
        assert resp.status == 201
        return json.loads(resp.read())


def address(env, name: str) -> str:
    return next(r.address for r in env.lab.records() if r.name == name)


def test_patch_upgrades_one_host_and_nowhere_else(blue):
    target = "blue-app-2"
    result = blue.patch(target)
    assert result.facts[target]["greenswap_upgraded"] is True
    assert result.facts[target]["greenswap_reboot_required"] is True
    assert set(result.facts) == {target}
    for rec in blue.lab.records():
        versions = blue.package_versions(rec.name)
        assert versions[BASE] == ("1.1" if rec.name == target else "1.0"), rec.name
        if rec.role == "app":
            assert versions[APP] == "1.0", "patching must never move the app"


def test_blue_serves_v1_through_the_lb_and_keeps_writes(blue):
    lb = address(blue, "lb-1")
    status, headers, health = get(f"http://{lb}/health")
    assert (status, health["version"], health["schema"], health["db"]) == (200, "1.0", 1, True)
    account = {"name": "Ada King Lovelace", "email": "ada@example.org", "balance": "12.30",
               "street": "1 St James's Square", "city": "London"}
    new = post(f"http://{lb}/accounts", account)
    _, _, read = get(f"http://{lb}/accounts/{new['id']}")
    assert read == {"id": new["id"], **account}


def test_runtime_flip_changes_the_backend_without_a_reload(blue):
    provider_hosts = blue.lab.create_hosts("app", 1, "green") + blue.lab.create_hosts("db", 1)
    try:
        blue.deploy("green", "2.0")  # green DB on schema v2, app v2, LB learns be_green
        lb_addr = address(blue, "lb-1")
        lb = blue.lb()
        with blue.shell("lb-1") as sh:
            pid_before = sh.run("cat /run/haproxy.pid").stdout.strip()
        assert lb.live_color() == "blue"
        assert get(f"http://{lb_addr}/health")[2]["version"] == "1.0"

        lb.flip("green")
        assert lb.live_color() == "green"
        assert {get(f"http://{lb_addr}/health")[2]["version"] for _ in range(6)} == {"2.0"}
        with blue.shell("lb-1") as sh:
            assert sh.run("cat /run/haproxy.pid").stdout.strip() == pid_before  # no reload
            on_disk = sh.run("cat /etc/haproxy/greenswap-backend.map").stdout
        assert "active be_green" in on_disk  # survives a reload

        lb.flip("blue")
        assert get(f"http://{lb_addr}/health")[2]["version"] == "1.0"
    finally:
        blue.lab.destroy_hosts([h.name for h in provider_hosts])
        blue.playbook("haproxy.yml", target="lb")


def test_admin_socket_is_0600(blue):
    with blue.shell("lb-1") as sh:
        assert sh.run("stat -c %a /run/haproxy/admin.sock").stdout.strip() == "600"


def test_hold_makes_requests_wait_and_never_reaches_disk(blue):
    lb_addr = address(blue, "lb-1")
    lb = blue.lb()
    result: dict = {}

    def request() -> None:
        started = time.monotonic()
        result["status"] = get(f"http://{lb_addr}/health")[0]
        result["seconds"] = time.monotonic() - started

    lb.hold()
    try:
        with blue.shell("lb-1") as sh:
            on_disk = sh.run("cat /etc/haproxy/greenswap-flags.map").stdout
        waiter = threading.Thread(target=request)
        waiter.start()
        time.sleep(0.4)
        assert waiter.is_alive(), "a held request must wait"
    finally:
        lb.release()
    waiter.join(timeout=5)
    assert result["status"] == 200
    assert 0.35 <= result["seconds"] < 2.0
    assert "hold off" in on_disk  # a restart during a hold never holds forever


def test_a_session_opened_before_a_reload_holds_on_the_new_process(blue):
    lb = blue.lb()
    try:
        old_pid = _pid_of(lb.command("show info"))  # the kept connection is now open
        with blue.shell("lb-1") as sh:
            # As haproxy.yml reloads: the new process takes the sockets over.
            assert sh.run("cd /etc/haproxy && haproxy -D -f haproxy.cfg -p /run/haproxy.pid"
                          " -x /run/haproxy/admin.sock -sf $(cat /run/haproxy.pid)").ok
            new_pid = sh.run("cat /run/haproxy.pid").stdout.strip()
            assert new_pid and new_pid != old_pid
            lb.hold()
            try:
                # A new connection reaches the new process: it holds.
                on_new = sh.run("echo 'show map /etc/haproxy/greenswap-flags.map' | socat"
                                " -t 2 stdio UNIX-CONNECT:/run/haproxy/admin.sock").stdout
                assert _pid_of(lb.command("show info")) == new_pid
            finally:
                lb.release()
        assert "hold on" in on_new
    finally:
        lb.close()


def _pid_of(info: str) -> str:
    return next(ln.split()[1] for ln in info.splitlines() if ln.startswith("Pid:"))


def test_no_secret_in_run_artifacts_or_inventory(blue):
    secrets = blue.secrets().values()
    state_dir = blue.lab.settings.state_dir
    paths = [p for p in (state_dir / "runs").rglob("*") if p.is_file()]
    paths.append(blue.inventory())
    assert len(paths) > 10  # the playbook runs really left artifacts to search
    for path in paths:
        data = path.read_bytes()
        for secret in secrets:
            assert secret.encode() not in data, path


def test_ansible_refuses_a_host_whose_key_changed(blue, tmp_path):
    rec = next(r for r in blue.lab.records() if r.name == "blue-app-1")
    pinned = blue.lab.known_hosts.read_text()
    other = keys.known_hosts_text({rec.address: keys.new_keypair("x").public_line})
    bad_known = tmp_path / "known_hosts"
    bad_known.write_text("".join(
        other if line.startswith(rec.address + " ") else line + "\n"
        for line in pinned.splitlines()))
    assert bad_known.read_text() != pinned
    inv = tmp_path / "inventory.yml"
    inv.write_text(blue.inventory().read_text().replace(str(blue.lab.known_hosts), str(bad_known)))
    result = run_playbook("patch.yml", inv, tmp_path / "runs", limit="blue-app-1",
                          extravars={"target": "blue-app-1"})
    assert not result.ok
    assert "blue-app-1" in result.failed_hosts
    assert "REMOTE HOST IDENTIFICATION HAS CHANGED" in result.failed_hosts["blue-app-1"]
