"""boto3 clients with bounded waits: every call has a connect and read timeout and
a bounded number of retries, so no AWS call can hang a rollout."""

from __future__ import annotations

import boto3
from botocore.config import Config as BotoConfig

CALL_CONFIG = BotoConfig(connect_timeout=5, read_timeout=30,
                         retries={"max_attempts": 5, "mode": "standard"})


class Clients:
    def __init__(self, region: str, endpoint_url: str | None = None) -> None:
        # endpoint_url: a private endpoint, or an emulator in tests (loopback only).
        self._session = boto3.session.Session(region_name=region)
        self._endpoint = endpoint_url
        self._made: dict[str, object] = {}

    def __getattr__(self, service: str):
        if service.startswith("_"):
            raise AttributeError(service)
        if service not in self._made:
            self._made[service] = self._session.client(
                service, endpoint_url=self._endpoint, config=CALL_CONFIG)
        return self._made[service]
