"""Every malformed config is refused by `greenswap plan` (and so by `rollout`, which
loads it the same way) with exit 3 and one short line naming the field or the file,
and nothing written: one case per class of mistake."""

from __future__ import annotations

import pytest
import yaml

from orchestrator.cli.main import main
from tests.sample_app import sample_doc


def sample(tmp_path, change) -> bytes:
    doc = sample_doc()
    doc["state_dir"] = str(tmp_path / "state")
    change(doc)
    return yaml.safe_dump(doc).encode()


def text(body: str):
    return lambda _tmp: body.encode()


def edit(change):
    return lambda tmp: sample(tmp, change)


def put(path: list, value):
    def change(doc):
        *parents, last = path
        for key in parents:
            doc = doc[key]
        doc[last] = value
    return change


CASES = {
    "not UTF-8": (lambda tmp: sample(tmp, lambda d: None) + b"\n# caf\xe9\n", "not UTF-8"),
    "too large": (lambda tmp: b"# " + b"x" * (1 << 20) + b"\n", "bytes, over the"),
    "empty": (text(""), "is empty"),
    "only comments": (text("# nothing here\n"), "is empty"),
    "nested deep": (text("environment: x\nprovider: " + "[" * 60 + "]" * 60 + "\n"),
                    "nested deeper than"),
    "duplicate key": (text("environment: a\nenvironment: b\n"), "appears twice"),
    "alias": (text("environment: &e a\nlb: *e\n"), "alias"),
    "not YAML": (text("environment: [\n"), "is not valid YAML"),
    "a number that is not finite": (edit(put(["bake", "duration_s"], float("inf"))),
                                    "bake.duration_s: must be a finite number"),
    "NaN": (edit(put(["cutover", "canary_interval_s"], float("nan"))),
            "cutover.canary_interval_s: must be a finite number"),
    "cron with six fields": (edit(put(["window"], {"cron": "0 0 2 * * SUN",
                                                   "duration_m": 240})), "not five"),
    "empty http check path": (edit(put(["checks", 0, "path"], "")), "checks[0].path"),
    "check path without a slash": (edit(put(["checks", 0, "path"], "health")),
                                   "checks[0].path"),
    "duplicate check names": (edit(put(["checks", 1, "name"], "app health")),
                              "checks[1].name"),
    "a secret's variable with a space": (edit(put(["database", "app_password_env"],
                                                  "APP PASSWORD")),
                                         "database.app_password_env"),
    "a migration outside the config's directory": (
        edit(put(["database", "migrations"], ["../../../etc/hostname"])),
        "database.migrations[0]: '../../../etc/hostname' leaves the config's directory"),
    "a playbook path": (edit(put(["playbooks"], {"patch": "../../etc/evil.yml"})),
                        "playbooks.patch"),
    "a playbook greenswap does not have": (edit(put(["playbooks"], {"lb": "nginx.yml"})),
                                           "playbooks.lb"),
    "a huge value": (edit(put(["environment"], "x" * 100_000)), "100,002 characters"),
    "a key that is a number": (edit(put([1], "one")), "is not a setting greenswap knows"),
}


@pytest.mark.parametrize("name", CASES)
def test_a_malformed_config_is_one_line_and_exit_3(name, tmp_path, capsys):
    make, said = CASES[name]
    path = tmp_path / "rollout.yml"
    path.write_bytes(make(tmp_path))
    with pytest.raises(SystemExit) as exited:
        main(["plan", "-c", str(path)])
    err = capsys.readouterr().err
    assert exited.value.code == 3, err
    assert err.startswith("error: ") and err.count("\n") == 1, err
    assert len(err) < 400, err
    assert said in err, err
    assert not (tmp_path / "state").exists()
