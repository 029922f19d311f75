"""Protocol-0 text arguments (INT, LONG, STRING, memo keys, name lines) read as CPython's
unpicklers read them."""

from __future__ import annotations

import codecs
import re

from gate.scanner.pickle_walker.values import Malformed
from gate.scanner.stream import Stream, Truncated


def read_line(s: Stream, max_len: int = 1 << 16) -> tuple[bytes, bool]:
    """A line without its newline, and whether it had one (False: the data ended first)."""
    buf = bytearray()
    while True:
        c = s.read_some(1)
        if not c:
            return bytes(buf), False
        if c == b"\n":
            return bytes(buf), True
        buf += c
        if len(buf) > max_len:
            raise Truncated("line too long")


# Text arguments (protocol 0) are parsed as the unpicklers parse them. CPython has two: the C one
# (pickle.load, torch, numpy) and the Python one (joblib's NumpyUnpickler). The walker accepts what
# either accepts, so it never stops where a loader goes on. The C one reads an INT with the C
# library's strtol (base 0: octal '010', hex, leading whitespace, a NUL ends the number) and, when
# that does not consume the line, with int(line, 0) (underscores, '0o', '0b', surrounding
# whitespace); the Python one uses int(line, 0) only. LONG drops one 'L' before the newline, then
# int(line, 0); GET/PUT use int(line, 10). In the C reader a NUL byte ends the text.
_STRTOL = re.compile(rb"[ \t\n\v\f\r]*([+-]?)(?:0[xX]([0-9a-fA-F]+)|(0[0-7]*)|([1-9][0-9]*))\Z")


def _c_str(line: bytes) -> bytes:
    return line.split(b"\0", 1)[0]


def _py_int(text: bytes, base: int) -> int | None:
    try:
        return int(text, base)
    except ValueError:
        return None


def text_int(line: bytes) -> int:
    if line[:1] == b"\0":
        return 0  # strtol reads no digits and stops at the NUL, which the C reader accepts as the end
    text = _c_str(line)
    m = _STRTOL.match(text)
    if m:
        sign, hexd, octd, decd = m.groups()
        v = int(hexd, 16) if hexd else int(octd, 8) if octd else int(decd)
        return -v if sign == b"-" else v
    for cand in (text, line):
        got = _py_int(cand, 0)
        if got is not None:
            return got
    raise Malformed("INT argument is not a number")


def text_long(line: bytes) -> int:
    if line.endswith(b"L"):
        line = line[:-1]
    for cand in (_c_str(line), line):
        v = _py_int(cand, 0)
        if v is not None:
            return v
    raise Malformed("LONG argument is not a number")


def text_memo_key(line: bytes) -> int:
    for cand in (_c_str(line), line):
        v = _py_int(cand, 10)
        if v is not None:
            return v
    raise Malformed("memo key is not a number")


def text_string(line: bytes) -> str:
    """STRING: quoted by the same character at both ends, backslash escapes as in Python 2 str."""
    if not (len(line) >= 2 and line[:1] == line[-1:] and line[:1] in (b"'", b'"')):
        raise Malformed("STRING argument is not quoted")
    try:
        raw = codecs.escape_decode(line[1:-1])[0]
    except ValueError:
        raise Malformed("STRING argument has a bad escape") from None
    return raw.decode("utf-8", "surrogateescape")
