"""The golden root filesystem every lab host boots from, built once and cached.

debootstrap builds a minimal Debian with what hosts of every role need (sshd,
python3 for Ansible, PostgreSQL, HAProxy). The result is keyed on its recipe and
package list; a changed list builds a new image beside the old one, so running
hosts keep their lower layer.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import re
import shutil
from collections.abc import Callable
from pathlib import Path

from orchestrator.errors import ImageBuildError
from orchestrator.lab.local import run

SUITE = "bookworm"
PACKAGES = (
    "openssh-server", "python3", "python3-apt", "python3-psycopg2",
    "postgresql-15", "haproxy", "socat", "tini", "iproute2", "procps", "ca-certificates",
)
# Bump when the tweaks below change: it is part of the cache key.
RECIPE_VERSION = "4"
BASELINE_PACKAGE = ("greenswap-lab-base", "1.0")

SSHD_CONFIG = """\
# Written by greenswap's lab image.
HostKey /etc/ssh/ssh_host_ed25519_key
PermitRootLogin prohibit-password
PasswordAuthentication no
KbdInteractiveAuthentication no
UseDNS no
MaxStartups 64:30:128
"""
APT_CONFIG = """\
// Written by greenswap's lab image: overlays stay small and apt stays quiet.
Dir::Cache::pkgcache "";
Dir::Cache::srcpkgcache "";
Acquire::Languages "none";
APT::Install-Recommends "false";
Acquire::http::Timeout "5";
"""
POLICY_RC = (
    "#!/bin/sh\n"
    "# No daemon starts at install time; playbooks start what a role needs.\n"
    "exit 101\n"
)


def image_key(baseline_version: str) -> str:
    recipe = "\n".join([SUITE, RECIPE_VERSION, *sorted(PACKAGES), baseline_version])
    return hashlib.sha256(recipe.encode()).hexdigest()[:16]


def debian_mirror() -> str:
    """The Debian mirror this machine's apt already uses, so the lab needs no other."""
    override = os.environ.get("GREENSWAP_DEBIAN_MIRROR")
    if override:
        return override
    sources = sorted(Path("/etc/apt/sources.list.d").glob("*.sources"))
    for path in sources:
        for uri in re.findall(r"^URIs:\s*(\S+)", path.read_text(), re.MULTILINE):
            if uri.rstrip("/").endswith("/debian"):
                return uri
    legacy = Path("/etc/apt/sources.list")
    if legacy.exists():
        pattern = r"^deb\s+(?:\[[^]]*\]\s+)?(\S+/debian)/?\s"
        for uri in re.findall(pattern, legacy.read_text(), re.MULTILINE):
            return uri
    return "http://deb.debian.org/debian"


def ensure_image(
    cache_dir: Path, baseline_deb: Path, say: Callable[[str], None] = lambda _m: None
) -> Path:
    """Return the rootfs directory of the golden image, building it if missing."""
    images = cache_dir / "images"
    images.mkdir(parents=True, exist_ok=True)
    key = image_key(BASELINE_PACKAGE[1])
    rootfs = images / key
    if rootfs.is_dir():
        return rootfs
    with open(images / f"{key}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # another process may be building the same key
        if not rootfs.is_dir():
            _build(rootfs, baseline_deb, say)
    return rootfs


def _build(rootfs: Path, baseline_deb: Path, say: Callable[[str], None]) -> None:
    partial = rootfs.with_name(rootfs.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    mirror = debian_mirror()
    say(f"building the golden image with debootstrap from {mirror} (about a minute, once)")
    run(
        ["debootstrap", "--variant=minbase", f"--include={','.join(PACKAGES)}",
         SUITE, str(partial), mirror],
        timeout=900, error=ImageBuildError,
    )
    say("tweaking the image for namespace hosts")
    _tweak(partial, baseline_deb)
    partial.rename(rootfs)


def _tweak(root: Path, baseline_deb: Path) -> None:
    (root / "usr/sbin/policy-rc.d").write_text(POLICY_RC)
    (root / "usr/sbin/policy-rc.d").chmod(0o755)
    (root / "etc/apt/apt.conf.d/90greenswap").write_text(APT_CONFIG)
    (root / "etc/ssh/sshd_config.d/greenswap.conf").write_text(SSHD_CONFIG)
    # Every host gets its own host key at boot; none may be shared through the image.
    for key in (root / "etc/ssh").glob("ssh_host_*"):
        key.unlink()
    # Clusters are made by the postgres playbook on the hosts that need one.
    shutil.rmtree(root / "etc/postgresql/15/main", ignore_errors=True)
    shutil.rmtree(root / "var/lib/postgresql/15/main", ignore_errors=True)
    (root / "etc/apt/sources.list").write_text("# The lab writes each host's sources.\n")
    staged = root / "tmp" / baseline_deb.name
    shutil.copy2(baseline_deb, staged)
    run(["chroot", str(root), "dpkg", "-i", f"/tmp/{baseline_deb.name}"], error=ImageBuildError)
    staged.unlink()
    for junk in ("var/cache/apt/archives", "var/lib/apt/lists", "usr/share/doc", "usr/share/man"):
        shutil.rmtree(root / junk, ignore_errors=True)
    (root / "var/cache/apt/archives/partial").mkdir(parents=True)
    (root / "var/lib/apt/lists/partial").mkdir(parents=True)
    # An empty index must not look fresh: Ansible's apt module takes lists (or the
    # update stamp) younger than cache_valid_time as up to date and skips the
    # update, and a host booted just after the build then knows no package of the
    # lab repository ("No package matching ... is available").
    (root / "var/lib/apt/periodic/update-success-stamp").unlink(missing_ok=True)
    for stale in ("var/lib/apt/lists/partial", "var/lib/apt/lists"):
        os.utime(root / stale, (0, 0))
