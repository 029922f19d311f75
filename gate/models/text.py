"""Text read from a release as models hold it: file names with bytes that are not UTF-8 made encodable.

The escapes are gate.escape's (which builds every output format's escaping on them).
"""

from __future__ import annotations

import re
from typing import Any

_SURROGATE = re.compile("[\ud800-\udfff]")
_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def escape_char(ch: str) -> str:
    code = ord(ch)
    if ch in _NAMED:
        return _NAMED[ch]
    if 0xDC80 <= code <= 0xDCFF:  # a byte that was not UTF-8, kept by surrogateescape
        return f"\\x{code - 0xDC00:02x}"
    if code <= 0xFF:
        return f"\\x{code:02x}"
    return f"\\u{code:04x}"


def unsurrogate(text: str) -> str:
    """A file name read with surrogateescape (bytes that are not UTF-8) as encodable text:
    each such byte becomes `\\xNN`. Other text is returned unchanged."""
    if not _SURROGATE.search(text):  # the common case, at C speed
        return text
    return _SURROGATE.sub(lambda m: escape_char(m.group()), text)


def unsurrogate_deep(value: Any, depth: int = 0) -> Any:
    """unsurrogate() over strings, dict keys and values, lists and tuples (bounded depth)."""
    if isinstance(value, str):
        return unsurrogate(value)
    if depth > 50:
        return value
    if isinstance(value, dict):
        return {unsurrogate_deep(k, depth + 1): unsurrogate_deep(v, depth + 1) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return type(value)(unsurrogate_deep(v, depth + 1) for v in value)
    return value
