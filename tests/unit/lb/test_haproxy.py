import time

import pytest

from orchestrator.errors import InputError, LoadBalancerError
from orchestrator.lb.fakes import FakeAdminAPI
from orchestrator.lb.haproxy import BACKEND_MAP, FLAGS_MAP, HAProxyLB
from orchestrator.lb.haproxy_api import PROMPT, AdminSession
from orchestrator.remote.base import CommandResult
from orchestrator.remote.fakes import FakeShell


def lb_answering(answers: dict[str, str], file_rc: int = 0
                 ) -> tuple[HAProxyLB, FakeAdminAPI, FakeShell]:
    api = FakeAdminAPI(answers)
    shell = FakeShell({"": CommandResult(file_rc, "", "disk full" if file_rc else "")},
                      name="lb-1")
    return HAProxyLB(api, shell), api, shell


def test_live_color_reads_the_map():
    lb, _, _ = lb_answering({"show map": "0x55d1 active be_green\n"})
    assert lb.live_color() == "green"


def test_flip_and_release_go_in_one_batch_and_only_the_flip_is_written_to_disk():
    lb, api, shell = lb_answering({
        f"show map {BACKEND_MAP}": "0x55d1 active be_green\n",
        f"show map {FLAGS_MAP}": "0x55d2 hold off\n0x55d3 hold_max_ms 2000\n"})
    written_at = []
    run = shell.run
    shell.run = lambda *a, **k: (written_at.append(time.monotonic()), run(*a, **k))[1]
    flipped_at = lb.flip("green", release=True)
    assert api.commands == [f"set map {BACKEND_MAP} active be_green",
                            f"set map {FLAGS_MAP} hold off",  # after the flip
                            f"show map {BACKEND_MAP}", f"show map {FLAGS_MAP}"]
    assert len(shell.calls) == 1 and f"mv {BACKEND_MAP}.tmp {BACKEND_MAP}" in shell.calls[0][0]
    assert flipped_at <= written_at[0]  # the pause ends before the file is written


def test_hold_is_never_written_to_disk():
    lb, api, shell = lb_answering({"show map": "0x55d2 hold on\n"})
    lb.hold()
    assert api.commands[0] == f"set map {FLAGS_MAP} hold on" and shell.calls == []


def test_flip_that_did_not_stick_is_an_error_and_is_not_written():
    lb, _, shell = lb_answering({"show map": "0x55d1 active be_blue\n"})
    with pytest.raises(LoadBalancerError, match="did not keep active=be_green"):
        lb.flip("green")
    assert shell.calls == []  # the file never leads memory


def test_flip_whose_file_cannot_be_written_says_traffic_moved():
    lb, _, _ = lb_answering({"show map": "0x55d1 active be_green\n"}, file_rc=1)
    with pytest.raises(LoadBalancerError, match="disk full") as failed:
        lb.flip("green")
    assert "traffic HAS moved" in failed.value.hint


def test_refusal_and_missing_socket_are_errors():
    lb, _, _ = lb_answering({"show map": "Unknown command, but maybe one of the following"})
    with pytest.raises(LoadBalancerError, match="refused"):
        lb.live_color()
    lb, _, _ = lb_answering({"set map": "entry not found.\n"})
    with pytest.raises(LoadBalancerError, match="refused 'set map"):
        lb.hold()


def test_unknown_colour_is_bad_input_and_sends_nothing():
    lb, api, shell = lb_answering({})
    with pytest.raises(InputError):
        lb.flip("purple")
    assert api.commands == [] and shell.calls == []


STATS = """# pxname,svname,qcur,qmax,scur,smax,status,hrsp_2xx,hrsp_5xx,rtime
be_green,green-app-1,0,0,3,5,DOWN,10,0,4
be_green,green-app-2,0,0,2,5,UP,12,1,6
be_green,green-app-3,1,1,1,5,UP 1/2,3,0,5
be_green,BACKEND,1,1,6,9,UP,25,1,5
"""


def test_in_flight_counts_servers_the_checks_keep_and_the_backend_queue():
    lb, api, _ = lb_answering({"show stat": STATS})
    # 2 + (1 + 1) on the servers still up, 1 waiting in the backend's queue; the 3 on
    # the server the checks took down are not waited for.
    assert lb.inflight("green") == 5
    assert api.commands == ["show stat be_green 6 -1"]
    assert lb.responses("green") == (26, 1, 5)  # every answer, 5xx among them
    assert lb.wait_healthy("green", 2, deadline_s=0) == {
        "green-app-1": "DOWN", "green-app-2": "UP", "green-app-3": "UP 1/2"}


class FakeCLI:
    """HAProxy's admin socket in interactive mode, as the session's Conversation sees
    it: `stopping` and `cut` make the next connection(s) misbehave."""

    name = "lb-1"

    def __init__(self, stopping: int = 0, cut: int = 0) -> None:
        self.stopping, self.cut = stopping, cut
        self.connections, self.sent = 0, []
        self.open, self.out = False, b""

    def send(self, text: str, greeting: str = "") -> bool:
        opened = not self.open
        if opened:
            self.open, self.connections, self.out = True, self.connections + 1, b""
            text = greeting + text
        for line in text.splitlines():
            self.sent.append(line)
            if line == "show info":
                answer = f"Pid: 7\nStopping: {1 if self.stopping else 0}\n"
            else:
                answer = "" if line.startswith(("set", "prompt")) else f"answer to {line}\n"
            self.out += answer.encode() + PROMPT
        return opened

    def read_until(self, separator: bytes, deadline: float) -> bytes:
        if self.cut:
            self.cut -= 1
            raise EOFError("socat ended: connection reset")
        answer, _, self.out = self.out.partition(separator)
        return answer

    def close(self) -> None:
        self.open = False
        self.stopping = max(self.stopping - 1, 0)


def test_the_session_sends_prompt_once_and_frames_each_answer():
    cli = FakeCLI()
    session = AdminSession(cli)
    assert session.ask(["show map a", "set map a k v"]) == ["answer to show map a\n", ""]
    assert session.ask(["show map b"]) == ["answer to show map b\n"]
    assert cli.connections == 1 and cli.sent.count("prompt") == 1


def test_a_session_on_a_stopping_process_asks_again_on_a_new_connection():
    cli = FakeCLI(stopping=1)  # the connection was opened before a reload
    assert AdminSession(cli).ask(["show map a"]) == ["answer to show map a\n"]
    assert cli.connections == 2


def test_a_cut_connection_is_tried_once_more_then_reported():
    cli = FakeCLI(cut=1)
    assert AdminSession(cli).ask(["show map a"]) == ["answer to show map a\n"]
    cli = FakeCLI(cut=2)
    with pytest.raises(LoadBalancerError, match="HAProxy on lb-1 did not take 'show map a'"):
        AdminSession(cli).ask(["show map a"])


def test_the_session_sends_only_commands_that_are_safe_to_send_twice():
    cli = FakeCLI()
    with pytest.raises(ValueError, match="clear counters"):
        AdminSession(cli).ask(["show map a", "clear counters"])
    assert cli.sent == []
