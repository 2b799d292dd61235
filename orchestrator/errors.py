"""Every exception class greenswap has: one tree for everything it tells an operator,
and three signals that never leave the module that raises them.

Every error carries a one-line message (what is wrong, naming the field, host or
phase) and a hint (what to do next). The CLI prints both on one line and exits
with the error's code; nothing else in the package decides exit codes.

    GreenswapError                      exit 1  an operation failed
    ├── InputError                      exit 3  bad input; nothing was changed
    │   ├── ConfigError                         a setting is wrong (names the field)
    │   ├── AddressConflictError                the lab subnet overlaps an interface
    │   ├── LockHeld                            another rollout holds the environment
    │   └── OutsideWindow                       no patch window is open
    ├── PrivilegeError                  exit 4  needs root
    ├── LabError                                the lab could not be built or run
    │   ├── ImageBuildError                     debootstrap or image tweaks failed
    │   └── HostBootError                       a namespace host did not come up
    ├── RemoteError                             talking to a host failed
    │   ├── HostKeyMismatchError                a host's SSH key is not the pinned one
    │   └── RemoteCommandError                  a command on a host exited non-zero
    ├── PlaybookError                           a playbook run failed on some hosts
    ├── TransformError                          the user's transform broke its contract
    │   └── RowRejected                         it raised on one row (kept as a dead letter)
    ├── ReplayError                             replay cannot go on safely
    │   └── ReplayRefused                       refused before any harm (no key, DDL, WAL cap)
    ├── LoadBalancerError                       the LB's runtime API refused or is gone
    ├── CloudError                              a cloud API call failed or a wait ran out
    ├── LeaseLost                               another greenswap took the environment over
    ├── HookFailed                              an operator's hook failed or timed out
    ├── PhaseFailed                             a runbook phase failed (carries phase, cause)
    ├── OutOfOrder                              a phase or state asked for out of order (a bug)
    ├── PreflightFailed                         blue, or what green is built from, is unfit
    ├── VerifyFailed                            green is not f(blue), or not healthy
    ├── CutoverAborted                          the swap stopped; the old colour serves
    ├── CanaryFailed                            a canary step failed; all traffic is on blue
    ├── BakeFailed                              green failed its bake; blue is live again
    ├── RollbackFailed                          the swap back did not happen; green serves
    ├── BlueIsLive                              a rollback got past its flip, unfinished
    └── NotYet                                  not a failure: a phase waits, by design
        └── RetireNotDue                        blue is kept until retire.keep_blue_s
    Exception
    ├── DeliveryRetry                           a webhook delivery worth trying again
    ├── StreamStopped                           replay asked to stop mid-wait; batch unwritten
    └── PipelineAborted                         another stage of a copy pipeline failed
"""

from __future__ import annotations

import time

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_INPUT = 3
EXIT_PRIVILEGE = 4


class GreenswapError(Exception):
    """Where it happened travels as fields too, for the journal and `--json`: the
    rollout and phase (set where a phase fails) and the host (set by what talks to
    one). The message says them for a person; the fields are for a machine."""

    exit_code = EXIT_FAILED
    default_hint = "see the message above; rerun with --verbose for details"

    def __init__(self, message: str, hint: str | None = None, *, rollout: int | None = None,
                 phase: str | None = None, host: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint or self.default_hint
        self.rollout, self.phase, self.host = rollout, phase, host

    def as_dict(self) -> dict[str, object]:
        """What `--json` prints of a failure."""
        return {"error": type(self).__name__, "message": self.message, "hint": self.hint,
                "exit_code": self.exit_code, "rollout": self.rollout, "phase": self.phase,
                "host": self.host}

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

    def as_dict(self) -> dict[str, object]:
        return {**super().as_dict(), "field": self.field}


class AddressConflictError(InputError):
    default_hint = "choose another --subnet inside 198.18.0.0/15; nothing was changed"


class LockHeld(InputError):
    default_hint = ("wait for it to finish, or if its holder is gone for good, "
                    "'greenswap unlock' (recorded in the journal)")


class OutsideWindow(InputError):
    default_hint = ("wait for the next window ('greenswap window status'), or give "
                    "--override-window REASON (recorded in the journal); nothing was changed")


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


class LeaseLost(GreenswapError):
    default_hint = "another greenswap took this environment over; check 'greenswap status'"


class HookFailed(GreenswapError):
    default_hint = "see the hook's output above; fix it or remove it from hooks: in the config"


class PhaseFailed(GreenswapError):
    """A phase failed; its cause is the message. Raised to the driver, which cleans up."""

    def __init__(self, phase: str, cause: BaseException, rollout: int | None = None) -> None:
        text = cause.message if isinstance(cause, GreenswapError) else (
            f"{type(cause).__name__}: {cause}")
        super().__init__(f"phase {phase} failed: {text}", getattr(cause, "hint", None),
                         rollout=rollout, phase=phase, host=getattr(cause, "host", None))
        self.phase: str = phase
        self.cause = cause


class OutOfOrder(GreenswapError):
    """The runbook only moves forward: a phase runs after every phase before it is
    done, and an ended rollout's state is final. Asked otherwise, it refuses."""

    default_hint = "nothing was changed; this is greenswap's bug: report it with the journal"


class PreflightFailed(GreenswapError):
    default_hint = "nothing was changed; fix what is named and run 'greenswap rollout' again"


class VerifyFailed(GreenswapError):
    default_hint = ("'greenswap status' shows each mismatching key's rows on both sides and"
                    " what the transform gives")


class CutoverAborted(GreenswapError):
    default_hint = ("the old colour is serving and unfenced; fix the cause and run "
                    "'greenswap resume'")


class CanaryFailed(GreenswapError):
    default_hint = "every request is back on blue; green is destroyed. See the journal for why"


class BakeFailed(GreenswapError):
    default_hint = "blue is live again and has every write; see the journal for why"


class RollbackFailed(GreenswapError):
    default_hint = ("green is still live and blue still fed; 'greenswap resume' tries the"
                    " rollback again")


class BlueIsLive(GreenswapError):
    """After the cutover the LB sends every request to blue: a rollback by hand got
    past its flip and its CLI died. Baking green or retiring blue would be wrong."""

    default_hint = "finish that rollback with 'greenswap rollback'; nothing was changed"


class NotYet(GreenswapError):
    """A phase that cannot finish yet, by design (blue is kept for a while): the
    rollout stops here, and a later 'resume' runs the phase again."""


class RetireNotDue(NotYet):
    """Not a failure: the rollout waits, state 'baked', until blue may go."""

    def __init__(self, due: float) -> None:
        at = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(due))
        super().__init__(f"blue is kept until {at} (retire.keep_blue_s)",
                         f"run 'greenswap resume' after {at} to retire it")
        self.due = due


# Signals: each is raised and caught inside one module, and never reaches an operator.
class DeliveryRetry(Exception):
    """A failure worth trying again: the network, or the receiver's 5xx."""


class StreamStopped(Exception):
    """Asked to stop while waiting to see a batch's transactions: the batch is
    dropped unwritten, and the position stays before it."""


class PipelineAborted(Exception):
    """Another stage of the pipeline failed; its error is the one reported."""
