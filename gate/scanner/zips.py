"""Zip archives: PyTorch checkpoints, TorchScript, numpy .npz, Keras v3 and any other zip.

The archive structure is checked from the central directory and each member's
local header (names that differ, encryption, unusual flag bits, duplicate
names, compression ratios of a bomb). Members are then identified by content
and analysed one level deeper; PyTorch tensor storages referenced by the
checkpoint's pickle are skipped by structure.
"""

from __future__ import annotations

import contextlib
import io
import shutil
import struct
import tempfile
import zipfile
from collections import Counter
from collections.abc import Iterator
from typing import IO, cast

from gate.scanner.interface import Context, Issue, IssueKind, Target
from gate.scanner.pickle_walker import Persistent, Seq, walk_all
from gate.scanner.stream import Stream

ALLOWED_FLAGS = 0x0008 | 0x0800 | 0x0002 | 0x0004  # data descriptor, UTF-8 names, deflate options
DRAIN_MAX = 64 * 1024 * 1024  # members read to the end so zipfile verifies their CRC
# TorchScript pickles are read by torch.jit's own unpickler, which resolves these
# itself (classes compiled from the archive's code, list builders) and imports nothing.
TORCHSCRIPT_NAMES = ("__torch__.", "torch.jit._pickle.")
LOCAL_HEADER = struct.Struct("<4sHHHHHIIIHH")
SPOOL_IN_MEMORY = 16 * 1024 * 1024


def opens_as_zip(fh: IO[bytes]) -> bool:
    """Whether `zipfile` finds an end record (searching from the end, as every zip reader does) and
    reads a central directory with at least one member from it, whatever comes before the archive."""
    try:
        if not zipfile.is_zipfile(fh):
            return False
        fh.seek(0)
        with zipfile.ZipFile(fh) as zf:
            return bool(zf.infolist())
    except (zipfile.BadZipFile, OSError, ValueError, EOFError, NotImplementedError, struct.error):
        return False


def analyse(target: Target, ctx: Context) -> None:
    with target.open() as raw, _seekable(raw) as fh:
        try:
            zf = zipfile.ZipFile(fh)
        except (zipfile.BadZipFile, OSError, ValueError, EOFError, NotImplementedError) as exc:
            ctx.add(Issue(IssueKind.MALFORMED, f"zip archive cannot be read: {exc}", member=target.display))
            return
        with zf:
            _archive(target, zf, fh, ctx)


@contextlib.contextmanager
def _seekable(fh: IO[bytes]) -> Iterator[IO[bytes]]:
    """zipfile needs to seek (the directory is at the end): a decompressed payload, already bounded by
    the decompression limits, is spooled to memory or a temporary file first."""
    if fh.seekable():
        yield fh
        return
    with tempfile.SpooledTemporaryFile(max_size=SPOOL_IN_MEMORY) as spool:
        shutil.copyfileobj(fh, spool, 1024 * 1024)
        spool.seek(0)
        yield cast(IO[bytes], spool)


