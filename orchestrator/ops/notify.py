"""Notifications: a webhook that receives Slack-compatible JSON at the moments a
sysadmin who was not watching wants to know about (start, each phase, failure,
rollback, the end).

A webhook must never block or fail a rollout: messages go to a sender thread with a
bounded queue, each is tried a bounded number of times (tenacity) with a timeout
per try, and what could not be delivered is only recorded in the journal. Secret
values are removed from every message before it leaves, whatever it says.
"""

from __future__ import annotations

import contextlib
import json
import os
import queue
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterable

from tenacity import Retrying, retry_if_exception_type, stop_after_attempt, wait_exponential

from orchestrator.errors import DeliveryRetry
from orchestrator.secrets import REDACTED

QUEUE_SIZE = 200  # a stuck receiver makes greenswap drop messages, never wait
FLUSH_DEADLINE_S = 15.0
COLORS = {"fail": "danger", "end": "good", "rollback": "warning"}


class Webhook:
    def __init__(self, url: str, environment: str, secret_values: Iterable[str],
                 on_failure: Callable[[str], None], attempts: int = 3,
                 timeout_s: float = 5.0) -> None:
        self.url, self.environment = url, environment
        self.secrets = [s for s in secret_values if s] + [url]  # the URL holds a token
        self.on_failure = on_failure
        self.attempts, self.timeout_s = attempts, timeout_s
        self._queue: queue.Queue = queue.Queue(QUEUE_SIZE)
        self._thread = threading.Thread(target=self._send_all, name="webhook", daemon=True)
        self._thread.start()

    def send(self, title: str, fields: dict[str, object], kind: str = "info") -> None:
        text = self._clean(f"greenswap {self.environment}: {title}")
        payload = {"text": text, "username": "greenswap", "attachments": [{
            "color": COLORS.get(kind, "#439FE0"), "fallback": text,
            "fields": [{"title": k, "value": self._clean(str(v)), "short": True}
                       for k, v in fields.items() if v is not None]}]}
        try:
            self._queue.put_nowait(payload)
        except queue.Full:
            self.on_failure(f"webhook: queue full, dropped: {text}")

    def close(self, deadline_s: float = FLUSH_DEADLINE_S) -> None:
        """Deliver what is queued, for at most `deadline_s`; then give up on it."""
        end = time.monotonic() + deadline_s
        with contextlib.suppress(queue.Full):
            self._queue.put(None, timeout=deadline_s)
        self._thread.join(timeout=max(0.0, end - time.monotonic()))
        if self._thread.is_alive():
            self.on_failure(f"webhook: still sending after {deadline_s:.0f}s; given up")

    def _clean(self, text: str) -> str:
        for secret in self.secrets:
            text = text.replace(secret, REDACTED)
        return text

    def _send_all(self) -> None:
        while (payload := self._queue.get()) is not None:
            try:
                for attempt in Retrying(stop=stop_after_attempt(self.attempts),
                                        wait=wait_exponential(multiplier=0.2, max=2),
                                        retry=retry_if_exception_type(DeliveryRetry), reraise=True):
                    with attempt:
                        self._post(payload)
            except Exception as exc:  # noqa: BLE001 (recorded, never raised)
                self.on_failure(f"webhook: not delivered after {self.attempts} tries: "
                                f"{self._clean(str(exc))}: {payload['text']}")

    def _post(self, payload: dict) -> None:
        request = urllib.request.Request(
            self.url, data=json.dumps(payload).encode(), method="POST",
            headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=self.timeout_s) as answer:  # noqa: S310
                answer.read()
        except urllib.error.HTTPError as exc:
            if exc.code >= 500 or exc.code == 429:
                raise DeliveryRetry(f"HTTP {exc.code}") from exc
            raise RuntimeError(f"HTTP {exc.code}") from exc  # 4xx: trying again won't help
        except (urllib.error.URLError, OSError) as exc:
            raise DeliveryRetry(str(getattr(exc, "reason", exc))) from exc


def secret_values(names: Iterable[str]) -> list[str]:
    return [os.environ.get(n, "") for n in names]
