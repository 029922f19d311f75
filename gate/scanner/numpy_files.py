""".npy files (and the members of .npz archives, which are .npy files).

The header is read by numpy's own header reader when numpy is installed (it parses a Python
literal and builds a dtype; it never unpickles), and the dtype itself says whether the array
holds Python objects (`dtype.hasobject`): every spelling numpy accepts for an object dtype
('O', '|O', 'O8', 'object', structured or subarray dtypes with an object field) is caught because
numpy decides. `np.load(allow_pickle=True)` unpickles the data part of such a file, so it is
reported and walked like any other pickle. Without numpy a strict reader accepts only plain
numeric dtypes; anything else is reported as possibly holding objects (fail closed).
"""

from __future__ import annotations

import ast
import io
import re
import struct
import warnings
from dataclasses import dataclass

from gate.scanner.interface import Context, Issue, IssueKind, Target
from gate.scanner.pickle_walker import walk_all
from gate.scanner.pickles import walk_if_acting
from gate.scanner.stream import Stream, Truncated

MAGIC = b"\x93NUMPY"
# version -> (header length format, header encoding), as numpy.lib.format writes them
VERSIONS = {1: ("<H", "latin1"), 2: ("<I", "latin1"), 3: ("<I", "utf8")}
# Plain numeric dtype strings the reader without numpy understands; everything else fails closed.
_PLAIN = re.compile(r"^[<>|=]?([biufcSUV?])(\d+)$|^[<>|=]?([mM])8(\[\w+\])?$|^[<>|=]?[b?]1?$")


@dataclass(frozen=True)
class Header:
    shape: tuple[int, ...]
    has_object: bool | None  # None: could not tell (no numpy and not a plain dtype)
    itemsize: int | None


class BadHeader(Exception):
    pass


def read_header(raw: bytes, version: int) -> Header:
    """Parse the header bytes (after magic and length) as numpy's reader would."""
    try:
        import numpy  # noqa: F401
    except ImportError:
        return _read_header_plain(raw, version)
    return _read_header_numpy(raw, version)


def _read_header_numpy(raw: bytes, version: int) -> Header:
    import numpy
    from numpy.lib import format as npformat

    fmt, _ = VERSIONS[version]
    fp = io.BytesIO(MAGIC + bytes([version, 0]) + struct.pack(fmt, len(raw)) + raw)
    reader = getattr(npformat, "_read_array_header", None)
    if reader is None:
        try:
            from numpy.lib import _format_impl

            reader = getattr(_format_impl, "_read_array_header", None)
        except ImportError:
            reader = None
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            got_version = npformat.read_magic(fp)
            if reader is not None:
                shape, _fortran, dtype = reader(fp, got_version, max_header_size=len(raw) + 1)
            elif got_version == (1, 0):
                shape, _fortran, dtype = npformat.read_array_header_1_0(fp, max_header_size=len(raw) + 1)
            elif got_version == (2, 0):
                shape, _fortran, dtype = npformat.read_array_header_2_0(fp, max_header_size=len(raw) + 1)
            else:
                return _read_header_plain(raw, version)
    except (ValueError, TypeError, KeyError, SyntaxError, MemoryError, RecursionError, UnicodeError) as exc:
        raise BadHeader(f"numpy rejects the header: {str(exc).splitlines()[0][:200]}") from None
    if not isinstance(dtype, numpy.dtype):
        raise BadHeader("header does not describe a dtype")
    return Header(tuple(int(d) for d in shape), bool(dtype.hasobject), int(dtype.itemsize))


def _read_header_plain(raw: bytes, version: int) -> Header:
    _, encoding = VERSIONS[version]
    try:
        header = ast.literal_eval(raw.decode(encoding))
    except (ValueError, SyntaxError, MemoryError, RecursionError, UnicodeDecodeError):
        raise BadHeader("header is not a Python literal") from None
    if not (isinstance(header, dict) and {"descr", "shape", "fortran_order"} == header.keys()):
        raise BadHeader("header keys are not descr, fortran_order and shape")
    shape = header["shape"]
    if not (isinstance(shape, tuple) and all(isinstance(d, int) for d in shape)):
        raise BadHeader("shape is not a tuple of integers")
    descr = header["descr"]
    if isinstance(descr, str) and _PLAIN.match(descr.strip()):
        return Header(shape, False, _plain_itemsize(descr.strip()))
    return Header(shape, None, None)


def _plain_itemsize(descr: str) -> int | None:
    digits = re.search(r"\d+", descr.lstrip("<>|=")[1:] or "")
    kind = descr.lstrip("<>|=")[:1]
    if kind in "b?" and not digits:
        return 1
    if not digits:
        return None
    n = int(digits.group())
    return 4 * n if kind == "U" else n


def analyse(target: Target, ctx: Context) -> None:
    where = target.display
    with target.open() as fh:
        s = Stream(fh, size=target.size)
        try:
            magic = s.read(8)
            version = magic[6]
            if version not in VERSIONS or magic[7] != 0:
                msg = f"unknown .npy version {version}.{magic[7]}"
                ctx.add(Issue(IssueKind.MALFORMED, msg, member=where, offset=6))
                return
            fmt, _ = VERSIONS[version]
            (hlen,) = struct.unpack(fmt, s.read(struct.calcsize(fmt)))
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
            header = read_header(raw, version)
        except BadHeader as exc:
            ctx.add(Issue(IssueKind.MALFORMED, f".npy {exc}", member=where, offset=s.pos))
            return
        if any(d < 0 for d in header.shape):
            ctx.add(Issue(IssueKind.MALFORMED, ".npy shape has a negative size", member=where))
            return
        if header.has_object is not False:
            unsure = header.has_object is None
            ctx.add(
                Issue(
                    IssueKind.OBJECT_ARRAY,
                    (
                        "dtype that only numpy can interpret (numpy is not installed); it may hold Python "
                        "objects, which numpy stores as a pickle"
                        if unsure
                        else "array of Python objects: numpy stores it as a pickle and "
                        "np.load(allow_pickle=True) runs it"
                    ),
                    member=where,
                    offset=s.pos,
                )
            )
            data = Stream(fh, ctx.limits.max_pickle_bytes)
            if unsure:
                walk_if_acting(data, ctx, where)  # numeric data is no pickle: report only what would run
            else:
                walk_all(data, ctx, where)
            ctx.result.bytes_read += s.bytes_read + data.bytes_read
            return
        if header.itemsize is not None:
            expected = header.itemsize
            for d in header.shape:
                expected *= d
            left = target.size - s.pos
            if left != expected:
                ctx.add(
                    Issue(
                        IssueKind.TRAILING if left > expected else IssueKind.MALFORMED,
                        f".npy data is {left} bytes; shape and dtype say {expected}",
                        member=where,
                        offset=s.pos,
                    )
                )
        ctx.result.bytes_read += s.bytes_read
