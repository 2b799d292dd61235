import re

import orchestrator.cli.main  # noqa: F401  (imports every module that could define one)
from orchestrator import errors
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


def drawn_tree() -> dict[str, str]:
    """The tree drawn in errors.py's docstring: class name -> its parent's name."""
    parents: dict[str, str] = {}
    stack: list[tuple[int, str]] = []
    for line in errors.__doc__.splitlines():
        found = re.match(r"^( *)((?:[│ ]   )*)(?:[├└]── )?([A-Z]\w+)\s", line + " ")
        if not found or not line.startswith("    "):
            continue
        depth = len(found[1]) + len(found[2]) + (4 if "── " in line else 0)
        while stack and stack[-1][0] >= depth:
            stack.pop()
        if stack or found[3] != "Exception":  # a root drawn alone derives from Exception
            parents[found[3]] = stack[-1][1] if stack else "Exception"
        stack.append((depth, found[3]))
    return parents


def test_errors_py_draws_every_exception_class_under_its_parent():
    def walk(cls: type) -> list[type]:
        return [c for sub in cls.__subclasses__() for c in (sub, *walk(sub))]

    defined = {c for c in vars(errors).values()
               if isinstance(c, type) and issubclass(c, BaseException)
               and c.__module__ == errors.__name__}
    ours = [c for c in walk(Exception) if c.__module__.startswith("orchestrator")]
    # Every exception class of the package is defined in errors.py ...
    assert {f"{c.__module__}.{c.__name__}" for c in ours} == {
        f"{errors.__name__}.{c.__name__}" for c in defined}
    # ... and drawn there, under its real parent.
    assert drawn_tree() == {c.__name__: c.__bases__[0].__name__ for c in defined}