def _archive(target: Target, zf: zipfile.ZipFile, fh: IO[bytes], ctx: Context) -> None:
    infos = zf.infolist()
    lim = ctx.limits
    if len(infos) > lim.max_archive_members:
        ctx.add(
            Issue(
                IssueKind.LIMIT,
                f"archive has {len(infos)} members, over {lim.max_archive_members}",
                member=target.display,
                evidence={"limit": "max_archive_members"},
            )
        )
        return
    prefix = f"{target.display}/" if target.display else ""
    first = min((i.header_offset for i in infos), default=0)
    if first > 0:
        # zipfile (Keras, anything reading from the end) skips these bytes; torch.load and np.load
        # check for a zip at offset 0 and read them as something else.
        ctx.add(
            Issue(
                IssueKind.ARCHIVE,
                f"{first} bytes come before the first zip member; zip readers skip them, other loaders "
                "read them",
                member=target.display,
                evidence={"prefix_bytes": first},
            )
        )
    for name, n in Counter(i.filename for i in infos).items():
        if n > 1:
            ctx.add(
                Issue(
                    IssueKind.ARCHIVE,
                    f"member '{name}' appears {n} times; loaders disagree on which wins",
                    member=prefix + name,
                    name=name,
                )
            )
    bad: set[str] = set()
    total = 0
    for info in infos:
        where = prefix + info.filename
        if info.flag_bits & 0x1:
            ctx.add(Issue(IssueKind.ARCHIVE, "member is encrypted and cannot be inspected", member=where))
            bad.add(info.filename)
        elif info.flag_bits & ~ALLOWED_FLAGS:
            ctx.add(
                Issue(
                    IssueKind.ARCHIVE,
                    f"member has unusual zip flag bits 0x{info.flag_bits:04x}",
                    member=where,
                    evidence={"flag_bits": info.flag_bits},
                )
            )
        problem = _local_header(fh, info)
        if problem:
            ctx.add(Issue(IssueKind.ARCHIVE, problem, member=where, offset=info.header_offset))
            bad.add(info.filename)
        if info.compress_type != zipfile.ZIP_STORED and info.file_size > 1024 * 1024:
            ratio = info.file_size / max(info.compress_size, 1)
            if ratio > lim.max_compression_ratio:
                ctx.add(
                    Issue(
                        IssueKind.LIMIT,
                        f"member expands {ratio:.0f}x (decompression bomb); not analysed",
                        member=where,
                        evidence={"limit": "max_compression_ratio", "ratio": round(ratio)},
                    )
                )
                bad.add(info.filename)
                continue
        if info.compress_type != zipfile.ZIP_STORED:
            total += info.file_size
    if total > lim.max_decompressed_bytes:
        ctx.add(
            Issue(
                IssueKind.LIMIT,
                f"archive expands to {total} bytes, over the limit",
                member=target.display,
                evidence={"limit": "max_decompressed_bytes"},
            )
        )
        return
    names = [i.filename for i in infos]
    records = sorted({n[: -len("data.pkl")] for n in names if n == "data.pkl" or n.endswith("/data.pkl")})
    torchscript = any("/code/" in f"/{n}" and n.endswith(".py") for n in names) or any(
        n.endswith("constants.pkl") for n in names
    )
    if records:
        ctx.result.formats.append("torchscript" if torchscript else "torch-zip")
    skip: set[str] = set()
    for rec in records:
        pkl = zf.getinfo(rec + "data.pkl")
        if pkl.filename in bad:
            continue
        keys = _walk_member(zf, pkl, prefix, ctx, torchscript)
        for key in keys:
            skip.add(f"{rec}data/{key}")
        skip.add(pkl.filename)
    if torchscript:
        code = [n for n in names if n.endswith(".py") and "/code/" in f"/{n}"]
        if code:
            ctx.add(
                Issue(
                    IssueKind.TORCHSCRIPT,
                    f"TorchScript archive carries {len(code)} code file(s) that run when it is loaded",
                    member=target.display,
                    evidence={"code_files": code[:50]},
                )
            )
    keras = "config.json" in names and ("metadata.json" in names or "model.weights.h5" in names)
    if keras:
        ctx.result.formats.append("keras")
        from gate.scanner import keras_files

        info = zf.getinfo("config.json")
        if info.filename not in bad:
            if info.file_size > lim.max_json_bytes:
                ctx.add(
                    Issue(
                        IssueKind.LIMIT,
                        "Keras config.json is too large to analyse",
                        member=prefix + "config.json",
                        evidence={"limit": "max_json_bytes"},
                    )
                )
            else:
                keras_files.analyse_config_bytes(zf.read(info), prefix + "config.json", ctx)
            skip.add("config.json")
    for info in infos:
        if info.filename in skip or info.filename in bad or info.is_dir():
            continue
        if info.filename.endswith((".pkl", ".debug_pkl")) and records:
            _walk_member(zf, info, prefix, ctx, torchscript)
            continue
        if torchscript and info.filename.endswith(".py"):
            continue  # reported above as embedded code
        _nested_member(zf, info, prefix, target.depth, ctx)


