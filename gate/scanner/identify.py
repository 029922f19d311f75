"""Decide what a file is from its bytes. Names are hints only for plain text.

A file can be several things at once: loaders look in different places (torch.load
tries a tar header at offset 0 first, pickle.load reads opcodes from offset 0, zip
readers find the central directory from the end). `identify_all` lists every
format read from the head; `scan.dispatch` adds a zip found by its end record.
"""

from __future__ import annotations

import io
import struct

from gate.scanner.interface import Context, Format, Limits, Result, Settings
from gate.scanner.stream import OverLimit, Stream, Truncated

HEAD_SMALL = 16  # what the release inventory records
HEAD_LARGE = 512  # enough for a tar header
LEGACY_TORCH_MAGIC = bytes.fromhex("8a0a6cfc9c46f9206aa85019")
ONNX_MODEL_TAGS = frozenset({0x12, 0x1A, 0x22, 0x28, 0x32, 0x3A, 0x42, 0x4A, 0x52, 0x62, 0x72})


# What the head alone says when nothing reads it as a model format: no loader claim.
NO_CLAIM = frozenset({Format.TEXT, Format.UNKNOWN, Format.EMPTY})


def needs_more(head: bytes, size: int) -> bool:
    """Whether identification could change with more than the first bytes."""
    return len(head) < min(size, HEAD_LARGE)


TAR_BLOCK = 512


def _checksum_field_parses(field: bytes) -> bool:
    """Whether tarfile's `nti` accepts the checksum field (done the same way: NUL-terminated ASCII
    read by int(..., 8), or base-256), so `tarfile`, slow to import, is consulted only then."""
    if field[:1] in (b"\x80", b"\xff"):
        return True
    try:
        int(field.split(b"\0", 1)[0].decode("ascii").strip() or "0", 8)
    except (UnicodeDecodeError, ValueError):
        return False
    return True


def is_tar_header(head: bytes) -> bool:
    """Whether `tarfile` reads the first 512 bytes as a member header (its checksum rule, any tar
    dialect: v7 without the `ustar` magic included). torch.load tries exactly this first."""
    if len(head) < TAR_BLOCK or not _checksum_field_parses(head[148:156]):
        return False
    import tarfile

    try:
        tarfile.TarInfo.frombuf(head[:TAR_BLOCK], "utf-8", "surrogateescape")
    except (tarfile.HeaderError, ValueError, OverflowError):
        return False
    return True


def identify_all(head: bytes, size: int, name: str = "") -> list[Format]:
    """Every format that some loader reads from the start of these bytes, most telling first."""
    first = _by_head(head, size, name)
    if not is_tar_header(head):
        return [first]
    if first in NO_CLAIM or first is Format.TORCH_TAR:
        return [Format.TORCH_TAR]
    # torch.load checks the zip magic before trying tar; everything else comes after tar.
    return [first, Format.TORCH_TAR] if first is Format.ZIP else [Format.TORCH_TAR, first]


def identify(head: bytes, size: int, name: str = "") -> Format:
    """The main format of a file whose first bytes are `head` (up to 512 of them)."""
    return identify_all(head, size, name)[0]


def _by_head(head: bytes, size: int, name: str) -> Format:
    if size == 0 or not head:
        return Format.EMPTY
    h = head
    if h.startswith((b"PK\x03\x04", b"PK\x05\x06")):
        return Format.ZIP
    if h[:1] == b"\x80" and len(h) >= 14 and h[2:14] == LEGACY_TORCH_MAGIC:
        return Format.TORCH_LEGACY
    if h.startswith(b"\x93NUMPY"):
        return Format.NUMPY
    if h.startswith(b"GGUF"):
        return Format.GGUF
    if h.startswith(b"\x89HDF\r\n\x1a\n"):
        return Format.HDF5
    if h.startswith(b"\x1f\x8b"):
        return Format.GZIP
    if h.startswith(b"BZh") and h[3:4].isdigit():
        return Format.BZIP2
    if h.startswith(b"\xfd7zXZ\x00"):
        return Format.XZ
    if h.startswith(b"ZF0x"):
        return Format.JOBLIB_ZFILE
    if len(h) >= 2 and h[0] == 0x78 and (h[0] * 256 + h[1]) % 31 == 0:
        return Format.ZLIB
    if _looks_lzma_alone(h):
        return Format.LZMA
    if h.startswith((b"\x89PNG\r\n\x1a\n", b"\xff\xd8\xff", b"GIF87a", b"GIF89a")):
        return Format.DATA
    if name.lower().endswith(".model") and h[:1] == b"\x0a":  # sentencepiece ModelProto
        return Format.DATA
    if h[:1] == b"\x80" and len(h) >= 2 and 2 <= h[1] <= 5:
        return Format.PICKLE
    if len(h) >= 9 and size >= 10:
        (n,) = struct.unpack("<Q", h[:8])
        if 2 <= n < 2**40 and h[8:9] == b"{":
            return Format.SAFETENSORS
    if _looks_onnx(h):
        return Format.ONNX
    text = _as_text(h)
    if text is not None:
        stripped = text.lstrip("\ufeff \t\r\n")
        lname = name.lower()
        if lname.endswith((".jinja", ".jinja2", ".j2")):
            return Format.JINJA
        if lname.endswith(".py"):
            return Format.PYTHON
        if stripped[:1] in ("{", "["):
            return Format.JSON
        if _probe_pickle(h, size, text=True):
            return Format.PICKLE
        return Format.TEXT
    if _probe_pickle(h, size):
        return Format.PICKLE
    return Format.UNKNOWN


def _looks_lzma_alone(h: bytes) -> bool:
    if len(h) < 13 or h[0] != 0x5D:
        return False
    dict_size = int.from_bytes(h[1:5], "little")
    unpacked = int.from_bytes(h[5:13], "little")
    return dict_size >= 4096 and (unpacked == 2**64 - 1 or unpacked < 2**48)


def _looks_onnx(h: bytes) -> bool:
    if len(h) < 4 or h[0] != 0x08:
        return False
    v = h[1]
    if not 1 <= v <= 30:
        return False
    return h[2] in ONNX_MODEL_TAGS


def _as_text(h: bytes) -> str | None:
    if b"\x00" in h:
        return None
    for cut in range(4):
        try:
            return h[: len(h) - cut].decode("utf-8")
        except UnicodeDecodeError:
            continue
    return None


def _probe_pickle(head: bytes, size: int, text: bool = False) -> bool:
    """Whether the first bytes read as a pickle (protocols 0 and 1 have no magic number).

    This only names the format. Whether a file would run code under pickle.load is not decided
    here: every file whose first byte an unpickler accepts is walked as a pickle whatever it is
    called (`scan.dispatch`, `pickles.analyse_as_pickle_too`).
    """
    from gate.scanner import pickle_walker as pw

    if head[0] not in pw.FIRST_OPCODES:
        return False
    ctx = Context(Settings(allowlist=frozenset(), limits=Limits()), Result(""), lambda t, c: None)
    w = pw.Walker(Stream(io.BytesIO(head)), ctx, "")
    try:
        w.run()
        return True
    except Truncated:
        # The head ran out, not necessarily the pickle: several opcodes read cleanly up to there.
        # Text needs more: a pickle made of text builds something (item additions, calls).
        if text and not w.out.calls:
            return False
        return w.out.opcodes >= 4 or (len(head) >= size and w.out.opcodes >= 2)
    except (pw.Malformed, OverLimit):
        return False
