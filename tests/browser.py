"""Debian's headless Chromium, to see a page as a browser renders it (no network:
the flags keep Chromium from calling home, which this machine would refuse)."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path

FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--hide-scrollbars"]


def chromium(page: Path, *args: str, timeout_s: float = 90) -> str:
    exe = shutil.which("chromium")
    assert exe, "chromium is not installed: 'make test' installs Debian's chromium package"
    with tempfile.TemporaryDirectory(prefix="gs-chromium-") as profile:
        done = subprocess.run([exe, *FLAGS, f"--user-data-dir={profile}", *args,
                               page.resolve().as_uri()],
                              capture_output=True, text=True, timeout=timeout_s, check=True)
    return done.stdout


def rendered_dom(page: Path) -> str:
    """The document after its scripts ran."""
    return chromium(page, "--dump-dom", "--virtual-time-budget=3000")


def screenshot(page: Path, png: Path, width: int = 1200, height: int = 2400) -> None:
    chromium(page, f"--screenshot={png.resolve()}", f"--window-size={width},{height}",
             "--virtual-time-budget=3000")
