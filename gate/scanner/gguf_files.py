"""GGUF (llama.cpp): the metadata is parsed by a small bounded reader; chat templates are analysed.

The tensor data is never read. A template that reaches Python internals is
the known route to code execution in loaders that render templates outside a
sandbox.
"""

from __future__ import annotations

import struct
from typing import Any

from gate.scanner.interface import Context, Issue, IssueKind, Target
from gate.scanner.stream import Stream, Truncated

SCALARS = {
    0: "<B",
    1: "<b",
    2: "<H",
    3: "<h",
    4: "<I",
    5: "<i",
    6: "<f",
    7: "<?",
    10: "<Q",
    11: "<q",
    12: "<d",
}
STRING, ARRAY = 8, 9
MAX_KEYS = 1_000_000
MAX_ARRAY = 50_000_000
TEMPLATE_KEYS = ("tokenizer.chat_template",)
MAX_TENSORS = 10_000_000
# ggml type -> (elements per block, bytes per block), for the types llama.cpp writes.
GGML_BLOCKS = {
    0: (1, 4),
    1: (1, 2),
    2: (32, 18),
    3: (32, 20),
    6: (32, 22),
    7: (32, 24),
    8: (32, 34),
    9: (32, 36),
    10: (256, 84),
    11: (256, 110),
    12: (256, 144),
    13: (256, 176),
    14: (256, 210),
    15: (256, 292),
    24: (1, 1),
    25: (1, 2),
    26: (1, 4),
    27: (1, 8),
    28: (1, 8),
    30: (1, 2),
}


class _Bad(Exception):
    pass


def analyse(target: Target, ctx: Context) -> None:
    where = target.display
    lim = ctx.limits
    with target.open() as fh:
        s = Stream(fh, lim.max_header_bytes + 24, size=target.size)
        try:
            meta, tensors = _read(s, lim.max_template_bytes)
            _check_tensors(meta, tensors, s.pos, target.size)
        except _Bad as exc:
            ctx.add(Issue(IssueKind.MALFORMED, f"GGUF metadata: {exc}", member=where, offset=s.pos))
            return
        except Truncated as exc:
            ctx.add(
                Issue(IssueKind.MALFORMED, f"GGUF metadata is truncated: {exc}", member=where, offset=s.pos)
            )
            return
        except struct.error as exc:
            ctx.add(Issue(IssueKind.MALFORMED, f"GGUF metadata: {exc}", member=where, offset=s.pos))
            return
        finally:
            ctx.result.bytes_read += s.bytes_read
    from gate.scanner.templates import check_template

    for key, value in meta.items():
        is_template = key == "tokenizer.chat_template" or key.startswith("tokenizer.chat_template.")
        if is_template and isinstance(value, str):
            check_template(value, ctx, where, f"metadata key '{key}'")


def _string(s: Stream, keep: int) -> str | None:
    (n,) = struct.unpack("<Q", s.read(8))
    if n > keep:
        s.skip(n)
        return None
    return s.read(n).decode("utf-8", "replace")


def _value(s: Stream, vtype: int, keep: int) -> Any:
    if vtype in SCALARS:
        fmt = SCALARS[vtype]
        return struct.unpack(fmt, s.read(struct.calcsize(fmt)))[0]
    if vtype == STRING:
        return _string(s, keep)
    if vtype == ARRAY:
        (itype,) = struct.unpack("<I", s.read(4))
        (n,) = struct.unpack("<Q", s.read(8))
        if n > MAX_ARRAY:
            raise _Bad(f"array of {n} items")
        if itype in SCALARS:
            s.skip(n * struct.calcsize(SCALARS[itype]))
            return None
        if itype == STRING:
            for _ in range(n):
                (m,) = struct.unpack("<Q", s.read(8))
                s.skip(m)
            return None
        raise _Bad(f"array of unsupported type {itype}")
    raise _Bad(f"unknown value type {vtype}")


def _check_tensors(
    meta: dict[str, Any], tensors: list[tuple[str, int, int, int]], header_end: int, size: int
) -> None:
    align = meta.get("general.alignment", 32)
    if not isinstance(align, int) or align <= 0 or align & (align - 1):
        raise _Bad("general.alignment is not a power of two")
    start = (header_end + align - 1) // align * align
    data_len = size - start
    for name, count, gtype, offset in tensors:
        if offset % align:
            raise _Bad(f"tensor '{name}' is not aligned")
        block = GGML_BLOCKS.get(gtype)
        nbytes = (count + block[0] - 1) // block[0] * block[1] if block else 0
        if offset + nbytes > data_len:
            raise _Bad(f"tensor '{name}' runs past the end of the file")


def _read(s: Stream, keep: int) -> tuple[dict[str, Any], list[tuple[str, int, int, int]]]:
    if s.read(4) != b"GGUF":
        raise _Bad("bad magic")
    (version,) = struct.unpack("<I", s.read(4))
    if version not in (2, 3):
        raise _Bad(f"unsupported version {version}")
    (ntensors,) = struct.unpack("<Q", s.read(8))
    if ntensors > MAX_TENSORS:
        raise _Bad(f"{ntensors} tensors")
    (nkv,) = struct.unpack("<Q", s.read(8))
    if nkv > MAX_KEYS:
        raise _Bad(f"{nkv} metadata keys")
    out: dict[str, Any] = {}
    for _ in range(nkv):
        key = _string(s, 65536)
        if key is None:
            raise _Bad("metadata key longer than 64 KiB")
        (vtype,) = struct.unpack("<I", s.read(4))
        val = _value(s, vtype, keep if key.startswith("tokenizer.chat_template") else 4096)
        if key.startswith("tokenizer.chat_template") and vtype == STRING and val is None:
            raise _Bad(f"'{key}' is longer than the template limit")
        out[key] = val
    tensors: list[tuple[str, int, int, int]] = []
    for _ in range(ntensors):
        name = _string(s, 65536)
        if name is None:
            raise _Bad("tensor name longer than 64 KiB")
        (ndim,) = struct.unpack("<I", s.read(4))
        if ndim > 8:
            raise _Bad(f"tensor '{name}' has {ndim} dimensions")
        count = 1
        for d in struct.unpack(f"<{ndim}Q", s.read(8 * ndim)):
            count *= d
        gtype, offset = struct.unpack("<IQ", s.read(12))
        tensors.append((name, count, gtype, offset))
    return out, tensors
