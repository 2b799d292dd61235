"""A fresh machine: a host booted from an image built moments ago installs a package
from the lab repository on the first try.

The image is built here, into this test's own cache, because the trap needs a young
image: an empty package index dated at build time passes for fresh with Ansible's
apt module (cache_valid_time), which then skips the update and finds no package.
The shared cache's image is usually older than any cache_valid_time, and hides it.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from orchestrator.lab.lab import Lab
from orchestrator.lab.packages import APP
from orchestrator.lab.settings import LabSettings
from orchestrator.remote.ansible import run_playbook
from tests.conftest import leftovers

pytestmark = [pytest.mark.lab, pytest.mark.slow]

PLAYBOOK = Path(__file__).resolve().parents[1] / "data" / "apt_first_try.yml"


def test_a_host_from_a_just_built_image_installs_from_the_lab_repository(tmp_path):
    settings = LabSettings.parse("gsf", "198.18.102.0/24", state_root=tmp_path / "labs",
                                 inventory_dir=tmp_path / "inv", cache_dir=tmp_path / "cache")
    lab = Lab(settings)
    try:
        lab.up([("app", 1, "blue")])
        result = run_playbook(str(PLAYBOOK), settings.inventory_path, tmp_path / "runs",
                              extravars={"target": "blue-app-1", "package": f"{APP}=1.0"})
        assert result.failed_hosts == {}, result.failed_hosts
        assert result.ok
    finally:
        lab.down()
    assert leftovers(settings) == []
