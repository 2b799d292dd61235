"""The lease store an environment's config names (lease.backend)."""

from __future__ import annotations

from orchestrator.config import Config
from orchestrator.lease import LeaseStore
from orchestrator.runbook.journal import Journal


def lease_store(cfg: Config) -> LeaseStore | None:
    """None for the journal's own SQLite lease (the default)."""
    if cfg.lease.backend != "dynamodb":
        return None
    from orchestrator.aws import outputs
    from orchestrator.aws.clients import LEASE_CALL_CONFIG, Clients
    from orchestrator.aws.lease import DynamoLeases

    assert cfg.aws is not None  # config.parse demands it for this backend
    base = outputs.read_for(cfg.aws.terraform_outputs, cfg.environment)
    clients = Clients(base.region, cfg.aws.endpoint_url, config=LEASE_CALL_CONFIG)
    return DynamoLeases(clients.dynamodb, base.lease_table)


def open_journal(cfg: Config) -> Journal:
    return Journal(cfg.state_dir, lease_store(cfg))
