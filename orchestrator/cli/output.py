"""How the CLI talks: progress to stderr, results to stdout, JSON when asked."""

from __future__ import annotations

import json
import sys
from typing import Any

from rich.console import Console
from rich.markup import escape

# Tables stay whole when piped (CI logs, `make demo | tee`), not cut to 80 columns.
err = Console(stderr=True, highlight=False, width=None if sys.stderr.isatty() else 160)
out = Console(highlight=False, width=None if sys.stdout.isatty() else 160)


def say(message: str) -> None:
    err.print(f"[dim]greenswap:[/dim] {escape(message)}", soft_wrap=True)


def emit_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, indent=2, sort_keys=True, default=str) + "\n")
