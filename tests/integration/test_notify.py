"""The webhook against a real HTTP receiver on loopback: Slack-compatible JSON in
order, retries on 5xx, secrets never sent, and an unreachable or hanging receiver
never blocks: it is only recorded."""

from __future__ import annotations

import json
import socket
import time

import pytest

from orchestrator.ops.notify import Webhook
from tests.receiver import Receiver


@pytest.fixture
def receiver():
    made: list[Receiver] = []

    def make(**kw) -> Receiver:
        made.append(Receiver(**kw))
        return made[-1]

    yield make
    for r in made:
        r.close()


def test_messages_arrive_in_order_as_slack_json_without_secrets(receiver):
    r = receiver(fail_first=2)  # and two 503s first: retried
    failures: list[str] = []
    hook = Webhook(r.url, "shop", ["s3cret-pw"], failures.append, attempts=4, timeout_s=2)
    hook.send("phase preflight started", {"rollout": 7, "phase": "preflight"})
    hook.send("cutover done, password s3cret-pw leaked?", {"note": "s3cret-pw"}, "done")
    hook.send("rollout succeeded", {"rollout": 7}, "end")
    hook.close()
    assert failures == []
    assert [m["text"] for m in r.got] == [
        "greenswap shop: phase preflight started",
        "greenswap shop: cutover done, password <redacted> leaked?",
        "greenswap shop: rollout succeeded"]
    assert r.got[0]["attachments"][0]["fields"][0] == {"title": "rollout", "value": "7",
                                                       "short": True}
    assert "s3cret-pw" not in json.dumps(r.got) and "T0KEN" not in json.dumps(r.got)


def test_an_unreachable_webhook_never_blocks_and_is_recorded():
    with socket.socket() as s:  # a loopback port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    failures: list[str] = []
    hook = Webhook(f"http://127.0.0.1:{port}/x", "shop", [], failures.append, attempts=2,
                   timeout_s=0.5)
    began = time.monotonic()
    hook.send("phase patch done", {})
    assert time.monotonic() - began < 0.1  # send never waits for the network
    hook.close(deadline_s=10)
    assert len(failures) == 1 and "not delivered after 2 tries" in failures[0]
    assert f"127.0.0.1:{port}" not in failures[0]  # the URL is a secret too


def test_a_hanging_receiver_is_given_up_at_the_deadline(receiver):
    r = receiver(delay_s=3)
    failures: list[str] = []
    hook = Webhook(r.url, "shop", [], failures.append, attempts=3, timeout_s=1)
    hook.send("phase sync done", {})
    began = time.monotonic()
    hook.close(deadline_s=1.5)
    assert time.monotonic() - began < 2.5
    assert failures and "given up" in failures[-1]


def test_a_rollout_tells_its_start_phases_and_end_and_a_missing_url_only_is_noted(
        receiver, tmp_path, monkeypatch):
    from pathlib import Path

    import yaml

    from orchestrator import config
    from orchestrator.runbook.context import Context
    from orchestrator.runbook.journal import Journal

    sample = Path(__file__).resolve().parents[2] / "examples" / "sample-app" / "rollout.yml"
    doc = yaml.safe_load(sample.read_text())
    doc.update(state_dir=str(tmp_path), notify={"webhook_url_env": "GS_TEST_HOOK"})
    cfg = config.parse(doc, sample)
    r = receiver()
    monkeypatch.setenv("GS_TEST_HOOK", r.url)
    journal = Journal(tmp_path)
    rid = journal.start(cfg.environment, {"app_version": "2.0"})
    ctx = Context(cfg, journal, rid, fleet=None, facts={"app_version": "2.0"})
    ctx.record("preflight", "start", "preflight started")
    ctx.record("cutover", "step", "fence")  # a step: journaled, not sent
    ctx.record("cutover", "done", "cutover done")
    ctx.record(None, "end", "succeeded")
    ctx.close()
    assert [m["text"].split(": ", 1)[1] for m in r.got] == [
        "preflight started", "cutover done", "succeeded"]

    monkeypatch.delenv("GS_TEST_HOOK")
    quiet = Context(cfg, journal, rid, fleet=None)
    quiet.record(None, "end", "succeeded")  # no URL: the rollout goes on
    quiet.close()
    assert any("$GS_TEST_HOOK is not set" in e.message for e in journal.events(rid))
