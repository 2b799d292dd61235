"""The sample app's rollout config, for tests that write a config of their own
elsewhere: every file it names is made absolute, so it resolves from anywhere."""

from __future__ import annotations

from pathlib import Path

import yaml

SAMPLE_APP = Path(__file__).resolve().parents[1] / "examples" / "sample-app"


def sample_doc() -> dict:
    doc = yaml.safe_load((SAMPLE_APP / "rollout.yml").read_text())
    database, app = doc["database"], doc["app"]
    database["migrations"] = [str(SAMPLE_APP / name) for name in database["migrations"]]
    database["transform"] = str(SAMPLE_APP / database["transform"])
    for key in ("deploy", "release"):
        app[key] = str(SAMPLE_APP / app[key])
    return doc
