"""numpy .npy files (and the members of .npz archives, which are .npy files).

The header is a Python literal, read with `ast.literal_eval` (which builds
only constants). An object dtype means the data part is a pickle: it is
reported and the pickle is walked like any other.
"""

from __future__ import annotations

import ast
import struct
from typing import Any

from gate.scanner.interface import Context, Issue, IssueKind, Target
from gate.scanner.pickle_walker import dtype_itemsize, walk_all
from gate.scanner.stream import Stream, Truncated


def _has_object(descr: Any) -> bool:
    if isinstance(descr, str):
        return dtype_itemsize(descr) == -1 or descr.strip().lstrip("<>|=").startswith("O")
    if isinstance(descr, (list, tuple)):
        return any(_has_object(x) for x in descr)
    return False


def _simple_size(descr: Any, shape: tuple[int, ...]) -> int | None:
    if not isinstance(descr, str):
        return None
    size = dtype_itemsize(descr)
    if size is None or size < 0:
        return None
    n = size
    for d in shape:
        n *= d
    return n


def analyse(target: Target, ctx: Context) -> None:
    where = target.display
    with target.open() as fh:
        s = Stream(fh, size=target.size)
        try:
            magic = s.read(8)
            major = magic[6]
            if major == 1:
                (hlen,) = struct.unpack("<H", s.read(2))
            elif major in (2, 3):
                (hlen,) = struct.unpack("<I", s.read(4))
            else:
                ctx.add(Issue(IssueKind.MALFORMED, f"unknown .npy version {major}", member=where, offset=6))
                return
            if hlen > ctx.limits.max_header_bytes:
                ctx.add(
                    Issue(
                        IssueKind.LIMIT,
                        f".npy header of {hlen} bytes is over the limit",
                        member=where,
                        evidence={"limit": "max_header_bytes"},
                    )
                )
                return
            raw = s.read(hlen)
        except Truncated as exc:
            ctx.add(Issue(IssueKind.MALFORMED, f".npy file is truncated: {exc}", member=where))
            return
        try:
            header = ast.literal_eval(raw.decode("latin-1" if major < 3 else "utf-8"))
        except (ValueError, SyntaxError, MemoryError, RecursionError, UnicodeDecodeError):
            ctx.add(
                Issue(IssueKind.MALFORMED, ".npy header is not a Python literal", member=where, offset=s.pos)
            )
            return
        if not (isinstance(header, dict) and {"descr", "shape"} <= header.keys()):
            ctx.add(Issue(IssueKind.MALFORMED, ".npy header lacks descr or shape", member=where))
            return
        shape = header["shape"]
        if not (isinstance(shape, tuple) and all(isinstance(d, int) and d >= 0 for d in shape)):
            ctx.add(Issue(IssueKind.MALFORMED, ".npy shape is not a tuple of sizes", member=where))
            return
        descr = header["descr"]
        if _has_object(descr):
            ctx.add(
                Issue(
                    IssueKind.OBJECT_ARRAY,
                    "array of Python objects: numpy stores it as a pickle and np.load(allow_pickle=True) "
                    "runs it",
                    member=where,
                    offset=s.pos,
                )
            )
            data_start = s.pos
            walk_all(Stream(fh, ctx.limits.max_pickle_bytes), ctx, where)
            ctx.result.bytes_read += s.bytes_read
            del data_start
            return
        expected = _simple_size(descr, shape)
        if expected is not None and target.size - s.pos != expected:
            ctx.add(
                Issue(
                    IssueKind.TRAILING if target.size - s.pos > expected else IssueKind.MALFORMED,
                    f".npy data is {target.size - s.pos} bytes; shape and dtype say {expected}",
                    member=where,
                    offset=s.pos,
                )
            )
        ctx.result.bytes_read += s.bytes_read
