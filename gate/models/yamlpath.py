"""Where in a YAML document: a path of keys and indexes, and how it is written in messages."""

from __future__ import annotations

import json
import re

YamlPath = tuple[str | int, ...]

_PLAIN_KEY = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]*$")


def format_path(path: YamlPath) -> str:
    """('a', 0, 'b c') -> 'a[0]["b c"]': keys from hostile files cannot break the line."""
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        elif _PLAIN_KEY.match(str(part)):
            out += f".{part}" if out else str(part)
        else:
            out += f"[{json.dumps(str(part))[:80]}]"
    return out or "(top level)"
