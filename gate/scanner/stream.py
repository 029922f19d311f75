"""A bounded, position-tracking reader used by the binary parsers.

Reads never allocate more than asked, a read past the end raises `Truncated`,
and skipping uses `seek` where the stream allows it, so tensor bytes are
passed over without being read.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import IO

SKIP_CHUNK = 1024 * 1024


class Truncated(Exception):
    """The stream ended inside a structure."""


class OverLimit(Exception):
    """Reading further would pass a resource bound."""

    def __init__(self, what: str, limit: int) -> None:
        super().__init__(f"{what} over the limit of {limit}")
        self.what = what
        self.limit = limit


class Stream:
    def __init__(
        self,
        fh: IO[bytes],
        limit: int | None = None,
        *,
        seekable: bool | None = None,
        size: int | None = None,
        reopen: Callable[[], IO[bytes]] | None = None,
    ) -> None:
        self.fh = fh
        # Opens the same bytes afresh from position 0, for a second reading of a stream that
        # cannot seek (a decompressed payload).
        self.reopen = reopen
        self.size = size
        self.pos = 0
        self.limit = limit
        self.bytes_read = 0
        if seekable is None:
            try:
                seekable = bool(fh.seekable())
            except (AttributeError, OSError, ValueError):
                seekable = False
        self.seekable = seekable
        self._peeked = b""

    def _check(self, n: int) -> None:
        if self.limit is not None and self.pos + n > self.limit:
            raise OverLimit("bytes to analyse", self.limit)

    def read(self, n: int) -> bytes:
        """Exactly n bytes, or `Truncated`."""
        if n < 0:
            raise Truncated("negative length")
        self._check(n)
        out = b""
        if self._peeked:
            out, self._peeked = self._peeked[:n], self._peeked[n:]
        while len(out) < n:
            chunk = self.fh.read(min(n - len(out), SKIP_CHUNK * 16))
            if not chunk:
                self.pos += len(out)
                raise Truncated(f"wanted {n} bytes at offset {self.pos - len(out)}")
            out += chunk
        self.pos += n
        self.bytes_read += n
        return out

    def read_byte(self) -> int:
        """One byte as an int, or -1 at the end (the walker's per-opcode fetch: kept cheap)."""
        if self._peeked:
            b, self._peeked = self._peeked[0], self._peeked[1:]
        else:
            if self.limit is not None and self.pos >= self.limit:
                raise OverLimit("bytes to analyse", self.limit)
            one = self.fh.read(1)
            if not one:
                return -1
            b = one[0]
        self.pos += 1
        self.bytes_read += 1
        return b

    def read_some(self, n: int) -> bytes:
        """Up to n bytes; b'' at the end."""
        try:
            self._check(n)
        except OverLimit:
            n = max(0, (self.limit or 0) - self.pos)
        if self._peeked:
            out, self._peeked = self._peeked[:n], self._peeked[n:]
        else:
            out = self.fh.read(n)
        self.pos += len(out)
        self.bytes_read += len(out)
        return out

    def peek(self, n: int) -> bytes:
        if len(self._peeked) < n:
            more = self.fh.read(n - len(self._peeked))
            self._peeked += more or b""
        return self._peeked[:n]

    def at_end(self) -> bool:
        return not self.peek(1)

    def readline(self, max_len: int = 1 << 16) -> bytes:
        """A line without its '\\n'; `Truncated` without one within max_len."""
        buf = bytearray()
        while True:
            c = self.read_some(1)
            if not c:
                raise Truncated("line not terminated")
            if c == b"\n":
                return bytes(buf)
            buf += c
            if len(buf) > max_len:
                raise Truncated("line too long")

    def seek_to(self, pos: int) -> bool:
        """Go back (or forward) to a position of this stream, to read it again; False when the
        stream cannot seek."""
        if not self.seekable:
            return False
        ahead = len(self._peeked)  # bytes taken from the file but not yet consumed
        self.fh.seek(pos - (self.pos + ahead), 1)
        self._peeked = b""
        self.pos = pos
        return True

    def skip(self, n: int) -> None:
        """Pass over n bytes; `Truncated` when fewer remain."""
        if n < 0:
            raise Truncated("negative length")
        self._check(n)
        if self._peeked:
            take = min(n, len(self._peeked))
            self._peeked = self._peeked[take:]
            self.pos += take
            n -= take
        if n == 0:
            return
        if self.seekable and self.size is not None:
            if self.pos + n > self.size:
                left = self.size - self.pos
                raise Truncated(f"wanted {n} bytes, {left} left")
            self.fh.seek(n, 1)
            self.pos += n
            return
        left = n
        while left:
            chunk = self.fh.read(min(left, SKIP_CHUNK))
            if not chunk:
                self.pos += n - left
                raise Truncated(f"wanted {n} bytes, {n - left} left")
            left -= len(chunk)
        self.pos += n
