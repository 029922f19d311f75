"""PyTorch's pre-zip checkpoints: the legacy pickle sequence and the older tar layout.

Both interleave pickles with raw storage bytes. Every pickle is walked; the
storage bytes are skipped using the sizes the pickles declare, and any byte
left over at the end is reported, so nothing in the file goes unexamined by
accident.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from typing import IO, TYPE_CHECKING, Any

from gate.scanner.interface import Context, Issue, IssueKind, Target, limit_issue
from gate.scanner.pickle_walker import Const, Global, Seq, WalkOutcome, walk
from gate.scanner.stream import OverLimit, Stream, Truncated

if TYPE_CHECKING:
    import tarfile  # imported where a tar is read: legacy pickle checkpoints do not pay for it

ELEMENT_SIZE = {
    "DoubleStorage": 8,
    "FloatStorage": 4,
    "HalfStorage": 2,
    "BFloat16Storage": 2,
    "LongStorage": 8,
    "IntStorage": 4,
    "ShortStorage": 2,
    "CharStorage": 1,
    "ByteStorage": 1,
    "BoolStorage": 1,
    "ComplexDoubleStorage": 16,
    "ComplexFloatStorage": 8,
    "QInt8Storage": 1,
    "QUInt8Storage": 1,
    "QInt32Storage": 4,
    "QUInt4x2Storage": 1,
    "QUInt2x4Storage": 1,
    "UntypedStorage": 1,
}


class LayoutError(Exception):
    pass


def _element_size(storage_type: Any) -> int:
    if isinstance(storage_type, Global) and storage_type.module == "torch":
        size = ELEMENT_SIZE.get(storage_type.name)
        if size:
            return size
    raise LayoutError("storage of an unknown type")


def _walk_required(s: Stream, ctx: Context, member: str) -> WalkOutcome:
    out = walk(s, ctx, member, s.pos)
    if not out.complete:
        raise LayoutError("checkpoint stops inside a pickle")
    return out


def analyse_legacy(target: Target, ctx: Context) -> None:
    with target.open() as fh:
        # The size lets `skip` seek over the storages instead of reading them.
        s = Stream(fh, size=target.size)
        try:
            _legacy(s, ctx, target.display)
        except LayoutError as exc:
            ctx.add(
                Issue(
                    IssueKind.MALFORMED,
                    f"legacy PyTorch checkpoint: {exc}",
                    member=target.display,
                    offset=s.pos,
                )
            )
        except Truncated as exc:
            ctx.add(
                Issue(
                    IssueKind.MALFORMED,
                    f"legacy PyTorch checkpoint is truncated: {exc}",
                    member=target.display,
                    offset=s.pos,
                )
            )
        except OverLimit as exc:
            ctx.add(limit_issue(exc, target.display))
        ctx.result.bytes_read += s.bytes_read


def _legacy(s: Stream, ctx: Context, member: str) -> None:
    for _ in range(3):  # magic number, protocol version, sys_info
        _walk_required(s, ctx, member)
    main = _walk_required(s, ctx, member)
    sizes: dict[str, int] = {}
    for pid in main.persistent_ids:
        if isinstance(pid, Seq) and len(pid.items) >= 3:
            tag, stype, key = pid.items[0], pid.items[1], pid.items[2]
            if isinstance(tag, Const) and tag.value == "storage" and isinstance(key, Const):
                sizes[str(key.value)] = _element_size(stype)
    keys_out = _walk_required(s, ctx, member)
    keys = keys_out.result
    if not (isinstance(keys, Seq) and keys.kind == "list" and not keys.dropped):
        raise LayoutError("storage key list is missing")
    for k in keys.items:
        if not isinstance(k, Const) or str(k.value) not in sizes:
            raise LayoutError("storage key that no tensor references")
        (count,) = struct.unpack("<q", s.read(8))
        if count < 0:
            raise LayoutError("negative storage size")
        s.skip(count * sizes[str(k.value)])
    if not s.at_end():
        ctx.add(
            Issue(
                IssueKind.TRAILING,
                "bytes after the last storage, which PyTorch never reads",
                member=member,
                offset=s.pos,
            )
        )


def analyse_tar(target: Target, ctx: Context) -> None:
    import tarfile

    with target.open() as fh:
        try:
            tf = tarfile.open(fileobj=fh, mode="r:")  # noqa: SIM115 - closed by the with below
        except (tarfile.TarError, OSError, EOFError) as exc:
            ctx.add(Issue(IssueKind.MALFORMED, f"tar archive cannot be read: {exc}", member=target.display))
            return
        with tf:
            _tar(target, tf, ctx)


def _tar(target: Target, tf: tarfile.TarFile, ctx: Context) -> None:
    import tarfile

    prefix = f"{target.display}/" if target.display else ""
    members = []
    try:
        for m in tf:
            members.append(m)
            if len(members) > ctx.limits.max_archive_members:
                ctx.add(
                    Issue(
                        IssueKind.LIMIT,
                        "tar archive has too many members",
                        member=target.display,
                        evidence={"limit": "max_archive_members"},
                    )
                )
                return
    except (tarfile.TarError, OSError, EOFError) as exc:
        ctx.add(Issue(IssueKind.MALFORMED, f"tar archive is damaged: {exc}", member=target.display))
    names = {m.name for m in members}
    is_torch = {"pickle", "storages", "tensors"} <= names
    if is_torch:
        ctx.result.formats.append("torch-tar")
    for m in members:
        where = prefix + m.name
        if not m.isfile():
            if m.issym() or m.islnk() or m.isdev():
                ctx.add(
                    Issue(
                        IssueKind.ARCHIVE,
                        f"tar member is a link or device ({m.linkname or m.type!r})",
                        member=where,
                    )
                )
            continue
        fh = tf.extractfile(m)
        if fh is None:
            continue
        if is_torch and m.name in ("pickle", "sys_info", "storages", "tensors"):
            s = Stream(fh, m.size, size=m.size)
            try:
                if m.name in ("pickle", "sys_info"):
                    _walk_required(s, ctx, where)
                elif m.name == "storages":
                    _tar_storages(s, ctx, where)
                else:
                    _tar_tensors(s, ctx, where)
                if not s.at_end():
                    ctx.add(
                        Issue(IssueKind.TRAILING, "bytes after the last record", member=where, offset=s.pos)
                    )
            except LayoutError as exc:
                ctx.add(
                    Issue(IssueKind.MALFORMED, f"legacy tar checkpoint: {exc}", member=where, offset=s.pos)
                )
            except (Truncated, struct.error) as exc:
                ctx.add(Issue(IssueKind.MALFORMED, f"member is truncated: {exc}", member=where, offset=s.pos))
            except OverLimit as exc:
                ctx.add(limit_issue(exc, where))
            ctx.result.bytes_read += s.bytes_read
            continue
        head = fh.read(512)
        info = m
        ctx.nested(
            Target(
                where,
                info.size,
                head,
                _reopener(tf, info),
                None,
                info.name.rsplit("/", 1)[-1],
                target.depth + 1,
            )
        )


def _reopener(tf: tarfile.TarFile, info: tarfile.TarInfo) -> Callable[[], IO[bytes]]:
    def reopen() -> IO[bytes]:
        fh = tf.extractfile(info)
        if fh is None:  # pragma: no cover - regular files always have a reader
            raise OSError("tar member has no data")
        return fh

    return reopen


def _count(out: WalkOutcome) -> int:
    if isinstance(out.result, Const) and isinstance(out.result.value, int) and out.result.value >= 0:
        return int(out.result.value)
    raise LayoutError("record count is not a number")


def _tar_storages(s: Stream, ctx: Context, where: str) -> None:
    n = _count(_walk_required(s, ctx, where))
    for _ in range(n):
        rec = _walk_required(s, ctx, where).result
        if not (isinstance(rec, Seq) and len(rec.items) == 3):
            raise LayoutError("storage record is not (key, location, type)")
        size = _element_size(rec.items[2])
        (count,) = struct.unpack("<q", s.read(8))
        if count < 0:
            raise LayoutError("negative storage size")
        s.skip(count * size)
    _walk_required(s, ctx, where)  # storage views: (target, root, offset, numel) records


def _tar_tensors(s: Stream, ctx: Context, where: str) -> None:
    n = _count(_walk_required(s, ctx, where))
    for _ in range(n):
        _walk_required(s, ctx, where)
        (ndim,) = struct.unpack("<i", s.read(4))
        if not 0 <= ndim <= 64:
            raise LayoutError("tensor with an impossible number of dimensions")
        s.skip(4 + 16 * ndim + 8)
