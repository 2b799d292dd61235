"""The example apps' rollout configs, for tests that write a config of their own
elsewhere: every file one names is made absolute, so it resolves from anywhere."""

from __future__ import annotations

from pathlib import Path

import yaml

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
SAMPLE_APP = EXAMPLES / "sample-app"
LEDGER = EXAMPLES / "ledger"
STOCK = EXAMPLES / "stock"


def sample_doc(app: Path = SAMPLE_APP) -> dict:
    doc = yaml.safe_load((app / "rollout.yml").read_text())
    database, settings = doc["database"], doc["app"]
    database["migrations"] = [str(app / name) for name in database["migrations"]]
    database["transform"] = str(app / database["transform"])
    for key in ("deploy", "release"):
        if key in settings:
            settings[key] = str(app / settings[key])
    return doc
