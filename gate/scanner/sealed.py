"""Reading a file through the hash states its one hashing pass recorded (time of check to time of use).

The release inventory hashes every file once; the scanner reads parts of it later. Between the two
a writer can replace the file (rename over it, or rewrite it in place), and a scanner that opens the
path again reads bytes nobody hashed or signed. A `SealedFile` serves only bytes it has proved were
hashed: it reads whole chunks of the inventory's seal interval through one file descriptor,
continues the recorded sha256 state over each, and compares with the next recorded state. A chunk
that differs stops the analysis and marks the file as changed, which is a blocking finding. No
timestamps or inode numbers are trusted: they are coarse or reusable, content is not.
"""

from __future__ import annotations

import io
import os
import stat
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

CACHED_CHUNKS = 2  # zip readers alternate between the end (directory) and a member


class Seal(Protocol):
    @property
    def size(self) -> int: ...
    @property
    def interval(self) -> int: ...
    def verify(self, index: int, data: bytes | memoryview) -> bool: ...


class ContentChanged(Exception):
    """Bytes read differ from the bytes hashed. Not an OSError: analysers must not absorb it."""


@dataclass
class Watch:
    """Shared by every reader of one file: the first difference found, if any."""

    changed: str | None = None


class SealedFile(io.RawIOBase):
    def __init__(self, path: Path, seal: Seal, watch: Watch) -> None:
        super().__init__()
        # Never follow a link or wait on a FIFO that was put in the file's place after hashing.
        flags = os.O_RDONLY | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_NOFOLLOW", 0) | os.O_NONBLOCK
        try:
            self._fd = os.open(path, flags)
        except OSError as exc:
            watch.changed = watch.changed or f"the file cannot be opened again ({exc.strerror or exc})"
            raise ContentChanged(watch.changed) from None
        if not stat.S_ISREG(os.fstat(self._fd).st_mode):
            os.close(self._fd)
            watch.changed = watch.changed or "the path no longer names a regular file"
            raise ContentChanged(watch.changed)
        self._seal = seal
        self._watch = watch
        self._pos = 0
        self._cache: OrderedDict[int, bytes] = OrderedDict()

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._pos

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._pos, io.SEEK_END: self._seal.size}[whence]
        if base + offset < 0:
            raise OSError("negative seek position")
        self._pos = base + offset
        return self._pos

    def readinto(self, b: Any) -> int:
        if self._pos >= self._seal.size:
            return 0
        index, off = divmod(self._pos, self._seal.interval)
        chunk = self._chunk(index)
        n = min(len(b), len(chunk) - off)
        b[:n] = memoryview(chunk)[off : off + n]
        self._pos += n
        return n

    def _chunk(self, index: int) -> bytes:
        if index in self._cache:
            self._cache.move_to_end(index)
            return self._cache[index]
        if self._watch.changed:
            raise ContentChanged(self._watch.changed)
        start = index * self._seal.interval
        want = min(self._seal.interval, self._seal.size - start)
        parts: list[bytes] = []
        got = 0
        while got < want:
            part = os.pread(self._fd, want - got, start + got)
            if not part:
                break
            parts.append(part)
            got += len(part)
        data = b"".join(parts)
        if not self._seal.verify(index, data):
            self._watch.changed = f"bytes {start}-{start + want} are not the bytes that were hashed"
            raise ContentChanged(self._watch.changed)
        self._cache[index] = data
        if len(self._cache) > CACHED_CHUNKS:
            self._cache.popitem(last=False)
        return data

    def close(self) -> None:
        if not self.closed and hasattr(self, "_fd"):
            os.close(self._fd)
            self._cache.clear()
        super().close()


def sealed_opener(path: Path, seal: Seal, watch: Watch) -> Any:
    def open_sealed() -> io.BufferedReader:
        return io.BufferedReader(SealedFile(path, seal, watch), 64 * 1024)

    return open_sealed
