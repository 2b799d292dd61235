"""The one-rollout lease in DynamoDB, for operators who run greenswap from more
than one machine (the SQLite lease only sees its own).

One item per environment. Every write is conditional, so two greenswaps can never
both believe they hold it: taking needs no item, an expired one, or one whose
holder process is gone on this very machine; renewing and giving back need our
token. Times are the writers' clocks (epoch seconds): keep them in NTP sync.
"""

from __future__ import annotations

import os
import socket
import time
import uuid
from pathlib import Path

from botocore.exceptions import BotoCoreError, ClientError

from orchestrator.aws import ids
from orchestrator.errors import CloudError
from orchestrator.lease import TakenOver, dead_here, lock_held

AUDIT = "#unlock#"  # items "<environment>#unlock#<time>" record forced unlocks


def machine() -> str:
    """This machine, as a holder's "host": the host name alone is not enough in a
    shared table (containers and cloud hosts reuse names)."""
    try:
        machine_id = Path("/etc/machine-id").read_text().strip()
    except OSError:
        machine_id = "no-machine-id"
    return f"{socket.gethostname()}/{machine_id}"


class DynamoLeases:
    shared = True

    def __init__(self, dynamodb, table: str) -> None:
        self.db = dynamodb
        self.table = ids.check_table("lease.table", table)

    def take(self, environment: str, holder: str, rollout_id: int | None,
             ttl_s: float) -> tuple[str, TakenOver | None]:
        now = time.time()
        current = self._get(environment)
        dead = current is not None and dead_here(current["host"], current["pid"], here=machine())
        if current is not None and current["expires_at"] > now and not dead:
            raise lock_held(environment, current["holder"], current["rollout_id"],
                            current["expires_at"] - now)
        token = uuid.uuid4().hex
        item = {"environment": {"S": environment}, "holder": {"S": holder},
                "token": {"S": token}, "expires_at": {"N": repr(now + ttl_s)},
                "acquired_at": {"N": repr(now)},
                "host": {"S": machine()}, "pid": {"N": str(os.getpid())}}
        if rollout_id is not None:
            item["rollout_id"] = {"N": str(rollout_id)}
        # Only over exactly what we looked at: a concurrent taker, or a holder that
        # renewed meanwhile (same token, new expiry), wins, and we are refused.
        if current is None:
            guard: dict = {"ConditionExpression": "attribute_not_exists(environment)"}
        else:
            guard = {"ConditionExpression": "#t = :seen AND expires_at = :seen_expiry",
                     "ExpressionAttributeNames": {"#t": "token"},
                     "ExpressionAttributeValues": {
                         ":seen": {"S": current["token"]},
                         ":seen_expiry": {"N": current["expires_raw"]}}}
        try:
            self.db.put_item(TableName=self.table, Item=item, **guard)
        except ClientError as exc:
            if _conditional(exc):
                winner = self._get(environment) or {"holder": "another greenswap",
                                                    "rollout_id": None,
                                                    "expires_at": now + ttl_s}
                raise lock_held(environment, winner["holder"], winner["rollout_id"],
                                winner["expires_at"] - now) from exc
            raise _cloud("take", exc) from exc
        except BotoCoreError as exc:
            raise _cloud("take", exc) from exc
        if current is None:
            return token, None
        return token, TakenOver(current["holder"], current["rollout_id"], current["pid"],
                                current["acquired_at"], current["expires_at"], dead)

    def renew(self, environment: str, token: str, ttl_s: float,
              rollout_id: int | None = None) -> bool:
        update = "SET expires_at = :e" + (", rollout_id = :r" if rollout_id is not None else "")
        values = {":e": {"N": repr(time.time() + ttl_s)}, ":mine": {"S": token}}
        if rollout_id is not None:
            values[":r"] = {"N": str(rollout_id)}
        return self._conditional_write("update_item", environment, token, UpdateExpression=update,
                                       ExpressionAttributeValues=values)

    def give_back(self, environment: str, token: str) -> None:
        self._conditional_write("delete_item", environment, token,
                                ExpressionAttributeValues={":mine": {"S": token}})

    def holder(self, environment: str) -> tuple[str, int | None, float] | None:
        current = self._get(environment)
        if current is None or current["expires_at"] <= time.time():
            return None
        return current["holder"], current["rollout_id"], current["expires_at"]

    def break_lease(self, environment: str, note: str) -> tuple[str, int | None] | None:
        try:
            out = self.db.delete_item(TableName=self.table,
                                      Key={"environment": {"S": environment}},
                                      ReturnValues="ALL_OLD")
        except (ClientError, BotoCoreError) as exc:
            raise _cloud("break", exc) from exc
        old = out.get("Attributes")
        if old:
            try:  # kept beside the lease, where every machine's operators look
                self.db.put_item(TableName=self.table, Item={
                    "environment": {"S": f"{environment}{AUDIT}{time.time():.6f}"},
                    "message": {"S": f"lease of {old['holder']['S']} {note}"}})
            except (ClientError, BotoCoreError) as exc:
                raise CloudError(f"the lease was broken, but recording it failed: {exc}",
                                 "note the unlock in your change log by hand") from exc
        return None if not old else (_decode(old)["holder"], _decode(old)["rollout_id"])

    def audit(self, environment: str) -> list[str]:
        """The unlocks recorded for `environment`, oldest first."""
        pages = self.db.get_paginator("scan").paginate(
            TableName=self.table, FilterExpression="begins_with(environment, :p)",
            ExpressionAttributeValues={":p": {"S": environment + AUDIT}})
        items = [i for page in pages for i in page["Items"]]
        return [i["message"]["S"] for i in sorted(items, key=lambda i: i["environment"]["S"])]

    # -- plumbing ---------------------------------------------------------------------

    def _conditional_write(self, method: str, environment: str, token: str, **kwargs) -> bool:
        try:
            getattr(self.db, method)(TableName=self.table, Key={"environment": {"S": environment}},
                                     ConditionExpression="#t = :mine",
                                     ExpressionAttributeNames={"#t": "token"}, **kwargs)
            return True
        except ClientError as exc:
            if _conditional(exc):
                return False  # someone else holds it now
            raise _cloud(method, exc) from exc
        except BotoCoreError as exc:
            raise _cloud(method, exc) from exc

    def _get(self, environment: str) -> dict | None:
        try:
            out = self.db.get_item(TableName=self.table, Key={"environment": {"S": environment}},
                                   ConsistentRead=True)
        except (ClientError, BotoCoreError) as exc:
            raise _cloud("read", exc) from exc
        return _decode(out["Item"]) if "Item" in out else None


def _decode(item: dict) -> dict:
    return {
        "holder": item["holder"]["S"], "token": item["token"]["S"],
        "expires_at": float(item["expires_at"]["N"]), "expires_raw": item["expires_at"]["N"],
        "host": item["host"]["S"],
        "pid": int(item["pid"]["N"]),
        "acquired_at": float(item["acquired_at"]["N"]) if "acquired_at" in item else None,
        "rollout_id": int(item["rollout_id"]["N"]) if "rollout_id" in item else None,
    }


def _conditional(exc: ClientError) -> bool:
    return exc.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException"


def _cloud(what: str, exc: Exception) -> CloudError:
    return CloudError(f"lease {what} in DynamoDB failed: {exc}",
                      "check the lease table (terraform output lease_table) and credentials")
