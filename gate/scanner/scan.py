"""Analyse files: identify each by content, dispatch to its analyser, collect issues.

This is the one entry point the `model-files` check and `model-gate scan` share.
"""

from __future__ import annotations

import io
import os
import struct
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from gate.scanner.identify import HEAD_LARGE, NO_CLAIM, identify_all, needs_more
from gate.scanner.interface import (
    AnalysisError,
    Context,
    Format,
    Issue,
    IssueKind,
    Result,
    Settings,
    Target,
    limit_issue,
)
from gate.scanner.pickles import analyse_as_pickle_too
from gate.scanner.registry import analyser_for
from gate.scanner.sealed import ContentChanged, Seal, Watch, sealed_opener
from gate.scanner.stream import OverLimit, Truncated

# Members and payloads up to this size are also looked at from the end (a zip's end record);
# larger ones would have to be read through to reach it (zip members and decompressed payloads
# cannot seek without reading), which would undo skipping array data by seeking inside an npz.
NESTED_TAIL_MAX = 1024 * 1024
ZIP_END = b"PK\x05\x06"
ZIP_SEARCH = 65535 + 22  # where zipfile looks for the end record: the longest comment + the record


def dispatch(target: Target, ctx: Context) -> None:
    """Analyse `target` as every format a loader would read it as; two or more is a finding too."""
    fmts = identify_all(target.head, target.size, target.name)
    if Format.ZIP not in fmts and _zip_from_end(target):
        fmts = [Format.ZIP] if fmts[0] in NO_CLAIM else [*fmts, Format.ZIP]
    if len(fmts) > 1:
        names = ", ".join(f.value for f in fmts)
        ctx.add(
            Issue(
                IssueKind.POLYGLOT,
                f"content is valid as several formats ({names}); each loader sees a different file",
                member=target.display,
                evidence={"formats": [f.value for f in fmts]},
            )
        )
    for fmt in fmts:
        _dispatch_one(fmt, target, ctx)


def _zip_from_end(target: Target) -> bool:
    """Whether zip readers (zipfile, and so Keras and numpy's npz) find an archive with members,
    wherever it starts: they search for the end-of-central-directory record from the end."""
    if target.size < 22 or (target.path is None and target.size > NESTED_TAIL_MAX):
        return False
    with target.open() as fh:
        if fh.seekable():
            # zipfile finds nothing without the record's signature in this window: looking first
            # keeps zipfile's import and parsing off every file that is not a zip.
            fh.seek(max(0, target.size - ZIP_SEARCH))
            if ZIP_END not in fh.read(ZIP_SEARCH):
                return False
            fh.seek(0)
            return _opens_as_zip(fh)
        data = fh.read(NESTED_TAIL_MAX + 1)  # a decompressed payload: bounded above
    return len(data) <= NESTED_TAIL_MAX and ZIP_END in data[-ZIP_SEARCH:] and _opens_as_zip(io.BytesIO(data))


def _opens_as_zip(fh: IO[bytes]) -> bool:
    from gate.scanner.zips import opens_as_zip

    return opens_as_zip(fh)


def _dispatch_one(fmt: Format, target: Target, ctx: Context) -> None:
    if fmt.value not in ctx.result.formats:
        ctx.result.formats.append(fmt.value)
    try:
        analyser_for(fmt)(target, ctx)
    except OverLimit as exc:
        ctx.add(limit_issue(exc, target.display))
    except (Truncated, struct.error, EOFError) as exc:
        ctx.add(
            Issue(
                IssueKind.MALFORMED,
                f"{fmt.value} data is truncated or malformed: {exc}",
                member=target.display,
            )
        )
    except RecursionError:
        ctx.add(
            Issue(
                IssueKind.LIMIT,
                "structure nests too deeply",
                member=target.display,
                evidence={"limit": "recursion"},
            )
        )
    except MemoryError:
        ctx.add(
            Issue(
                IssueKind.LIMIT,
                "analysis ran out of memory",
                member=target.display,
                evidence={"limit": "memory"},
            )
        )
    if fmt not in (Format.PICKLE, Format.TORCH_LEGACY):
        # pickle.load accepts any stream whose first opcode it accepts: judge the file as a pickle too.
        analyse_as_pickle_too(target, ctx)


@dataclass(frozen=True)
class FileInfo:
    path: Path  # on disk
    display: str  # how reports name it
    size: int
    head: bytes = b""  # first bytes if already known (the inventory's magic)
    # The inventory's hash states for this file (`gate.inventory.Seal`): when given, every byte
    # analysed is first proved to be a byte that was hashed.
    seal: Seal | None = None


def analyse_file(info: FileInfo, settings: Settings) -> Result:
    """Analyse one file. Raises AnalysisError when it cannot be read or a parser library is missing."""
    result = Result(path=info.display)
    ctx = Context(settings, result, dispatch)
    head = info.head
    watch = Watch()
    opener = _opener(info.path) if info.seal is None else sealed_opener(info.path, info.seal, watch)
    try:
        if info.seal is not None and info.seal.size != info.size:
            watch.changed = f"{info.seal.size} bytes were hashed but the file listed {info.size}"
            raise ContentChanged(watch.changed)
        # A tar header is recognised by its checksum, whatever else the first bytes say: every
        # file needs its first 512 bytes, not only the inventory's magic.
        if needs_more(head, info.size) or info.seal is not None:
            with opener() as fh:
                head = fh.read(HEAD_LARGE)
        target = Target("", info.size, head, opener, info.path, info.path.name, 0)
        dispatch(target, ctx)
    except ContentChanged:
        pass  # reported below, whoever caught it
    except OSError as exc:
        raise AnalysisError(f"{info.display}: cannot read: {exc.strerror or exc}") from exc
    if watch.changed:
        result.issues.append(
            Issue(
                IssueKind.CHANGED,
                f"the file changed while the release was checked: {watch.changed}; what was analysed is not "
                "what was hashed and verified",
                evidence={"detail": watch.changed},
            )
        )
    return result


def _opener(path: Path) -> Callable[[], IO[bytes]]:
    def open_file() -> IO[bytes]:
        return open(path, "rb")

    return open_file


def resolve_claims(results: Iterable[Result]) -> list[Result]:
    """Drop 'unrecognised' for files another file loads as raw data (ONNX external data)."""
    results = list(results)
    claimed: set[str] = set()
    for r in results:
        base = os.path.dirname(r.path)
        for c in r.claims:
            claimed.add(os.path.normpath(os.path.join(base, c)).replace(os.sep, "/"))
    for r in results:
        if r.path in claimed:
            r.issues = [i for i in r.issues if not (i.kind is IssueKind.UNRECOGNISED and not i.member)]
            r.formats.append("onnx-external-data")
    return results