def _local_header(fh: IO[bytes], info: zipfile.ZipInfo) -> str | None:
    try:
        fh.seek(info.header_offset)
        raw = fh.read(LOCAL_HEADER.size)
        if len(raw) < LOCAL_HEADER.size:
            return "local header is truncated"
        sig, _ver, flags, method, _t, _d, _crc, _cs, _us, nlen, _elen = LOCAL_HEADER.unpack(raw)
        if sig != b"PK\x03\x04":
            return "local header signature is missing"
        local_name = fh.read(nlen)
    except OSError as exc:
        return f"local header cannot be read: {exc}"
    central = info.orig_filename.encode("utf-8" if info.flag_bits & 0x800 else "cp437", "replace")
    if local_name != central:
        return (
            f"local header names '{local_name.decode('utf-8', 'replace')}' but the central directory "
            f"names '{info.orig_filename}'"
        )
    if method != info.compress_type:
        return "local header and central directory disagree on the compression method"
    if (flags ^ info.flag_bits) & 0x1:
        return "local header and central directory disagree on encryption"
    return None


def _walk_member(
    zf: zipfile.ZipFile, info: zipfile.ZipInfo, prefix: str, ctx: Context, torchscript: bool
) -> list[str]:
    """Walk a pickle member; return the storage keys its persistent ids reference."""
    where = prefix + info.filename
    keys: list[str] = []
    crc_problem: str | None = None
    try:
        with zf.open(info) as fh:
            if info.file_size <= DRAIN_MAX:
                # Small members (every real data.pkl) are read whole: fast byte access, and zipfile
                # verifies the CRC on the last byte. The pickle is walked even when the CRC fails.
                data = fh.read(max(info.file_size - 1, 0))
                try:
                    data += fh.read()
                except zipfile.BadZipFile as exc:
                    crc_problem = str(exc)
                s = Stream(io.BytesIO(data), ctx.limits.max_pickle_bytes, size=len(data))
            else:
                s = Stream(fh, ctx.limits.max_pickle_bytes, seekable=False, reopen=lambda: zf.open(info))
            outs = walk_all(s, ctx, where, TORCHSCRIPT_NAMES if torchscript else ())
            ctx.result.bytes_read += s.bytes_read
    except zipfile.BadZipFile as exc:
        ctx.add(Issue(IssueKind.ARCHIVE, f"member fails its integrity check: {exc}", member=where))
        return keys
    except (OSError, EOFError, ValueError, NotImplementedError) as exc:
        ctx.add(Issue(IssueKind.MALFORMED, f"member cannot be read: {exc}", member=where))
        return keys
    if crc_problem:
        ctx.add(Issue(IssueKind.ARCHIVE, f"member fails its integrity check: {crc_problem}", member=where))
    for out in outs:
        for pid in out.persistent_ids:
            key = _storage_key(pid)
            if key is not None:
                keys.append(key)
    return keys


def _storage_key(pid: object) -> str | None:
    if isinstance(pid, Seq) and len(pid.items) >= 3:
        from gate.scanner.pickle_walker import Const

        tag, key = pid.items[0], pid.items[2]
        if isinstance(tag, Const) and tag.value == "storage" and isinstance(key, Const):
            return str(key.value)
    if isinstance(pid, Persistent):
        return None
    return None


def _nested_member(zf: zipfile.ZipFile, info: zipfile.ZipInfo, prefix: str, depth: int, ctx: Context) -> None:
    where = prefix + info.filename
    try:
        with zf.open(info) as fh:
            head = fh.read(512)
    except zipfile.BadZipFile as exc:
        ctx.add(Issue(IssueKind.ARCHIVE, f"member fails its integrity check: {exc}", member=where))
        return
    except (OSError, EOFError, ValueError, NotImplementedError) as exc:
        ctx.add(Issue(IssueKind.MALFORMED, f"member cannot be read: {exc}", member=where))
        return
    ctx.nested(
        Target(
            where,
            info.file_size,
            head,
            lambda: zf.open(info),
            None,
            info.filename.rsplit("/", 1)[-1],
            depth + 1,
        )
    )
