"""greenswap installed from its wheel, away from any checkout: the wheel carries
greenswap's own playbooks, their templates and the HAProxy Lua as package data,
and the command runs from a directory outside the checkout against a config (and
the app's own deploy playbook) that lives there too."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SAMPLE_APP = ROOT / "examples" / "sample-app"


def run(*args: str, cwd: Path, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=300)


def test_the_wheel_runs_away_from_the_checkout(tmp_path):
    # Built from a copy: an in-place build leaves build/ and an egg-info in the
    # checkout, which would shadow the installed entry points.
    source = tmp_path / "source"
    shutil.copytree(ROOT, source, symlinks=True, ignore=shutil.ignore_patterns(
        ".git", ".venv", "build", "*.egg-info", "__pycache__", ".pytest_cache"))
    built = run(sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
                "-q", "-w", str(tmp_path / "dist"), str(source), cwd=tmp_path)
    assert built.returncode == 0, built.stderr
    wheel = next((tmp_path / "dist").glob("greenswap-*.whl"))

    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    python = venv / "bin" / "python"
    installed = run(sys.executable, "-m", "pip", "--python", str(python), "install",
                    "--no-deps", "--no-index", "-q", str(wheel), cwd=tmp_path)
    assert installed.returncode == 0, installed.stderr
    # Its dependencies from this venv's site-packages; greenswap itself only from the
    # wheel (a path on PYTHONPATH runs no .pth file, so the checkout's editable
    # install does not apply there).
    env = {"PATH": os.environ["PATH"], "HOME": str(tmp_path),
           "PYTHONPATH": sysconfig.get_paths()["purelib"]}
    away = tmp_path / "elsewhere"
    away.mkdir()

    where = run(str(python), "-c", "import orchestrator.remote.ansible as a; print(a.PLAYBOOKS)",
                cwd=away, env=env)
    playbooks = Path(where.stdout.strip())
    assert playbooks.is_relative_to(venv), where
    for name in ("patch.yml", "postgres.yml", "haproxy.yml", "release.yml",
                 "templates/haproxy.cfg.j2", "files/greenswap-hold.lua"):
        assert (playbooks / name).is_file(), name

    version = run(str(venv / "bin" / "greenswap"), "--version", cwd=away, env=env)
    assert version.returncode == 0 and "greenswap, version 0.1.0" in version.stdout, version

    app = away / "shop"
    shutil.copytree(SAMPLE_APP, app, ignore=shutil.ignore_patterns("__pycache__"))
    config = app / "rollout.yml"
    config.write_text(config.read_text() + f"state_dir: {away / 'state'}\n")
    planned = run(str(venv / "bin" / "greenswap"), "plan", "-c", str(config), cwd=away, env=env)
    assert planned.returncode == 2, planned.stderr
    assert "ansible: deploy.yml on green_app" in planned.stdout
    assert "ansible: postgres.yml on green_db" in planned.stdout
