from __future__ import annotations

import io
from pathlib import Path

from gate.scanner.allowlist import effective, shipped
from gate.scanner.interface import Context, Issue, Limits, Result, Settings
from gate.scanner.scan import FileInfo, analyse_file, dispatch
from gate.scanner.stream import Stream


def settings(**limits: int) -> Settings:
    return Settings(allowlist=effective(), limits=Limits(**limits), reference_only=shipped().reference_only)


def scan_path(p: Path, **limits: int) -> Result:
    return analyse_file(FileInfo(p, p.name, p.stat().st_size), settings(**limits))


def scan_bytes(data: bytes, name: str = "blob", **limits: int) -> Result:
    from gate.scanner.interface import bytes_target

    result = Result(path=name)
    ctx = Context(settings(**limits), result, dispatch)
    dispatch(bytes_target("", data, name), ctx)
    return result


def kinds(r: Result) -> set[str]:
    return {i.kind.value for i in r.issues}


def walk_bytes(data: bytes) -> tuple[list[Issue], object]:
    from gate.scanner.pickle_walker import walk_all

    result = Result(path="x")
    ctx = Context(settings(), result, dispatch)
    outs = walk_all(Stream(io.BytesIO(data)), ctx, "")
    return result.issues, outs
