"""Builds real .deb files with dpkg-deb and reads them back with dpkg-deb."""

import subprocess

from orchestrator.lab import packages


def field(deb, name):
    return subprocess.run(["dpkg-deb", "-f", str(deb), name], capture_output=True, text=True,
                          check=True).stdout.strip()


def test_sample_app_versions_carry_their_own_schema(tmp_path):
    v1 = packages.build_deb(packages.sample_app("1.0"), tmp_path)
    v2 = packages.build_deb(packages.sample_app("2.0"), tmp_path)
    assert field(v1, "Version") == "1.0" and field(v2, "Version") == "2.0"
    assert "python3-psycopg2" in field(v1, "Depends")
    listing = subprocess.run(["dpkg-deb", "-c", str(v2)], capture_output=True, text=True,
                             check=True).stdout
    assert "./usr/lib/greenswap-sample-app/store.py" in listing
    assert "./etc/init.d/greenswap-sample-app" in listing
    schema = subprocess.run(
        ["dpkg-deb", "--fsys-tarfile", str(v2)], capture_output=True, check=True
    ).stdout
    assert b"balance_cents" in schema and b"CREATE TABLE IF NOT EXISTS addresses" in schema


def test_builds_are_reproducible(tmp_path):
    a = packages.build_deb(packages.lab_base("1.1"), tmp_path / "a")
    b = packages.build_deb(packages.lab_base("1.1"), tmp_path / "b")
    assert a.read_bytes() == b.read_bytes()
    assert field(a, "Package") == "greenswap-lab-base"
