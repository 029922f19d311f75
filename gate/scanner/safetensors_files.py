"""safetensors: an 8-byte header length, a JSON header, then tensor bytes.

The layout is checked against the specification: the header is a bounded JSON
object without duplicate keys; every tensor has a known dtype, a shape of
non-negative integers and offsets inside the data area; the byte count equals
the element count times the dtype size; tensors do not overlap and leave no
holes. The tensor bytes themselves are never read.
"""

from __future__ import annotations

import json
import struct
from typing import Any

from gate.scanner.interface import Context, Issue, IssueKind, Target

DTYPE_BITS = {
    "BOOL": 8,
    "U8": 8,
    "I8": 8,
    "F8_E5M2": 8,
    "F8_E4M3": 8,
    "F8_E8M0": 8,
    "I16": 16,
    "U16": 16,
    "F16": 16,
    "BF16": 16,
    "I32": 32,
    "U32": 32,
    "F32": 32,
    "F64": 64,
    "I64": 64,
    "U64": 64,
    "C64": 64,
    "F4": 4,
    "F6_E2M3": 6,
    "F6_E3M2": 6,
}


class _Dup(Exception):
    pass


def _no_dups(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in pairs:
        if k in out:
            raise _Dup(k)
        out[k] = v
    return out


def analyse(target: Target, ctx: Context) -> None:
    where = target.display

    def bad(msg: str, **ev: Any) -> None:
        ctx.add(Issue(IssueKind.SAFETENSORS, msg, member=where, evidence=ev))

    with target.open() as fh:
        first = fh.read(8)
        if len(first) < 8:
            bad("file is shorter than the 8-byte header length")
            return
        (n,) = struct.unpack("<Q", first)
        if n > ctx.limits.max_header_bytes:
            ctx.add(
                Issue(
                    IssueKind.LIMIT,
                    f"header of {n} bytes is over the {ctx.limits.max_header_bytes} limit",
                    member=where,
                    evidence={"limit": "max_header_bytes"},
                )
            )
            return
        if 8 + n > target.size:
            bad(f"header length {n} runs past the end of the file")
            return
        raw = fh.read(n)
        ctx.result.bytes_read += 8 + len(raw)
    try:
        header = json.loads(raw.decode("utf-8"), object_pairs_hook=_no_dups)
    except _Dup as exc:
        bad(f"header has the key '{exc}' twice", key=str(exc))
        return
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        bad(f"header is not valid JSON: {str(exc)[:120]}")
        return
    if not isinstance(header, dict):
        bad("header is not a JSON object")
        return
    data_len = target.size - 8 - n
    spans: list[tuple[int, int, str]] = []
    for name, info in header.items():
        if name == "__metadata__":
            if not isinstance(info, dict) or not all(isinstance(v, str) for v in info.values()):
                bad("__metadata__ must map strings to strings")
            continue
        if not isinstance(info, dict) or set(info) != {"dtype", "shape", "data_offsets"}:
            bad(f"tensor '{name}' must have exactly dtype, shape and data_offsets", tensor=name)
            continue
        dtype, shape, offs = info["dtype"], info["shape"], info["data_offsets"]
        if dtype not in DTYPE_BITS:
            bad(f"tensor '{name}' has unknown dtype {str(dtype)[:40]!r}", tensor=name)
            continue
        if not (
            isinstance(shape, list)
            and all(isinstance(d, int) and not isinstance(d, bool) and d >= 0 for d in shape)
        ):
            bad(f"tensor '{name}' has a shape that is not a list of sizes", tensor=name)
            continue
        if not (
            isinstance(offs, list)
            and len(offs) == 2
            and all(isinstance(o, int) and not isinstance(o, bool) for o in offs)
        ):
            bad(f"tensor '{name}' has data_offsets that are not two integers", tensor=name)
            continue
        begin, end = offs
        if not 0 <= begin <= end <= data_len:
            bad(
                f"tensor '{name}' offsets [{begin}, {end}] leave the data area of {data_len} bytes",
                tensor=name,
            )
            continue
        count = 1
        for d in shape:
            count *= d
        bits = count * DTYPE_BITS[dtype]
        if bits % 8 or end - begin != bits // 8:
            bad(
                f"tensor '{name}' spans {end - begin} bytes; shape {shape} of {dtype} needs {bits / 8:g}",
                tensor=name,
            )
            continue
        spans.append((begin, end, name))
    spans.sort()
    pos = 0
    for begin, end, name in spans:
        if begin < pos:
            bad(f"tensor '{name}' overlaps the tensor before it", tensor=name)
        elif begin > pos:
            bad(f"{begin - pos} bytes before tensor '{name}' belong to no tensor", tensor=name)
        pos = max(pos, end)
    if (spans and pos != data_len) or (not spans and data_len):
        bad(f"{data_len - pos} bytes after the last tensor belong to no tensor")
