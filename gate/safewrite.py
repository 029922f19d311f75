"""Writing files without following links: every file the gate writes goes through here.

Reports, BOMs, attestations, waivers, `init`'s release.yaml and the decision log are
often written into directories a pull request controls. A symlink planted at the
output name would make the gate write (as the CI user) wherever the link points, so:

- the final name is never followed: a symlink (or anything but a regular file) there
  is refused with a one-line reason;
- the data goes to a new temporary file in the same directory (created with O_EXCL and
  O_NOFOLLOW, relative to the directory opened once) and is renamed over the name: a
  link swapped in meanwhile is replaced, never written through, and a reader never
  sees half a file; a hard-linked target keeps its other names' content;
- appending (the decision log) opens with O_NOFOLLOW and accepts only a regular file.
"""

from __future__ import annotations

import contextlib
import errno
import os
import secrets
import stat
from pathlib import Path

from gate.errors import InputError

_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
_DIRECTORY = getattr(os, "O_DIRECTORY", 0)
_CLOEXEC = getattr(os, "O_CLOEXEC", 0)


class UnsafeWriteError(InputError):
    """The path names a link or a special file, or exists when it must not."""


def _refuse_existing(path: Path, dfd: int, overwrite: bool, what: str) -> None:
    try:
        st = os.stat(path.name, dir_fd=dfd, follow_symlinks=False)
    except FileNotFoundError:
        return
    if stat.S_ISLNK(st.st_mode):
        raise UnsafeWriteError(
            f"{path}: is a symbolic link; the gate never writes {what} through a link",
            hint="Remove the link or choose another output path.",
        )
    if not stat.S_ISREG(st.st_mode):
        raise UnsafeWriteError(f"{path}: exists and is not a regular file; {what} not written")
    if not overwrite:
        raise UnsafeWriteError(f"{path}: already exists", hint="Use --force to overwrite it.")


def refuse_link(path: Path, what: str = "the file") -> None:
    """Before a long run: refuse now an output path that write_file would refuse later."""
    path = Path(path)
    if path.is_symlink():
        raise UnsafeWriteError(f"{path}: is a symbolic link; the gate never writes {what} through a link")
    if path.exists() and not path.is_file():
        raise UnsafeWriteError(f"{path}: exists and is not a regular file; {what} not written")


def write_file(
    path: Path, data: bytes | str, *, what: str = "the file", overwrite: bool = True, mode: int = 0o644
) -> None:
    """Write `data` to exactly `path` (see the module docstring); UnsafeWriteError or
    InputError with a one-line reason when it cannot."""
    raw = data.encode("utf-8") if isinstance(data, str) else data
    path = Path(path)
    if not path.name or path.name in (".", ".."):
        raise InputError(f"{path}: not a file name")
    parent = path.parent
    try:
        parent.mkdir(parents=True, exist_ok=True)
        dfd = os.open(parent, os.O_RDONLY | _DIRECTORY | _CLOEXEC)
    except OSError as exc:
        raise InputError(f"{path}: cannot write {what}: {exc.strerror or exc}") from None
    tmp = f".{path.name}.{secrets.token_hex(6)}.tmp"
    try:
        _refuse_existing(path, dfd, overwrite, what)
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | _NOFOLLOW | _CLOEXEC, mode, dir_fd=dfd)
        try:
            view = memoryview(raw)
            while view:
                view = view[os.write(fd, view) :]
            os.fsync(fd)
        finally:
            os.close(fd)
        if overwrite:
            os.replace(tmp, path.name, src_dir_fd=dfd, dst_dir_fd=dfd)
        else:
            # link() fails when the name exists, so a file (or link) created meanwhile is kept.
            os.link(tmp, path.name, src_dir_fd=dfd, dst_dir_fd=dfd, follow_symlinks=False)
    except FileExistsError:
        raise UnsafeWriteError(f"{path}: already exists", hint="Use --force to overwrite it.") from None
    except OSError as exc:
        raise InputError(f"{path}: cannot write {what}: {exc.strerror or exc}") from None
    finally:
        with contextlib.suppress(OSError):
            os.unlink(tmp, dir_fd=dfd)
        os.close(dfd)


def open_append(path: Path, *, what: str = "the file", mode: int = 0o640) -> int:
    """An O_APPEND descriptor on a regular file at exactly `path` (created if missing)."""
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_RDWR | os.O_APPEND | os.O_CREAT | _NOFOLLOW | os.O_NONBLOCK | _CLOEXEC, mode)
    except OSError as exc:
        if exc.errno in (errno.ELOOP, errno.EMLINK):
            raise UnsafeWriteError(
                f"{path}: is a symbolic link; the gate never writes {what} through a link"
            ) from None
        raise InputError(f"{path}: cannot open {what}: {exc.strerror or exc}") from None
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise UnsafeWriteError(f"{path}: is not a regular file; {what} not written")
    os.set_blocking(fd, True)
    return fd
