"""The CLI's contract with operators: one-line errors, documented exit codes."""

import pytest

from orchestrator.cli.main import main


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
