"""Fixtures shared by the suites: a lab of real namespace hosts, brought up once per
session (the integration and fault tests share it), and PostgreSQL clusters on
loopback.

The test lab has its own name, subnet and state directory, so it never touches a
lab an operator may be running. Its golden image comes from the shared cache
(built on first use). Teardown checks that `lab down` left nothing behind.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from orchestrator import processes
from orchestrator.lab import network
from orchestrator.lab.environment import LabEnvironment
from orchestrator.lab.lab import Lab
from orchestrator.lab.settings import LabSettings
from tests.pg import Cluster

SAMPLE_APP = Path(__file__).resolve().parents[1] / "examples" / "sample-app"

# Another name and subnet (inside 198.18.0.0/15) let a second run share the machine.
TEST_LAB = os.environ.get("GREENSWAP_TEST_LAB", "gst")
TEST_SUBNET = os.environ.get("GREENSWAP_TEST_SUBNET", "198.18.100.0/24")


def pytest_collection_modifyitems(config, items):
    # Without root the lab tests cannot run. They are skipped only when asked
    # (GREENSWAP_SKIP_LAB=1, e.g. `make test-unit` on a laptop); `make test` as a
    # non-root user fails instead of passing with half the suite unrun.
    if os.geteuid() != 0 and os.environ.get("GREENSWAP_SKIP_LAB") == "1":
        skip = pytest.mark.skip(reason="GREENSWAP_SKIP_LAB=1")
        for item in items:
            if "lab" in item.keywords:
                item.add_marker(skip)


def make_settings(root: Path, name: str, subnet: str) -> LabSettings:
    return LabSettings.parse(name, subnet, state_root=root / "labs", inventory_dir=root / "inv")


def leftovers(settings: LabSettings) -> list[str]:
    """Everything of this lab that still exists on the machine."""
    found = [f"netns {n}" for n in network.netns_named(f"{settings.name}-")]
    found += [f"link {n}" for n in network.links_named(f"{settings.name}-")]
    found += [f"pid {p}" for p in processes.find(f"{settings.state_dir}/")]
    mounts = Path("/proc/self/mountinfo").read_text()
    found += [f"mount {ln}" for ln in mounts.splitlines() if str(settings.state_dir) in ln]
    if settings.state_dir.exists():
        found.append(f"dir {settings.state_dir}")
    return found


@pytest.fixture(scope="session")
def lab(tmp_path_factory) -> Lab:
    settings = make_settings(tmp_path_factory.mktemp("lab"), TEST_LAB, TEST_SUBNET)
    the_lab = Lab(settings)
    try:
        the_lab.up()
        yield the_lab
    finally:
        the_lab.down()
    assert leftovers(settings) == []


@pytest.fixture(scope="session")
def env(lab) -> LabEnvironment:
    return LabEnvironment(lab)


@pytest.fixture(scope="session")
def blue(env) -> LabEnvironment:
    """Blue on app v1 behind HAProxy, as `make demo` builds it."""
    env.deploy("blue", "1.0")
    return env


@pytest.fixture
def clusters():
    """Blue on the sample app's schema v1 and green on v2: two real PostgreSQL
    clusters on loopback, removed afterwards."""
    yield from _clusters()


@pytest.fixture(scope="module")
def module_clusters():
    yield from _clusters()


def _clusters(app: Path = SAMPLE_APP, seed: str = ""):
    """Blue on `app`'s schema_v1.sql (then `seed`), green on its schema_v2.sql."""
    blue, green = Cluster("blue"), Cluster("green")
    try:
        blue.start()
        green.start()
        blue.sql((app / "schema_v1.sql").read_text())
        if seed:
            blue.sql(seed)
        green.sql((app / "schema_v2.sql").read_text())
        yield blue, green
    finally:
        blue.destroy()
        green.destroy()


@pytest.fixture
def secrets(blue, monkeypatch):
    for name, value in blue.secrets().items():
        monkeypatch.setenv(name, value)
    return blue
