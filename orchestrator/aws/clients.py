"""boto3 clients with bounded waits: every call has a connect and read timeout and
a bounded number of retries, so no AWS call can hang a rollout."""

from __future__ import annotations

import boto3
from botocore.config import Config as BotoConfig

CALL_CONFIG = BotoConfig(connect_timeout=5, read_timeout=30,
                         retries={"max_attempts": 5, "mode": "standard"})
# The lease's heartbeat renews every 10 s of a 30 s lease: a call must fail fast
# enough to leave room for the next beat.
LEASE_CALL_CONFIG = BotoConfig(connect_timeout=2, read_timeout=3,
                               retries={"max_attempts": 2, "mode": "standard"})


class Clients:
    def __init__(self, region: str, endpoint_url: str | None = None,
                 config: BotoConfig = CALL_CONFIG) -> None:
        # endpoint_url: a private endpoint, or an emulator in tests (loopback only).
        self._session = boto3.session.Session(region_name=region)
        self._endpoint = endpoint_url
        self._config = config
        self._made: dict[str, object] = {}

    def __getattr__(self, service: str):
        if service.startswith("_"):
            raise AttributeError(service)
        if service not in self._made:
            self._made[service] = self._session.client(
                service, endpoint_url=self._endpoint, config=self._config)
        return self._made[service]
