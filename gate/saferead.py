"""Reading a whole small file with a size limit that holds whatever the path names.

`stat()` then `read_bytes()` holds no limit when the path names a character device or a FIFO:
`adversarial-baseline.json -> /dev/zero` reports 0 bytes and then reads without end, and a FIFO
blocks the open itself. Here the file is opened without blocking, must be a regular file (links
are followed: a user's path may be one), and at most `limit + 1` bytes are read, so a file that
grows after it was measured is refused too.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from gate.errors import InputError

_NONBLOCK = getattr(os, "O_NONBLOCK", 0)
_CLOEXEC = getattr(os, "O_CLOEXEC", 0)


def read_bounded(path: Path, limit: int, what: str = "file") -> bytes:
    """The bytes of the regular file at `path`, at most `limit` of them; else an InputError
    naming the file and what it should have been ("baseline", "report", ...)."""
    try:
        fd = os.open(path, os.O_RDONLY | _NONBLOCK | _CLOEXEC)
    except OSError as exc:
        raise InputError(f"{path}: cannot read the {what}: {exc.strerror or exc}") from None
    except ValueError:  # a NUL in the name: no file can have it
        raise InputError(f"{path!r}: cannot read the {what}: the name holds a NUL byte") from None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise InputError(f"{path}: the {what} is not a regular file")
        if st.st_size > limit:
            raise InputError(f"{path}: the {what} is {st.st_size} bytes, over the {limit}-byte limit")
        chunks: list[bytes] = []
        got = 0
        while got <= limit:
            chunk = os.read(fd, min(1 << 20, limit + 1 - got))
            if not chunk:
                break
            chunks.append(chunk)
            got += len(chunk)
    except OSError as exc:
        raise InputError(f"{path}: cannot read the {what}: {exc.strerror or exc}") from None
    finally:
        os.close(fd)
    if got > limit:
        raise InputError(f"{path}: the {what} grew past the {limit}-byte limit while it was read")
    return b"".join(chunks)
