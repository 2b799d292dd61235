"""Running playbooks through ansible-runner.

A failed playbook is a result (status, rc, which hosts failed and why), not an
exception: the caller decides what a failure means. Every run gets a fresh
private data dir (ansible-runner never rewrites env/envvars in an old one), strict
host-key checking, and no writes into ~/.ansible. Secrets go in through the
environment only, and are scrubbed from the run's directory as soon as it ends.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import ansible_runner

from orchestrator.errors import PlaybookError
from orchestrator.secrets import known, scrub_tree

# greenswap's own playbooks: package data (orchestrator/playbooks is a link to the
# checkout's playbooks/, which a wheel carries as files), so an installed greenswap
# needs no source tree.
PLAYBOOKS = Path(__file__).parents[1] / "playbooks"
FACT_PREFIX = "greenswap_"
FAILURES = ("runner_on_failed", "runner_on_unreachable")


@dataclass(frozen=True)
class PlaybookResult:
    playbook: str
    status: str  # successful | failed | timeout | canceled
    rc: int
    failed_hosts: dict[str, str] = field(default_factory=dict)  # host -> first failure
    facts: dict[str, dict] = field(default_factory=dict)  # host -> greenswap_* facts
    artifacts: Path | None = None

    @property
    def ok(self) -> bool:
        return self.status == "successful" and self.rc == 0

    def raise_for_failure(self) -> PlaybookResult:
        if not self.ok:
            where = "; ".join(f"{h}: {msg}" for h, msg in sorted(self.failed_hosts.items()))
            raise PlaybookError(
                f"playbook {self.playbook} {self.status} (rc {self.rc})"
                + (f" on {where}" if where else ""),
                f"read the run's output in {self.artifacts}",
                host=", ".join(sorted(self.failed_hosts)) or None,
            )
        return self


def run_playbook(
    playbook: str,
    inventory: Path,
    work_root: Path,
    *,
    extravars: dict | None = None,
    limit: str | None = None,
    secrets: dict[str, str] | None = None,
    timeout_s: int = 1800,
    on_task: Callable[[str], None] | None = None,
) -> PlaybookResult:
    path = PLAYBOOKS / playbook
    if not path.is_file():
        raise PlaybookError(f"no playbook {path}", "check the playbook name")
    work_root.mkdir(parents=True, exist_ok=True, mode=0o700)
    pdd = Path(tempfile.mkdtemp(prefix=f"{path.stem}-", dir=work_root))
    # ControlPath must stay under 108 bytes: keep its directory short.
    control_dir = tempfile.mkdtemp(prefix="gs-cp-", dir="/tmp")
    events = _Events(on_task)
    try:
        runner = ansible_runner.run(
            private_data_dir=str(pdd),
            playbook=str(path),
            inventory=str(inventory),
            extravars=extravars or {},
            limit=limit,
            envvars={**_ansible_env(pdd, control_dir), **(secrets or {})},
            event_handler=events.take,
            quiet=True,
            timeout=timeout_s,
        )
    finally:
        # ansible-runner records the whole environment in artifacts/*/command.
        scrub_tree(pdd, [*(secrets or {}).values(), *known()])
        shutil.rmtree(control_dir, ignore_errors=True)
    return PlaybookResult(playbook, runner.status, runner.rc, events.failed, events.facts,
                          pdd / "artifacts")


class _Events:
    """What a run's events tell: each task as it starts, greenswap's facts by host,
    and each host's first failure."""

    def __init__(self, on_task: Callable[[str], None] | None) -> None:
        self.on_task = on_task
        self.failed: dict[str, str] = {}
        self.facts: dict[str, dict] = {}

    def take(self, event: dict) -> bool:
        data = event.get("event_data", {})
        host = data.get("host")
        if event.get("event") == "playbook_on_task_start" and self.on_task:
            self.on_task(data.get("task", ""))
        elif event.get("event") == "runner_on_ok" and host:
            new = data.get("res", {}).get("ansible_facts", {})
            self.facts.setdefault(host, {}).update(
                {k: v for k, v in new.items() if k.startswith(FACT_PREFIX)}
            )
        elif event.get("event") in FAILURES and host and not data.get("ignore_errors"):
            self.failed.setdefault(host, _failure_message(data))
        return True  # ansible-runner keeps the event in its artifacts too


def _failure_message(data: dict) -> str:
    res = data.get("res", {})
    msg = res.get("msg") or res.get("stderr") or "failed"
    # A command's own last words say more than "non-zero return code".
    if res.get("rc") and (said := (res.get("stderr") or res.get("stdout") or "").strip()):
        msg = f"{msg} (exit {res['rc']}): {said.splitlines()[-1]}"
    if res.get("censored"):
        msg = "output hidden by no_log"
    return f"task '{data.get('task', '?')}': {' '.join(str(msg).split())[:300]}"


def _ansible_env(pdd: Path, control_dir: str) -> dict[str, str]:
    venv_bin = str(Path(sys.executable).parent)
    return {
        "ANSIBLE_HOST_KEY_CHECKING": "True",  # ansible-runner turns it off otherwise
        "ANSIBLE_HOME": str(pdd / "ansible-home"),
        "ANSIBLE_LOCAL_TEMP": str(pdd / "tmp"),
        "ANSIBLE_SSH_CONTROL_PATH_DIR": control_dir,
        "ANSIBLE_PIPELINING": "True",
        # No terminal for `raw` tasks: their stderr stays apart from stdout, and a
        # command's children get no SIGHUP when the session ends.
        "ANSIBLE_SSH_USETTY": "False",
        "ANSIBLE_RETRY_FILES_ENABLED": "False",
        "ANSIBLE_FORKS": "16",
        "ANSIBLE_TIMEOUT": "10",
        "ANSIBLE_NOCOLOR": "1",
        "ANSIBLE_SSH_ARGS": "-o ControlMaster=auto -o ControlPersist=10s",
        "LC_ALL": "C.UTF-8",
        "PATH": f"{venv_bin}:{os.environ.get('PATH', '/usr/bin:/bin')}",
    }
