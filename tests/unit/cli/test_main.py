"""The CLI's contract with operators: one-line errors, documented exit codes."""

import re
from pathlib import Path

import click
import pytest

from orchestrator.cli.main import cli, main


def run_cli(capsys, *args):
    with pytest.raises(SystemExit) as exit_info:
        main(list(args))
    captured = capsys.readouterr()
    return exit_info.value.code, captured.out, captured.err


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["lab", "up", "--subnet", "10.1.0.0/24"], "--subnet: 10.1.0.0/24 lies outside"),
        (["lab", "up", "--name", "UPPER"], "--name:"),
        (["lab", "add", "web"], "role: unknown role 'web'"),
        (["lab", "add", "app", "--count", "0"], "count: 0 is out of range"),
        (["lab", "add", "app", "--color", "purple"], "color: unknown colour 'purple'"),
        (["lab", "nosuch"], "No such command"),
    ],
)
def test_bad_input_is_one_line_and_exit_3(capsys, args, needle, tmp_path, monkeypatch):
    code, out, err = run_cli(capsys, *args)
    assert code == 3
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert len(lines) == 1, err
    assert lines[0].startswith("error: ")
    assert needle in lines[0]


def test_version(capsys):
    code, out, _ = run_cli(capsys, "--version")
    assert code == 0
    assert "greenswap, version" in out


ROOT = Path(__file__).resolve().parents[3]
# A command as the docs write it: in backticks, after a venv's bin/, or inside $( ).
DOC_COMMAND = re.compile(r"(?:`|bin/|\$\()greenswap ([a-z][a-z-]*)(?: ([a-z][a-z-]*))?")


def documented_commands() -> list[tuple[str, str, str | None]]:
    files = [ROOT / "README.md", *(ROOT / "docs").glob("*.md"),
             *(ROOT / "examples").rglob("*.yml"), *(ROOT / "playbooks").glob("*.yml")]
    return [(f.relative_to(ROOT).as_posix(), m[1], m[2])
            for f in files for m in DOC_COMMAND.finditer(f.read_text())]


def test_every_command_the_docs_name_exists():
    # A stale name ('greenswap lab secrets' for 'lab env') sends an operator nowhere.
    found = documented_commands()
    assert len(found) > 20  # the pattern still matches how the docs write commands
    wrong = []
    for where, name, sub in found:
        command = cli.commands.get(name)
        if command is None:
            wrong.append(f"{where}: greenswap {name}")
        elif isinstance(command, click.Group) and sub and sub not in command.commands:
            wrong.append(f"{where}: greenswap {name} {sub}")
    assert wrong == []
