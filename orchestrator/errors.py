"""One exception tree for everything greenswap tells an operator.

Every error carries a one-line message (what is wrong, naming the field, host or
phase) and a hint (what to do next). The CLI prints both on one line and exits
with the error's code; nothing else in the package decides exit codes.

    GreenswapError                      exit 1  an operation failed
    ├── InputError                      exit 3  bad input; nothing was changed
    │   ├── ConfigError                         a setting is wrong (names the field)
    │   └── AddressConflictError                the lab subnet overlaps an interface
    ├── PrivilegeError                  exit 4  needs root
    ├── LabError                                the lab could not be built or run
    │   ├── ImageBuildError                     debootstrap or image tweaks failed
    │   └── HostBootError                       a namespace host did not come up
    ├── RemoteError                             talking to a host failed
    │   ├── HostKeyMismatchError                a host's SSH key is not the pinned one
    │   └── RemoteCommandError                  a command on a host exited non-zero
    ├── PlaybookError                           a playbook run failed on some hosts
    ├── TransformError                          the user's transform broke its contract
    ├── ReplayError                             replay cannot go on safely
    │   └── ReplayRefused                       refused before any harm (no key, DDL, WAL cap)
    ├── LoadBalancerError                       the LB's runtime API refused or is gone
    └── CloudError                              a cloud API call failed or a wait ran out
"""

from __future__ import annotations

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_INPUT = 3
EXIT_PRIVILEGE = 4


class GreenswapError(Exception):
    exit_code = EXIT_FAILED
    default_hint = "see the message above; rerun with --verbose for details"

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint or self.default_hint

    def one_line(self) -> str:
        text = f"{self.message} (next: {self.hint})"
        return " ".join(text.split())


class InputError(GreenswapError):
    exit_code = EXIT_INPUT
    default_hint = "fix the input and run the command again; nothing was changed"


class ConfigError(InputError):
    def __init__(self, field: str, problem: str, hint: str | None = None) -> None:
        super().__init__(f"{field}: {problem}", hint)
        self.field = field


class AddressConflictError(InputError):
    default_hint = "choose another --subnet inside 198.18.0.0/15; nothing was changed"


class PrivilegeError(GreenswapError):
    exit_code = EXIT_PRIVILEGE
    default_hint = "run it as root (for example with sudo); nothing was changed"


class LabError(GreenswapError):
    default_hint = "run 'greenswap lab down' to clean up, then 'greenswap lab up' again"


class ImageBuildError(LabError):
    default_hint = "check that the Debian mirror is reachable; the cache was left untouched"


class HostBootError(LabError):
    pass


class RemoteError(GreenswapError):
    default_hint = "check that the host is up ('greenswap lab status') and reachable"


class HostKeyMismatchError(RemoteError):
    default_hint = (
        "the host may have been replaced or intercepted; verify it, then re-pin its key "
        "(for lab hosts: 'greenswap lab down' and 'lab up')"
    )


class RemoteCommandError(RemoteError):
    pass


class PlaybookError(GreenswapError):
    default_hint = "read the failed task above; the playbook's artifacts are kept for inspection"


class TransformError(GreenswapError):
    default_hint = "fix the transform module; see docs/transform.md for the contract"


class RowRejected(TransformError):
    """The transform raised on one row: replay stops there, and the row is kept (the
    replayer writes it to its dead-letter file) for the operator to look at."""

    def __init__(self, message: str, table: str, key: tuple, row: object) -> None:
        super().__init__(message)
        self.table, self.key, self.row = table, key, row


class ReplayError(GreenswapError):
    default_hint = "the replayer stopped; fix the cause and run it again: it resumes from green"


class ReplayRefused(ReplayError):
    default_hint = "nothing was changed on green; fix the cause and start again"


class LoadBalancerError(GreenswapError):
    default_hint = "check that HAProxy runs on the LB host and its admin socket exists"


class CloudError(GreenswapError):
    default_hint = ("check credentials, quotas and the resources named above; what greenswap "
                    "made is tagged greenswap:owner=greenswap")
