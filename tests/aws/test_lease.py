"""The lease in DynamoDB (moto), used by two journals as two machines would."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

import pytest

from orchestrator.aws.lease import DynamoLeases
from orchestrator.errors import LockHeld
from orchestrator.lease import holder_identity
from orchestrator.runbook.journal import Journal


@pytest.fixture
def two_machines(greenswap_aws, base, tmp_path):
    """Two greenswaps with journals of their own and one lease table."""
    return [Journal(tmp_path / name, DynamoLeases(greenswap_aws.dynamodb, base.lease_table))
            for name in ("ops-1", "ops-2")]


def test_a_second_rollout_is_refused_with_the_holders_identity(two_machines):
    first, second = two_machines
    lease = first.acquire("shop", None)
    try:
        with pytest.raises(LockHeld) as err:
            second.acquire("shop", None)
        assert f"locked by {holder_identity()}" in err.value.one_line()
        assert second.lease_holder("shop")[0] == holder_identity()
    finally:
        lease.release()
    second.acquire("shop", None).release()  # free again once given back


def test_an_expired_lease_is_taken_over_and_the_old_holder_learns_it(two_machines):
    first, second = two_machines
    run = first.start("shop", {})
    stale = first.acquire("shop", run, ttl_s=0.5)
    stale._stop.set()  # its heartbeat stops, as if the machine had hung
    time.sleep(0.7)
    taker = second.acquire("shop", None)
    try:
        assert not first.leases.renew("shop", stale.token, 30)
        assert first.lease_holder("shop")[0] == holder_identity()
        mine = second.start("shop", {})
        taker.attach(mine)  # the takeover is recorded on the rollout that made it
        assert any(f"(rollout {run}; expired" in e.message for e in second.events(mine))
    finally:
        taker.release()


def test_a_dead_holder_on_this_machine_need_not_be_waited_for(aws, greenswap_aws, base,
                                                             two_machines):
    first, second = two_machines
    gone = subprocess.Popen(["true"])
    gone.wait()
    leases = DynamoLeases(greenswap_aws.dynamodb, base.lease_table)
    token, _ = leases.take("shop", "root@here pid gone", None, 300)
    # As an item an older greenswap wrote would be: no acquired_at.
    aws.dynamodb.update_item(TableName=base.lease_table, Key={"environment": {"S": "shop"}},
                             UpdateExpression="SET pid = :p REMOVE acquired_at",
                             ExpressionAttributeValues={":p": {"N": str(gone.pid)}})
    taker = second.acquire("shop", None)
    taker.release()
    assert not leases.renew("shop", token, 30)
    gone_holder = taker.taken_over
    assert gone_holder.dead and gone_holder.pid == gone.pid and gone_holder.acquired_at is None
    assert gone_holder.describe(time.time()) == (
        "root@here pid gone (rollout None; its process is gone)")


def test_unlock_is_forced_and_recorded(two_machines):
    first, second = two_machines
    run = first.start("shop", {})
    lease = first.acquire("shop", run)
    lease.attach(run)
    assert second.unlock("shop", "ops-1 crashed, ticket 42") == holder_identity()
    [note] = second.leases.audit("shop")  # in the table, for every machine to read
    assert note.startswith(f"lease of {holder_identity()} broken by") and "ticket 42" in note
    assert second.lease_holder("shop") is None
    lease.release()  # the old holder's give-back cannot remove a new holder's lease
    taker = second.acquire("shop", None)
    try:
        lease.release()
        assert second.lease_holder("shop") is not None
    finally:
        taker.release()


def test_the_config_names_the_backend_and_the_rollout_journal_uses_it(
        aws, base, moto_url, tmp_path):
    import json

    import yaml

    from orchestrator import config
    from orchestrator.runbook.lease import open_journal
    from tests.aws.conftest import make_base

    sample = Path(__file__).resolve().parents[2] / "examples" / "sample-app" / "rollout.yml"
    outputs_file = tmp_path / "outputs.json"
    outputs_file.write_text(json.dumps(make_base(aws, "shop2")))

    def cfg_for(machine: str) -> config.Config:
        doc = yaml.safe_load(sample.read_text())
        doc.update(environment="shop2", lease={"backend": "dynamodb"},
                   state_dir=str(tmp_path / machine),
                   aws={"terraform_outputs": str(outputs_file), "endpoint_url": moto_url})
        return config.parse(doc, sample)

    lease = open_journal(cfg_for("ops-1")).acquire("shop2", None)
    try:
        with pytest.raises(LockHeld, match=f"locked by {holder_identity()}"):
            open_journal(cfg_for("ops-2")).acquire("shop2", None)
    finally:
        lease.release()
