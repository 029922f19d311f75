"""Compression wrappers (gzip, bz2, xz, lzma, zlib, joblib's old ZF files).

joblib compresses its pickles with these, and a pickle inside any of them is
still a pickle. The payload is decompressed as a stream, with a hard cap on
the bytes produced and on the expansion ratio (decompression bombs), then
identified by content and analysed one level deeper.
"""

from __future__ import annotations

import bz2
import gzip
import io
import lzma
import zlib
from collections.abc import Callable
from typing import IO, Any, cast

from gate.scanner.interface import Context, Format, Issue, IssueKind, Target
from gate.scanner.stream import OverLimit

ZF_HEADER = 2 + 19  # b"ZF" + the hex length field joblib wrote before 0.10


class _Zlib(io.RawIOBase):
    def __init__(self, raw: IO[bytes], skip: int = 0) -> None:
        self.raw = raw
        if skip:
            raw.read(skip)
        self.d = zlib.decompressobj()
        self.buf = b""
        self.eof = False

    def readable(self) -> bool:
        return True

    def readinto(self, b: Any) -> int:
        while not self.buf and not self.eof:
            chunk = self.raw.read(64 * 1024)
            if not chunk:
                self.buf = self.d.flush()
                self.eof = True
                break
            self.buf = self.d.decompress(chunk, 1024 * 1024)
            while self.d.unconsumed_tail and not self.buf:
                self.buf = self.d.decompress(self.d.unconsumed_tail, 1024 * 1024)
            if self.d.unconsumed_tail:
                self.raw = _Prepend(self.d.unconsumed_tail, self.raw)  # type: ignore[assignment]
            if self.d.eof:
                self.eof = True
        n = min(len(b), len(self.buf))
        b[:n] = self.buf[:n]
        self.buf = self.buf[n:]
        return n


class _Prepend:
    def __init__(self, first: bytes, rest: IO[bytes]) -> None:
        self.first = first
        self.rest = rest

    def read(self, n: int = -1) -> bytes:
        if self.first:
            out, self.first = self.first[:n], self.first[n:]
            return out
        return self.rest.read(n)


class Bounded(io.RawIOBase):
    """Caps what a decompressor may produce, absolutely and relative to its input size."""

    def __init__(self, inner: IO[bytes], cap: int, packed: int, ratio: int) -> None:
        self.inner = inner
        self.cap = cap
        self.ratio_cap = max(packed, 1) * ratio
        self.count = 0

    def readable(self) -> bool:
        return True

    def readinto(self, b: Any) -> int:
        data = self.inner.read(len(b))
        self.count += len(data)
        if self.count > self.cap:
            raise OverLimit("decompressed bytes", self.cap)
        if self.count > self.ratio_cap and self.count > 16 * 1024 * 1024:
            raise OverLimit("decompression ratio", self.ratio_cap)
        n = len(data)
        b[:n] = data
        return n


def _c(fh: Any) -> IO[bytes]:
    return cast(IO[bytes], fh)


OPENERS: dict[Format, Callable[[IO[bytes]], IO[bytes]]] = {
    Format.GZIP: lambda fh: _c(gzip.GzipFile(fileobj=fh, mode="rb")),
    Format.BZIP2: lambda fh: _c(bz2.BZ2File(fh, "rb")),
    Format.XZ: lambda fh: _c(lzma.LZMAFile(fh, "rb", format=lzma.FORMAT_XZ)),  # noqa: SIM115
    Format.LZMA: lambda fh: _c(lzma.LZMAFile(fh, "rb", format=lzma.FORMAT_ALONE)),  # noqa: SIM115
    Format.ZLIB: lambda fh: io.BufferedReader(_Zlib(fh)),
    Format.JOBLIB_ZFILE: lambda fh: io.BufferedReader(_Zlib(fh, ZF_HEADER)),
}
ERRORS = (OSError, EOFError, ValueError, lzma.LZMAError, zlib.error)


def analyse(target: Target, ctx: Context, fmt: Format) -> None:
    lim = ctx.limits

    def opener() -> IO[bytes]:
        raw = target.open()
        return io.BufferedReader(
            Bounded(OPENERS[fmt](raw), lim.max_decompressed_bytes, target.size, lim.max_compression_ratio)
        )

    where = target.display
    try:
        with opener() as fh:
            head = fh.read(512)
            total = len(head)
            # Decompress to the end once, counting: a bomb is found whatever the payload turns out to be.
            while chunk := fh.read(1024 * 1024):
                total += len(chunk)
    except OverLimit as exc:
        ctx.add(
            Issue(
                IssueKind.LIMIT,
                f"{fmt.value} payload not analysed: {exc}",
                member=where,
                evidence={"limit": exc.what},
            )
        )
        return
    except ERRORS as exc:
        ctx.add(Issue(IssueKind.MALFORMED, f"{fmt.value} data cannot be decompressed: {exc}", member=where))
        return
    inner = f"{where}!{fmt.value}" if where else f"!{fmt.value}"
    guarded = _Guarded(opener, ctx, inner, fmt)
    ctx.nested(Target(inner, total, head, guarded.open, None, target.name, target.depth + 1))


class _Guarded:
    """Opens the payload again for the nested analyser; decompression errors there become issues."""

    def __init__(self, opener: Callable[[], IO[bytes]], ctx: Context, where: str, fmt: Format) -> None:
        self.opener = opener
        self.ctx = ctx
        self.where = where
        self.fmt = fmt

    def open(self) -> IO[bytes]:
        return _ErrorsAsEnd(self.opener(), self)  # type: ignore[return-value]


class _ErrorsAsEnd(io.RawIOBase):
    """Corrupt compressed data ends the payload, with an issue, instead of escaping as a crash."""

    def __init__(self, inner: IO[bytes], g: _Guarded) -> None:
        self.inner = inner
        self.g = g

    def readable(self) -> bool:
        return True

    def readinto(self, b: Any) -> int:
        try:
            data = self.inner.read(len(b))
        except OverLimit:
            raise
        except ERRORS as exc:
            self.g.ctx.add(
                Issue(IssueKind.MALFORMED, f"{self.g.fmt.value} data is corrupt: {exc}", member=self.g.where)
            )
            return 0
        n = len(data)
        b[:n] = data
        return n

    def close(self) -> None:
        self.inner.close()
        super().close()


def analyse_gzip(target: Target, ctx: Context) -> None:
    analyse(target, ctx, Format.GZIP)


def analyse_bzip2(target: Target, ctx: Context) -> None:
    analyse(target, ctx, Format.BZIP2)


def analyse_xz(target: Target, ctx: Context) -> None:
    analyse(target, ctx, Format.XZ)


def analyse_lzma(target: Target, ctx: Context) -> None:
    analyse(target, ctx, Format.LZMA)


def analyse_zlib(target: Target, ctx: Context) -> None:
    analyse(target, ctx, Format.ZLIB)


def analyse_zfile(target: Target, ctx: Context) -> None:
    analyse(target, ctx, Format.JOBLIB_ZFILE)
