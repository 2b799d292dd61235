from orchestrator.errors import (
    EXIT_INPUT,
    EXIT_PRIVILEGE,
    ConfigError,
    GreenswapError,
    HostKeyMismatchError,
    PrivilegeError,
)


def test_one_line_has_message_and_next_step():
    err = ConfigError("--subnet", "lies outside 198.18.0.0/15")
    line = err.one_line()
    assert line.startswith("--subnet: lies outside")
    assert "(next: " in line
    assert "\n" not in line
    assert err.exit_code == EXIT_INPUT


def test_multiline_messages_are_folded_to_one_line():
    assert "\n" not in GreenswapError("a\nb", "c\n d").one_line()


def test_exit_codes_follow_the_tree():
    assert PrivilegeError("x").exit_code == EXIT_PRIVILEGE
    assert HostKeyMismatchError("x").exit_code == 1
    assert isinstance(HostKeyMismatchError("x"), GreenswapError)
