import pytest

from orchestrator.errors import InputError, LoadBalancerError
from orchestrator.lb.haproxy import BACKEND_MAP, HAProxyLB
from orchestrator.remote.base import CommandResult, FakeShell


def lb_answering(stdout: str, rc: int = 0, stderr: str = "") -> tuple[HAProxyLB, FakeShell]:
    shell = FakeShell({"": CommandResult(rc, stdout, stderr)}, name="lb-1")
    return HAProxyLB(shell), shell


def test_live_color_reads_the_map():
    lb, _ = lb_answering("0x55d1 active be_green\n")
    assert lb.live_color() == "green"


def test_flip_sets_reads_back_and_persists_in_one_round_trip():
    lb, shell = lb_answering("\n0x55d1 active be_green\n")
    lb.flip("green")
    assert len(shell.calls) == 1
    command = shell.calls[0][0]
    assert f"set map {BACKEND_MAP} active be_green; show map {BACKEND_MAP}" in command
    assert f"mv {BACKEND_MAP}.tmp {BACKEND_MAP}" in command  # written to disk too


def test_flip_that_did_not_stick_is_an_error():
    lb, _ = lb_answering("\n0x55d1 active be_blue\n")
    with pytest.raises(LoadBalancerError, match="did not keep active=be_green"):
        lb.flip("green")


def test_refusal_and_missing_socket_are_errors():
    lb, _ = lb_answering("Unknown command. Please enter one of the following commands only")
    with pytest.raises(LoadBalancerError, match="refused"):
        lb.live_color()
    lb, _ = lb_answering("", rc=1)
    with pytest.raises(LoadBalancerError, match="no admin socket"):
        lb.hold()


def test_unknown_colour_is_bad_input_and_sends_nothing():
    lb, shell = lb_answering("")
    with pytest.raises(InputError):
        lb.flip("purple")
    assert shell.calls == []


STATS = """# pxname,svname,qcur,qmax,scur,smax,status,hrsp_2xx,hrsp_5xx,rtime
be_green,green-app-1,0,0,3,5,DOWN,10,0,4
be_green,green-app-2,0,0,2,5,UP,12,1,6
be_green,green-app-3,1,1,1,5,UP 1/2,3,0,5
be_green,BACKEND,1,1,6,9,UP,25,1,5
"""


def test_in_flight_counts_servers_the_checks_keep_and_the_backend_queue():
    lb, shell = lb_answering(STATS)
    # 2 + (1 + 1) on the servers still up, 1 waiting in the backend's queue; the 3 on
    # the server the checks took down are not waited for.
    assert lb.inflight("green") == 5
    assert "show stat be_green 6 -1" in shell.calls[0][0]
    assert lb.responses("green") == (26, 1, 5)  # every answer, 5xx among them
    assert lb.wait_healthy("green", 2, deadline_s=0) == {
        "green-app-1": "DOWN", "green-app-2": "UP", "green-app-3": "UP 1/2"}
