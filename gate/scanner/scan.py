"""Analyse files: identify each by content, dispatch to its analyser, collect issues.

This is the one entry point the `model-files` check and `model-gate scan` share.
"""

from __future__ import annotations

import os
import struct
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from gate.scanner.identify import HEAD_LARGE, identify, needs_more
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
from gate.scanner.stream import OverLimit, Truncated

BY_MAGIC = frozenset(
    {
        Format.ZIP,
        Format.TORCH_LEGACY,
        Format.NUMPY,
        Format.GGUF,
        Format.HDF5,
        Format.GZIP,
        Format.BZIP2,
        Format.XZ,
        Format.JOBLIB_ZFILE,
        Format.ZLIB,
        Format.LZMA,
        Format.PICKLE,
        Format.SAFETENSORS,
        Format.ONNX,
        Format.DATA,
    }
)


def dispatch(target: Target, ctx: Context) -> None:
    fmt = identify(target.head, target.size, target.name)
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


def analyse_file(info: FileInfo, settings: Settings) -> Result:
    """Analyse one file. Raises AnalysisError when it cannot be read or a parser library is missing."""
    result = Result(path=info.display)
    ctx = Context(settings, result, dispatch)
    head = info.head
    try:
        # The inventory's first bytes settle every format with a magic number; only text,
        # tar and unknown content need a longer look.
        if needs_more(head, info.size) and identify(head, info.size, info.path.name) not in BY_MAGIC:
            with open(info.path, "rb") as fh:
                head = fh.read(HEAD_LARGE)
        target = Target("", info.size, head, _opener(info.path), info.path, info.path.name, 0)
        dispatch(target, ctx)
    except OSError as exc:
        raise AnalysisError(f"{info.display}: cannot read: {exc.strerror or exc}") from exc
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
