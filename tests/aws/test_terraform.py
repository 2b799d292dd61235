"""terraform/: formatted, its outputs are the ones greenswap reads, and the
provider-free names module passes its own `terraform test` (offline: no provider
registry is reachable, so the AWS module itself is checked by parsing)."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import hcl2
import pytest

from orchestrator.aws import outputs

TERRAFORM = Path(__file__).resolve().parents[2] / "terraform"
NAMES = TERRAFORM / "modules" / "names"


@pytest.fixture(scope="module")
def terraform():
    found = shutil.which("terraform")
    # Not a skip: the machine this project runs on has Terraform; its absence is a
    # broken set-up that must show.
    assert found, "terraform is not on PATH (see docs/aws.md)"
    return found


def run(terraform, *args, cwd: Path, tmp: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "TF_IN_AUTOMATION": "1", "TF_DATA_DIR": str(tmp / ".terraform"),
           "CHECKPOINT_DISABLE": "1", "TF_CLI_CONFIG_FILE": "/dev/null"}
    return subprocess.run([terraform, *args], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=300)


def label(name: str) -> str:
    return name.strip('"')  # python-hcl2 keeps block labels' quotes


def test_terraform_files_are_formatted(terraform, tmp_path):
    done = run(terraform, "fmt", "-check", "-recursive", "-diff", cwd=TERRAFORM, tmp=tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr


def test_every_output_greenswap_reads_is_declared():
    with (TERRAFORM / "outputs.tf").open() as fh:
        declared = {label(name) for block in hcl2.load(fh)["output"] for name in block}
    missing = set(outputs.REQUIRED) - declared
    assert not missing, f"terraform/outputs.tf lacks {sorted(missing)}"


def test_the_listener_action_is_left_to_greenswap():
    with (TERRAFORM / "main.tf").open() as fh:
        resources = hcl2.load(fh)["resource"]
    listeners = [blocks for r in resources for kind, blocks in r.items()
                 if label(kind) == "aws_lb_listener"]
    assert len(listeners) == 1
    [listener] = listeners[0].values()
    ignored = listener["lifecycle"][0]["ignore_changes"]
    assert "default_action" in str(ignored)


def test_the_names_module_passes_terraform_test(terraform, tmp_path):
    init = run(terraform, "init", "-input=false", "-backend=false", cwd=NAMES, tmp=tmp_path)
    assert init.returncode == 0, init.stdout + init.stderr
    done = run(terraform, "test", "-no-color", cwd=NAMES, tmp=tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "3 passed, 0 failed" in done.stdout
