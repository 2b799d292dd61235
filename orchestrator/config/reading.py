"""The config file, from bytes to a YAML document, with every malformed file refused
in one line that names the file (and the line) and says what to do: too large, not
UTF-8, empty, not YAML, a duplicated key (YAML keeps the last one silently), an
alias (a document can grow without bound through them), or nested deeper than any
setting is."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from yaml.composer import ComposerError
from yaml.constructor import ConstructorError

from orchestrator.config.section import shown
from orchestrator.errors import ConfigError

MAX_BYTES = 1 << 20  # a config is a few KiB; 1 MiB is far past any real one
MAX_DEPTH = 12  # the deepest setting is 4 levels down


class _Strict(yaml.SafeLoader):
    """PyYAML's safe loader, refusing aliases, duplicate keys and deep nesting."""

    depth = 0

    def compose_node(self, parent, index):
        if self.check_event(yaml.AliasEvent):
            event = self.peek_event()
            raise ComposerError(None, None, f"an alias (*{event.anchor}) is not allowed;"
                                " write the value out", event.start_mark)
        self.depth += 1
        try:
            if self.depth > MAX_DEPTH:
                raise ComposerError(None, None, f"nested deeper than {MAX_DEPTH} levels",
                                    self.peek_event().start_mark)
            return super().compose_node(parent, index)
        finally:
            self.depth -= 1

    def construct_mapping(self, node, deep=False):
        seen = set()
        for key_node, _value in node.value:
            key = self.construct_object(key_node, deep=True)
            if key in seen:
                raise ConstructorError(None, None, f"the key {shown(key)} appears twice",
                                       key_node.start_mark)
            seen.add(key)
        return super().construct_mapping(node, deep)


def read_document(path: Path) -> Any:
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ConfigError(str(path), f"cannot be read: {exc.strerror}") from None
    if len(data) > MAX_BYTES:
        raise ConfigError(str(path), f"is {len(data):,} bytes, over the {MAX_BYTES:,} a config"
                          " may have", "is it the right file?")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(str(path), f"is not UTF-8 text (byte {exc.start})",
                          "save it as UTF-8") from None
    try:
        raw = yaml.load(text, Loader=_Strict)  # noqa: S506 - _Strict is a SafeLoader
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark else ""
        problem = getattr(exc, "problem", None)
        raise ConfigError(str(path), f"is not valid YAML{where}"
                          + (f": {problem}" if problem else "")) from None
    if raw is None:
        raise ConfigError(str(path), "is empty", "start from examples/sample-app/rollout.yml")
    return raw
