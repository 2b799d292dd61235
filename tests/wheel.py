"""greenswap installed from its own wheel into a fresh venv, away from the checkout:
for the tests that run the installed command (`greenswap` from that venv)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class Installed:
    venv: Path

    @property
    def greenswap(self) -> str:
        return str(self.venv / "bin" / "greenswap")

    def env(self, **extra: str) -> dict[str, str]:
        """Its dependencies from this venv's site-packages (and ansible-playbook from
        its bin); greenswap itself only from the wheel: a path on PYTHONPATH runs no
        .pth file, so the checkout's editable install does not apply."""
        return {"PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}",
                "HOME": str(self.venv.parent), "LC_ALL": "C.UTF-8",
                "PYTHONPATH": sysconfig.get_paths()["purelib"], **extra}


def install(work: Path) -> Installed:
    """Build the wheel from a copy of the checkout (an in-place build leaves build/
    and an egg-info in it, which would shadow the installed entry points) and
    install it, alone, into a fresh venv under `work`."""
    source = work / "source"
    shutil.copytree(ROOT, source, symlinks=True, ignore=shutil.ignore_patterns(
        ".git", ".venv", "build", "*.egg-info", "__pycache__", ".pytest_cache", "dist",
        "*.so"))  # the wheel compiles its own C helper
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
                    "-q", "-w", str(work / "dist"), str(source)],
                   check=True, capture_output=True, timeout=300)
    wheel = next((work / "dist").glob("greenswap-*.whl"))
    venv = work / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    subprocess.run([sys.executable, "-m", "pip", "--python", str(venv / "bin" / "python"),
                    "install", "--no-deps", "--no-index", "-q", str(wheel)],
                   check=True, capture_output=True, timeout=300)
    return Installed(venv)
