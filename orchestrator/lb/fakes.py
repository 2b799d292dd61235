"""Load balancers in memory, for unit tests and the rehearsal: they record every
call in order, on a timeline they may share with a FakeSync."""

from __future__ import annotations

import time
from collections.abc import Sequence

from orchestrator.lb.base import BACKENDS, Answers, backend_for


class FakeLoadBalancer:
    def __init__(self, live: str = "blue") -> None:
        self.live = live
        self.held = False
        self.events: list[str] = []
        self.busy: dict[str, int] = {"blue": 0, "green": 0}
        self.answers: dict[str, Answers] = {"blue": Answers(0, 0, 0), "green": Answers(0, 0, 0)}

    def live_color(self) -> str:
        return self.live

    def flip(self, color: str, release: bool = False) -> float:
        backend_for(color)
        self.live = color
        self.events.append(f"flip {color}")
        if release:
            self.release()
        return time.monotonic()

    def hold(self) -> None:
        self.held = True
        self.events.append("hold")

    def release(self) -> None:
        self.held = False
        self.events.append("release")

    def inflight(self, color: str) -> int:
        return self.busy[color]

    def responses(self, color: str) -> Answers:
        return self.answers[color]

    def wait_healthy(self, color: str, count: int, deadline_s: float) -> dict[str, str]:
        return {f"{color}-{n}": "UP" for n in range(count)}

    def close(self) -> None:
        self.events.append("close")


class FakeWeightedLoadBalancer:
    """An LB with weights and no hold, as an ALB's listener is."""

    def __init__(self, live: str = "blue") -> None:
        self.shares = {color: 100 if color == live else 0 for color in BACKENDS}
        self.answers: dict[str, Answers] = {c: Answers(0, 0, 0) for c in BACKENDS}

    def live_color(self) -> str:
        return max(self.shares, key=lambda c: self.shares[c])

    def flip(self, color: str, release: bool = False) -> float:
        self.shift(color, 100)
        return time.monotonic()

    def weights(self) -> dict[str, int]:
        return dict(self.shares)

    def shift(self, color: str, percent: int) -> None:
        backend_for(color)
        self.shares = {c: percent if c == color else 100 - percent for c in BACKENDS}

    def responses(self, color: str) -> Answers:
        return self.answers[color]

    def wait_healthy(self, color: str, count: int, deadline_s: float) -> dict[str, str]:
        return {f"{color}-{n}": "healthy" for n in range(count)}

    def close(self) -> None:
        pass


class FakeAdminAPI:
    """Answers from a script, {command prefix: answer}; records every command."""

    def __init__(self, answers: dict[str, str], name: str = "lb-1") -> None:
        self.name = name
        self.answers = answers
        self.commands: list[str] = []

    def ask(self, commands: Sequence[str]) -> list[str]:
        self.commands.extend(commands)
        return [next((a for p, a in self.answers.items() if c.startswith(p)), "")
                for c in commands]

    def close(self) -> None:
        pass
