"""greenswap installed from its wheel, away from any checkout: the wheel carries
greenswap's own playbooks, their templates and the HAProxy Lua as package data
(and the replayer's C helper, compiled),
and the command runs from a directory outside the checkout against a config (and
the app's own deploy playbook) that lives there too. (A whole lab rollout through
the installed command: tests/integration/test_ledger.py.)"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from tests.sample_app import SAMPLE_APP
from tests.wheel import install


def test_the_wheel_runs_away_from_the_checkout(tmp_path):
    installed = install(tmp_path)
    away = tmp_path / "elsewhere"
    away.mkdir()

    def run(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run(args, cwd=away, env=installed.env(), capture_output=True,
                              text=True, timeout=300)

    where = run(str(installed.venv / "bin" / "python"), "-c",
                "import orchestrator.remote.ansible as a; print(a.PLAYBOOKS)")
    playbooks = Path(where.stdout.strip())
    assert playbooks.is_relative_to(installed.venv), where
    for name in ("patch.yml", "postgres.yml", "haproxy.yml", "release.yml",
                 "templates/haproxy.cfg.j2", "templates/greenswap-role.sql.j2",
                 "files/greenswap-hold.lua"):
        assert (playbooks / name).is_file(), name

    # The replayer's C helper is built into the wheel, and used from it.
    helper = run(str(installed.venv / "bin" / "python"), "-c",
                 "from orchestrator.db.speedups import C; print(C.__file__)")
    assert Path(helper.stdout.strip()).is_relative_to(installed.venv), helper

    version = run(installed.greenswap, "--version")
    assert version.returncode == 0 and "greenswap, version 0.1.0" in version.stdout, version

    app = away / "shop"
    shutil.copytree(SAMPLE_APP, app, ignore=shutil.ignore_patterns("__pycache__"))
    config = app / "rollout.yml"
    config.write_text(config.read_text() + f"state_dir: {away / 'state'}\n")
    planned = run(installed.greenswap, "plan", "-c", str(config))
    assert planned.returncode == 2, planned.stderr
    assert "ansible: deploy.yml on green_app" in planned.stdout
    assert "ansible: postgres.yml on green_db" in planned.stdout
