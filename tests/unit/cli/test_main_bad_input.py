"""No traceback from any `greenswap` command on bad input: each one, given a broken
argument (a lab name that is not one, a config file that is not UTF-8, a DSN that
is not one, a transform that does not exist), exits 1 or 3 with one `error:` line,
before it touches anything. A new command must add its case here."""

from __future__ import annotations

import click
import pytest

from orchestrator.cli.main import cli, main

NOT_A_DSN = "nonsense"


def leaves(group: click.Group, path=()):
    for name, command in group.commands.items():
        if isinstance(command, click.Group):
            yield from leaves(command, (*path, name))
        else:
            yield " ".join((*path, name))


def broken(tmp_path) -> dict[str, list[str]]:
    config = tmp_path / "rollout.yml"
    config.write_bytes(b"environment: caf\xe9\n")  # not UTF-8
    transform = str(tmp_path / "missing.py")
    lab = ["--name", "Not A Lab"]
    return {
        "lab up": lab, "lab status": lab, "lab down": lab, "lab env": lab, "lab demo": lab,
        "lab add": ["app", *lab], "lab remove": ["blue-app-1", *lab],
        "init": [str(tmp_path / "new"), "--blue", NOT_A_DSN, "--green", NOT_A_DSN],
        "replay run": ["--source", NOT_A_DSN, "--target", NOT_A_DSN, "--transform", transform],
        "replay verify": ["--blue", NOT_A_DSN, "--green", NOT_A_DSN, "--transform", transform],
        "replay drop": ["--source", NOT_A_DSN, "--target", NOT_A_DSN, "--transform", transform],
        "replay sequences": ["--source", NOT_A_DSN, "--target", NOT_A_DSN, "--transform",
                             transform],
        "replay status": ["--source", NOT_A_DSN, "--target", NOT_A_DSN],
        "transform check": [transform, "--blue", NOT_A_DSN, "--green", NOT_A_DSN],
        **{verb: ["-c", str(config)] for verb in (
            "db prepare", "window status", "schedule install", "schedule remove", "report",
            "plan", "rollout", "status", "resume", "rollback", "abort", "history")},
        "unlock": ["-c", str(config), "--reason", "test"],
    }


def test_every_command_has_a_broken_case(tmp_path):
    assert sorted(leaves(cli)) == sorted(broken(tmp_path))


@pytest.mark.parametrize("command", sorted(leaves(cli)))
def test_a_command_on_broken_input_is_one_line(command, tmp_path, capsys):
    args = broken(tmp_path)[command]
    with pytest.raises(SystemExit) as exited:
        main([*command.split(), *args])
    out = capsys.readouterr()
    assert exited.value.code in (1, 3), out
    errors = [line for line in out.err.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "Traceback" not in out.err + out.out, out
    assert not (tmp_path / "new").exists()


@pytest.mark.parametrize("seconds", ["-1", "nan", "inf", "ten", "1e9"])
def test_resume_refuses_a_bake_that_is_not_a_number_of_seconds(seconds, tmp_path, capsys):
    config = tmp_path / "rollout.yml"
    config.write_text(f"environment: shop\nstate_dir: {tmp_path / 'state'}\n")
    with pytest.raises(SystemExit) as exited:
        main(["resume", "-c", str(config), "--bake-s", seconds])
    out = capsys.readouterr()
    assert exited.value.code in (1, 2, 3), out
    errors = [line for line in out.err.splitlines() if line.lower().startswith("error:")]
    assert len(errors) == 1 and "--bake-s" in errors[0] and "Traceback" not in out.err, out
    assert not (tmp_path / "state").exists()  # nothing written
